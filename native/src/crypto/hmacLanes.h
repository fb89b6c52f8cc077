// Multi-buffer HMAC-SHA-256: how a batch of messages is fed to an L-lane
// SHA-256 compression kernel (16 lanes of AVX-512, 8 of AVX2).
//
// Like the CBC lanes in cbcSchedule.h: each lane walks one message's whole
// blocks, then its padded tail (1-2 blocks, copied to a per-lane buffer),
// then the outer hash's single block (the inner digest, padded), writes the
// tag and takes the next message. The kernel sees only "one block per lane";
// idle lanes hash a zero block into a state nobody reads. The state lives in
// memory transposed (state[word][lane]) so switching one lane between inner
// and outer hash is a few scalar stores, and the kernel loads it as 8 vectors.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "crypto/sha256.h"

namespace pcloud::crypto {

template <size_t L>
using LaneCompressFn = void (*)(uint32_t state[8][L], const uint8_t* const blocks[L]);

template <size_t L>
void RunHmacLanes(const HmacKey& key, const HmacJob* jobs, size_t count, LaneCompressFn<L> compress) {
  struct Lane {
    const HmacJob* job = nullptr;  // null when idle
    const uint8_t* next = nullptr;
    size_t left = 0;  // blocks left in the current segment
    int phase = 0;    // 0 message blocks, 1 padded tail, 2 outer block
    size_t tailBlocks = 0;
  };
  alignas(64) uint32_t state[8][L];
  alignas(64) uint8_t tails[L][128];
  alignas(64) uint8_t outers[L][64];
  alignas(64) static const uint8_t kZeroBlock[64] = {};
  auto setState = [&](size_t lane, const uint32_t value[8]) {
    for (size_t k = 0; k < 8; ++k) state[k][lane] = value[k];
  };
  auto storeDigest = [&](size_t lane, uint8_t* out) {
    for (size_t k = 0; k < 8; ++k) {
      const uint32_t v = state[k][lane];
      out[4 * k] = static_cast<uint8_t>(v >> 24);
      out[4 * k + 1] = static_cast<uint8_t>(v >> 16);
      out[4 * k + 2] = static_cast<uint8_t>(v >> 8);
      out[4 * k + 3] = static_cast<uint8_t>(v);
    }
  };
  // The outer block's padding never changes (digest, 0x80, zeros, length
  // 768 bits); lay it out once, and per message write only the digest.
  std::memset(outers, 0, sizeof(outers));
  for (size_t i = 0; i < L; ++i) {
    outers[i][32] = 0x80;
    outers[i][62] = 0x03;
  }
  Lane lanes[L];
  size_t next = 0;
  for (;;) {
    size_t active = 0;
    const uint8_t* blocks[L];
    for (size_t i = 0; i < L; ++i) {
      Lane& lane = lanes[i];
      if (lane.job == nullptr && next < count) {
        const HmacJob& job = jobs[next++];
        lane.job = &job;
        setState(i, key.inner);
        const size_t full = job.length / 64;
        const size_t rest = job.length - full * 64;
        lane.tailBlocks = rest < 56 ? 1 : 2;
        if (rest != 0) std::memcpy(tails[i], job.data + full * 64, rest);
        tails[i][rest] = 0x80;
        std::memset(tails[i] + rest + 1, 0, lane.tailBlocks * 64 - rest - 1 - 8);
        const uint64_t bits = (static_cast<uint64_t>(job.length) + 64) * 8;
        for (int b = 0; b < 8; ++b) tails[i][lane.tailBlocks * 64 - 1 - b] = static_cast<uint8_t>(bits >> (8 * b));
        lane.phase = full != 0 ? 0 : 1;
        lane.next = full != 0 ? job.data : tails[i];
        lane.left = full != 0 ? full : lane.tailBlocks;
      }
      if (lane.job != nullptr) ++active;
      blocks[i] = lane.job != nullptr ? lane.next : kZeroBlock;
    }
    if (active == 0) return;
    compress(state, blocks);
    for (size_t i = 0; i < L; ++i) {
      Lane& lane = lanes[i];
      if (lane.job == nullptr) continue;
      lane.next += 64;
      if (--lane.left != 0) continue;
      if (lane.phase == 0) {
        lane.phase = 1;
        lane.next = tails[i];
        lane.left = lane.tailBlocks;
      } else if (lane.phase == 1) {
        // Inner hash done: the outer block is its digest, padded for 96 bytes.
        storeDigest(i, outers[i]);
        setState(i, key.outer);
        lane.phase = 2;
        lane.next = outers[i];
        lane.left = 1;
      } else {
        storeDigest(i, lane.job->tag);
        lane.job = nullptr;
      }
    }
  }
}

}  // namespace pcloud::crypto
