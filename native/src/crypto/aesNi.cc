// AES-CBC with AES-NI (128-bit vectors, one block per register).
//
// Encryption is multi-buffer with 8 lanes: aesenc has a latency of 3-4 cycles
// and a throughput of 1-2 per cycle on the cores we target, so 8 independent
// chains keep the unit busy where one chain leaves it idle ~75% of the time.
// Measured on the build machine (Zen 4, AES-256, 64 x 1504 bytes, CPU time):
// 8 lanes 7.4 GB/s, 12 lanes 6.3-6.7 (16 xmm registers: 12 chains spill).
// Decryption takes 8 blocks at a time from the batch's block stream.
// Compiled per function for "aes,sse4.1"; chosen only when CPUID reports AES-NI.
#if defined(__x86_64__)
#include <immintrin.h>

#include "crypto/aesPaths.h"
#include "crypto/cbcSchedule.h"

#define PCLOUD_AESNI __attribute__((target("aes,sse4.1")))

namespace pcloud::crypto {
namespace {

constexpr size_t kLanes = 8;

PCLOUD_AESNI void EncryptLanes(const AesKey& key, LaneSet<kLanes>& lanes, size_t steps) {
  const int rounds = key.rounds;
  __m128i rk[kAesMaxRounds + 1];
  for (int r = 0; r <= rounds; ++r) rk[r] = _mm_load_si128(reinterpret_cast<const __m128i*>(key.enc[r]));
  __m128i c[kLanes];
  for (size_t i = 0; i < kLanes; ++i) c[i] = _mm_load_si128(reinterpret_cast<const __m128i*>(lanes.chain[i]));
  for (size_t s = 0; s < steps; ++s) {
    for (size_t i = 0; i < kLanes; ++i) {
      c[i] = _mm_xor_si128(c[i], _mm_xor_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(lanes.in[i])), rk[0]));
    }
    for (int r = 1; r < rounds; ++r) {
      for (size_t i = 0; i < kLanes; ++i) c[i] = _mm_aesenc_si128(c[i], rk[r]);
    }
    for (size_t i = 0; i < kLanes; ++i) {
      c[i] = _mm_aesenclast_si128(c[i], rk[rounds]);
      _mm_storeu_si128(reinterpret_cast<__m128i*>(lanes.out[i]), c[i]);
      lanes.in[i] += lanes.step[i];
      lanes.out[i] += lanes.step[i];
    }
  }
  for (size_t i = 0; i < kLanes; ++i) _mm_store_si128(reinterpret_cast<__m128i*>(lanes.chain[i]), c[i]);
}

}  // namespace

PCLOUD_AESNI void CbcEncryptAesNi(const AesKey& key, const CbcJob* jobs, size_t count) {
  RunCbcEncryptLanes<kLanes>(key, jobs, count, EncryptLanes);
}

PCLOUD_AESNI void CbcDecryptAesNi(const AesKey& key, const CbcJob* jobs, size_t count) {
  constexpr size_t G = 8;
  const int rounds = key.rounds;
  __m128i rk[kAesMaxRounds + 1];
  for (int r = 0; r <= rounds; ++r) rk[r] = _mm_load_si128(reinterpret_cast<const __m128i*>(key.dec[r]));
  ChunkStream<1> stream(jobs, count);
  IdleLaneBuffers idle;
  CbcChunk group[G];
  __m128i carry = _mm_setzero_si128();
  while (stream.Fill(group, idle) != 0) {
    __m128i ct[G], x[G];
    for (size_t j = 0; j < G; ++j) {
      ct[j] = _mm_loadu_si128(reinterpret_cast<const __m128i*>(group[j].in));
      x[j] = _mm_xor_si128(ct[j], rk[0]);
    }
    for (int r = 1; r < rounds; ++r) {
      for (size_t j = 0; j < G; ++j) x[j] = _mm_aesdec_si128(x[j], rk[r]);
    }
    for (size_t j = 0; j < G; ++j) {
      x[j] = _mm_aesdeclast_si128(x[j], rk[rounds]);
      const __m128i prev = group[j].iv ? _mm_loadu_si128(reinterpret_cast<const __m128i*>(group[j].iv))
                                       : (j == 0 ? carry : ct[j - 1]);
      x[j] = _mm_xor_si128(x[j], prev);
    }
    for (size_t j = 0; j < G; ++j) _mm_storeu_si128(reinterpret_cast<__m128i*>(group[j].out), x[j]);
    carry = ct[G - 1];
  }
}

}  // namespace pcloud::crypto
#endif  // __x86_64__
