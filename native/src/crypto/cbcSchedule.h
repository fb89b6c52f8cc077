// How a batch of independent CBC packets is fed to an AES engine.
//
// Encryption: CBC encryption of one packet is a serial chain (block i needs
// ciphertext i-1), so one packet leaves the AES unit idle for most of each
// instruction's latency (4-5 cycles latency, 1-2 issued per cycle). The
// multi-buffer technique (intel-ipsec-mb's "job manager") gives each of L lanes
// its own packet and advances all lanes one block per step; a lane that
// finishes is refilled from the batch. LaneScheduler holds that bookkeeping;
// each path supplies a kernel that runs `steps` blocks on all L lanes. Idle
// lanes read a zero block and write to a sink, so kernels never branch per lane.
//
// Decryption: every block is independent (P_i = D(C_i) ^ C_(i-1)), so the
// whole batch is one stream of blocks. ChunkStream cuts it into chunks of up
// to B consecutive blocks of one packet (B = blocks per vector register);
// kernels take G chunks at a time so G * B blocks are in flight, whatever the
// packet sizes. A chunk that continues a packet chains from the previous
// chunk's last ciphertext block, which the kernel keeps in a register: this is
// what makes in-place decryption safe across groups.
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "crypto/aes.h"

namespace pcloud::crypto {

// A zero block for idle lanes to read, and a sink for them to write.
struct IdleLaneBuffers {
  alignas(64) uint8_t zero[64] = {};
  alignas(64) uint8_t sink[64];
};

template <size_t L>
struct LaneSet {
  const uint8_t* in[L];
  uint8_t* out[L];
  size_t step[L];  // 16 for a working lane, 0 for an idle one
  alignas(64) uint8_t chain[L][16];
};

template <size_t L>
using LaneKernel = void (*)(const AesKey&, LaneSet<L>&, size_t steps);

template <size_t L>
void RunCbcEncryptLanes(const AesKey& key, const CbcJob* jobs, size_t count, LaneKernel<L> kernel) {
  LaneSet<L> lanes;
  IdleLaneBuffers idle;
  size_t left[L] = {};
  size_t next = 0;
  for (;;) {
    size_t active = 0;
    size_t steps = SIZE_MAX;
    for (size_t i = 0; i < L; ++i) {
      if (left[i] == 0) {
        while (next < count && jobs[next].blocks == 0) ++next;
        if (next < count) {
          const CbcJob& job = jobs[next++];
          lanes.in[i] = job.in;
          lanes.out[i] = job.out;
          lanes.step[i] = kAesBlockBytes;
          std::memcpy(lanes.chain[i], job.iv, 16);
          left[i] = job.blocks;
        } else {
          lanes.in[i] = idle.zero;
          lanes.out[i] = idle.sink;
          lanes.step[i] = 0;
        }
      }
      if (left[i] != 0) {
        ++active;
        steps = std::min(steps, left[i]);
      }
    }
    if (active == 0) return;
    kernel(key, lanes, steps);
    for (size_t i = 0; i < L; ++i) {
      if (left[i] != 0) left[i] -= steps;
    }
  }
}

struct CbcChunk {
  const uint8_t* in;
  uint8_t* out;
  const uint8_t* iv;  // the packet's IV for its first chunk; null when chained
  unsigned blocks;    // 1..B
};

template <unsigned B>
class ChunkStream {
 public:
  ChunkStream(const CbcJob* jobs, size_t count) : jobs_(jobs), count_(count) {}

  bool Next(CbcChunk* chunk) {
    while (job_ < count_ && pos_ >= jobs_[job_].blocks) {
      ++job_;
      pos_ = 0;
    }
    if (job_ >= count_) return false;
    const CbcJob& job = jobs_[job_];
    chunk->in = job.in + pos_ * kAesBlockBytes;
    chunk->out = job.out + pos_ * kAesBlockBytes;
    chunk->iv = pos_ == 0 ? job.iv : nullptr;
    chunk->blocks = static_cast<unsigned>(std::min<size_t>(B, job.blocks - pos_));
    pos_ += chunk->blocks;
    return true;
  }

  // Fills up to G chunks; pads the rest with idle chunks (read zeros, write to
  // the sink, chained from a zero IV). Returns how many were real.
  template <size_t G>
  size_t Fill(CbcChunk (&group)[G], IdleLaneBuffers& idle) {
    size_t got = 0;
    while (got < G && Next(&group[got])) ++got;
    for (size_t j = got; j < G; ++j) group[j] = CbcChunk{idle.zero, idle.sink, idle.zero, B};
    return got;
  }

 private:
  const CbcJob* jobs_;
  size_t count_;
  size_t job_ = 0;
  size_t pos_ = 0;
};

}  // namespace pcloud::crypto
