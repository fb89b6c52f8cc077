// CBC over the bitsliced AES core: the portable, constant-time path.
//
// The bitsliced core works on four blocks at once, so encryption runs four
// packets as lanes (one block of each per step) and decryption takes four
// blocks at a time from the batch's block stream. See cbcSchedule.h.
#include <cstring>

#include "crypto/aesBitsliced.h"
#include "crypto/aesPaths.h"
#include "crypto/cbcSchedule.h"

namespace pcloud::crypto {
namespace {

void EncryptLanes(const AesKey& key, LaneSet<4>& lanes, size_t steps) {
  for (size_t s = 0; s < steps; ++s) {
    alignas(16) uint8_t x[4][16];
    for (int i = 0; i < 4; ++i) {
      for (int k = 0; k < 16; ++k) x[i][k] = lanes.in[i][k] ^ lanes.chain[i][k];
    }
    const uint8_t* src[4] = {x[0], x[1], x[2], x[3]};
    uint8_t* dst[4] = {lanes.chain[0], lanes.chain[1], lanes.chain[2], lanes.chain[3]};
    uint64_t q[8];
    bitsliced::Pack(src, q);
    bitsliced::EncryptPlanes(key, q);
    bitsliced::Unpack(q, dst);
    for (int i = 0; i < 4; ++i) {
      std::memcpy(lanes.out[i], lanes.chain[i], 16);
      lanes.in[i] += lanes.step[i];
      lanes.out[i] += lanes.step[i];
    }
  }
}

}  // namespace

void CbcEncryptPortable(const AesKey& key, const CbcJob* jobs, size_t count) {
  RunCbcEncryptLanes<4>(key, jobs, count, EncryptLanes);
}

void CbcDecryptPortable(const AesKey& key, const CbcJob* jobs, size_t count) {
  ChunkStream<1> stream(jobs, count);
  IdleLaneBuffers idle;
  CbcChunk group[4];
  alignas(16) uint8_t carry[16] = {};
  while (stream.Fill(group, idle) != 0) {
    alignas(16) uint8_t ct[4][16], pt[4][16];
    for (int j = 0; j < 4; ++j) std::memcpy(ct[j], group[j].in, 16);
    const uint8_t* src[4] = {ct[0], ct[1], ct[2], ct[3]};
    uint8_t* dst[4] = {pt[0], pt[1], pt[2], pt[3]};
    uint64_t q[8];
    bitsliced::Pack(src, q);
    bitsliced::DecryptPlanes(key, q);
    bitsliced::Unpack(q, dst);
    for (int j = 0; j < 4; ++j) {
      const uint8_t* prev = group[j].iv ? group[j].iv : (j == 0 ? carry : ct[j - 1]);
      for (int k = 0; k < 16; ++k) pt[j][k] ^= prev[k];
    }
    for (int j = 0; j < 4; ++j) std::memcpy(group[j].out, pt[j], 16);
    std::memcpy(carry, ct[3], 16);
  }
}

}  // namespace pcloud::crypto
