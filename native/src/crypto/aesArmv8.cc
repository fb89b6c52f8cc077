// AES-CBC with the ARMv8 Cryptography Extensions (AESE/AESMC, AESD/AESIMC).
//
// Same structure as aesNi.cc: 8-lane multi-buffer encryption and 8 blocks in
// flight for decryption. AESE/AESMC pairs fuse on Apple and Neoverse cores,
// with 2-3 cycles latency, so 8 independent chains cover the pipeline.
// AESE adds the round key before SubBytes/ShiftRows (x86 adds it after), hence
// the shifted key indices. Chosen only when AT_HWCAP (Linux) or
// hw.optional.arm.FEAT_AES (macOS) reports the extension.
#if defined(__aarch64__)
#if defined(__clang__) && __clang_major__ < 16 && !defined(__ARM_FEATURE_AES)
// Before clang 16, arm_neon.h hides these intrinsics behind the feature macro
// instead of per-function targets; the functions below carry target("aes").
#define __ARM_FEATURE_AES 1
#endif
#include <arm_neon.h>

#include "crypto/aesPaths.h"
#include "crypto/cbcSchedule.h"

#if defined(__clang__)
#define PCLOUD_ARMV8_AES __attribute__((target("aes")))
#else
#define PCLOUD_ARMV8_AES __attribute__((target("+crypto")))
#endif

namespace pcloud::crypto {
namespace {

constexpr size_t kLanes = 8;

PCLOUD_ARMV8_AES void EncryptLanes(const AesKey& key, LaneSet<kLanes>& lanes, size_t steps) {
  const int rounds = key.rounds;
  uint8x16_t rk[kAesMaxRounds + 1];
  for (int r = 0; r <= rounds; ++r) rk[r] = vld1q_u8(key.enc[r]);
  uint8x16_t c[kLanes];
  for (size_t i = 0; i < kLanes; ++i) c[i] = vld1q_u8(lanes.chain[i]);
  for (size_t s = 0; s < steps; ++s) {
    for (size_t i = 0; i < kLanes; ++i) c[i] = veorq_u8(c[i], vld1q_u8(lanes.in[i]));
    for (int r = 0; r < rounds - 1; ++r) {
      for (size_t i = 0; i < kLanes; ++i) c[i] = vaesmcq_u8(vaeseq_u8(c[i], rk[r]));
    }
    for (size_t i = 0; i < kLanes; ++i) {
      c[i] = veorq_u8(vaeseq_u8(c[i], rk[rounds - 1]), rk[rounds]);
      vst1q_u8(lanes.out[i], c[i]);
      lanes.in[i] += lanes.step[i];
      lanes.out[i] += lanes.step[i];
    }
  }
  for (size_t i = 0; i < kLanes; ++i) vst1q_u8(lanes.chain[i], c[i]);
}

}  // namespace

PCLOUD_ARMV8_AES void CbcEncryptArmv8(const AesKey& key, const CbcJob* jobs, size_t count) {
  RunCbcEncryptLanes<kLanes>(key, jobs, count, EncryptLanes);
}

PCLOUD_ARMV8_AES void CbcDecryptArmv8(const AesKey& key, const CbcJob* jobs, size_t count) {
  constexpr size_t G = 8;
  const int rounds = key.rounds;
  uint8x16_t rk[kAesMaxRounds + 1];
  for (int r = 0; r <= rounds; ++r) rk[r] = vld1q_u8(key.dec[r]);
  ChunkStream<1> stream(jobs, count);
  IdleLaneBuffers idle;
  CbcChunk group[G];
  uint8x16_t carry = vdupq_n_u8(0);
  while (stream.Fill(group, idle) != 0) {
    uint8x16_t ct[G], x[G];
    for (size_t j = 0; j < G; ++j) x[j] = ct[j] = vld1q_u8(group[j].in);
    for (int r = 0; r < rounds - 1; ++r) {
      for (size_t j = 0; j < G; ++j) x[j] = vaesimcq_u8(vaesdq_u8(x[j], rk[r]));
    }
    for (size_t j = 0; j < G; ++j) {
      x[j] = veorq_u8(vaesdq_u8(x[j], rk[rounds - 1]), rk[rounds]);
      const uint8x16_t prev = group[j].iv ? vld1q_u8(group[j].iv) : (j == 0 ? carry : ct[j - 1]);
      x[j] = veorq_u8(x[j], prev);
    }
    for (size_t j = 0; j < G; ++j) vst1q_u8(group[j].out, x[j]);
    carry = ct[G - 1];
  }
}

}  // namespace pcloud::crypto
#endif  // __aarch64__
