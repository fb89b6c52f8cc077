// AES-CBC with VAES: the same multi-buffer scheme as aesNi.cc, but each
// aesenc instruction works on 2 (ymm) or 4 (zmm) blocks of different lanes.
//
// Encryption: lane i of the batch lives in block (i % W) of register i / W
// (W = 2 or 4 blocks per register). Each step gathers one plaintext block per
// lane with 128-bit inserts, XORs the chain, runs the rounds and scatters the
// blocks back with 128-bit extracts. The lane count (kLanes512, kLanes256) was
// chosen by measurement on the build machine (Xeon with VAES and AVX-512):
// see the comment at each constant.
// Decryption: chunks of up to W consecutive blocks of one packet per register;
// the previous ciphertext block for each block is formed with one valignq
// (512) or vperm2i128 (256) from this register and the previous one. Partial
// chunks use masked loads and stores, so nothing outside a packet is touched.
//
// Compiled per function: "vaes,avx512f,avx512bw,avx512vl" for the 512-bit
// path and "vaes,avx2" for the 256-bit one (CPUs with VAES but no AVX-512,
// such as Alder Lake and Zen 3). Chosen only when CPUID and XCR0 allow.
#if defined(__x86_64__)
#if defined(__GNUC__) && !defined(__clang__)
// GCC 12's own avx512fintrin.h builds some intrinsics from _mm512_undefined_*
// and then warns about it (GCC bug 105593); the values are fully defined.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
#include <immintrin.h>

#include "crypto/aesPaths.h"
#include "crypto/cbcSchedule.h"

#define PCLOUD_VAES512 __attribute__((target("aes,vaes,avx2,avx512f,avx512bw,avx512vl")))
#define PCLOUD_VAES256 __attribute__((target("aes,vaes,avx2")))

namespace pcloud::crypto {
namespace {

// 32 lanes = 8 zmm registers of 4 blocks. Measured on the build machine (AMD
// EPYC, Zen 4; AES-256, batches of 64, best of 7, alternating builds):
// 16 lanes 13.8-14.0 GB/s at 1504 bytes and 11.6 at 576; 32 lanes 18.2-18.7
// and 14.6-15.1. With 16 lanes each aesenc waits on the previous round of the
// same register; 32 lanes cover that latency, and 64 divides evenly.
constexpr size_t kRegs512 = 8;
constexpr size_t kLanes512 = 4 * kRegs512;
// 16 lanes = 8 ymm registers of 2 blocks. Measured as above: 9.5 GB/s at
// 1504 bytes; 24 lanes 9.7 (within noise, and 64 packets leave lanes idle);
// a round count fixed at compile time gained nothing.
constexpr size_t kRegs256 = 8;
constexpr size_t kLanes256 = 2 * kRegs256;
// Decryption: 8 zmm registers (32 blocks) in flight. Measured as above: 16
// registers gave no gain (1504 bytes: 16.3-17.5 GB/s against 18.4-18.8).
constexpr size_t kGroup512 = 8;
constexpr size_t kGroup256 = 8;

// ---- 512-bit ----

PCLOUD_VAES512 inline __m512i Gather4(const uint8_t* const* p) {
  __m512i v = _mm512_castsi128_si512(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p[0])));
  v = _mm512_inserti32x4(v, _mm_loadu_si128(reinterpret_cast<const __m128i*>(p[1])), 1);
  v = _mm512_inserti32x4(v, _mm_loadu_si128(reinterpret_cast<const __m128i*>(p[2])), 2);
  return _mm512_inserti32x4(v, _mm_loadu_si128(reinterpret_cast<const __m128i*>(p[3])), 3);
}

PCLOUD_VAES512 inline void Scatter4(__m512i v, uint8_t* const* p) {
  _mm_storeu_si128(reinterpret_cast<__m128i*>(p[0]), _mm512_castsi512_si128(v));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(p[1]), _mm512_extracti32x4_epi32(v, 1));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(p[2]), _mm512_extracti32x4_epi32(v, 2));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(p[3]), _mm512_extracti32x4_epi32(v, 3));
}

PCLOUD_VAES512 void EncryptLanes512(const AesKey& key, LaneSet<kLanes512>& lanes, size_t steps) {
  const int rounds = key.rounds;
  __m512i rk[kAesMaxRounds + 1];
  for (int r = 0; r <= rounds; ++r) {
    rk[r] = _mm512_broadcast_i32x4(_mm_load_si128(reinterpret_cast<const __m128i*>(key.enc[r])));
  }
  __m512i c[kRegs512];
  for (size_t i = 0; i < kRegs512; ++i) c[i] = _mm512_load_si512(lanes.chain[4 * i]);
  for (size_t s = 0; s < steps; ++s) {
    for (size_t i = 0; i < kRegs512; ++i) {
      // c ^ plaintext ^ round key 0 in one vpternlogd (0x96 = three-way XOR).
      c[i] = _mm512_ternarylogic_epi32(c[i], Gather4(&lanes.in[4 * i]), rk[0], 0x96);
    }
    for (int r = 1; r < rounds; ++r) {
      for (size_t i = 0; i < kRegs512; ++i) c[i] = _mm512_aesenc_epi128(c[i], rk[r]);
    }
    for (size_t i = 0; i < kRegs512; ++i) {
      c[i] = _mm512_aesenclast_epi128(c[i], rk[rounds]);
      Scatter4(c[i], &lanes.out[4 * i]);
    }
    for (size_t i = 0; i < kLanes512; ++i) {
      lanes.in[i] += lanes.step[i];
      lanes.out[i] += lanes.step[i];
    }
  }
  for (size_t i = 0; i < kRegs512; ++i) _mm512_store_si512(lanes.chain[4 * i], c[i]);
}

// ---- 256-bit ----

PCLOUD_VAES256 inline __m256i Gather2(const uint8_t* const* p) {
  return _mm256_inserti128_si256(
      _mm256_castsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p[0]))),
      _mm_loadu_si128(reinterpret_cast<const __m128i*>(p[1])), 1);
}

PCLOUD_VAES256 inline void Scatter2(__m256i v, uint8_t* const* p) {
  _mm_storeu_si128(reinterpret_cast<__m128i*>(p[0]), _mm256_castsi256_si128(v));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(p[1]), _mm256_extracti128_si256(v, 1));
}

PCLOUD_VAES256 void EncryptLanes256(const AesKey& key, LaneSet<kLanes256>& lanes, size_t steps) {
  const int rounds = key.rounds;
  __m256i rk[kAesMaxRounds + 1];
  for (int r = 0; r <= rounds; ++r) {
    rk[r] = _mm256_broadcastsi128_si256(_mm_load_si128(reinterpret_cast<const __m128i*>(key.enc[r])));
  }
  __m256i c[kRegs256];
  for (size_t i = 0; i < kRegs256; ++i) c[i] = _mm256_load_si256(reinterpret_cast<const __m256i*>(lanes.chain[2 * i]));
  for (size_t s = 0; s < steps; ++s) {
    for (size_t i = 0; i < kRegs256; ++i) {
      c[i] = _mm256_xor_si256(c[i], _mm256_xor_si256(Gather2(&lanes.in[2 * i]), rk[0]));
    }
    for (int r = 1; r < rounds; ++r) {
      for (size_t i = 0; i < kRegs256; ++i) c[i] = _mm256_aesenc_epi128(c[i], rk[r]);
    }
    for (size_t i = 0; i < kRegs256; ++i) {
      c[i] = _mm256_aesenclast_epi128(c[i], rk[rounds]);
      Scatter2(c[i], &lanes.out[2 * i]);
    }
    for (size_t i = 0; i < kLanes256; ++i) {
      lanes.in[i] += lanes.step[i];
      lanes.out[i] += lanes.step[i];
    }
  }
  for (size_t i = 0; i < kRegs256; ++i) _mm256_store_si256(reinterpret_cast<__m256i*>(lanes.chain[2 * i]), c[i]);
}

}  // namespace

PCLOUD_VAES512 void CbcEncryptVaes512(const AesKey& key, const CbcJob* jobs, size_t count) {
  RunCbcEncryptLanes<kLanes512>(key, jobs, count, EncryptLanes512);
}

PCLOUD_VAES512 void CbcDecryptVaes512(const AesKey& key, const CbcJob* jobs, size_t count) {
  constexpr size_t G = kGroup512;
  const int rounds = key.rounds;
  __m512i rk[kAesMaxRounds + 1];
  for (int r = 0; r <= rounds; ++r) {
    rk[r] = _mm512_broadcast_i32x4(_mm_load_si128(reinterpret_cast<const __m128i*>(key.dec[r])));
  }
  ChunkStream<4> stream(jobs, count);
  IdleLaneBuffers idle;
  CbcChunk group[G];
  __m512i carry = _mm512_setzero_si512();
  while (stream.Fill(group, idle) != 0) {
    __m512i ct[G], x[G];
    __mmask8 mask[G];
    for (size_t j = 0; j < G; ++j) {
      mask[j] = static_cast<__mmask8>((1u << (2 * group[j].blocks)) - 1);
      ct[j] = _mm512_maskz_loadu_epi64(mask[j], group[j].in);
      x[j] = _mm512_xor_si512(ct[j], rk[0]);
    }
    for (int r = 1; r < rounds; ++r) {
      for (size_t j = 0; j < G; ++j) x[j] = _mm512_aesdec_epi128(x[j], rk[r]);
    }
    for (size_t j = 0; j < G; ++j) {
      x[j] = _mm512_aesdeclast_epi128(x[j], rk[rounds]);
      // The block before block k of this chunk: top block of `before` for k = 0.
      const __m512i before =
          group[j].iv ? _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(group[j].iv)))
                      : (j == 0 ? carry : ct[j - 1]);
      x[j] = _mm512_xor_si512(x[j], _mm512_alignr_epi64(ct[j], before, 6));
    }
    for (size_t j = 0; j < G; ++j) _mm512_mask_storeu_epi64(group[j].out, mask[j], x[j]);
    carry = ct[G - 1];
  }
}

PCLOUD_VAES256 void CbcEncryptVaes256(const AesKey& key, const CbcJob* jobs, size_t count) {
  RunCbcEncryptLanes<kLanes256>(key, jobs, count, EncryptLanes256);
}

PCLOUD_VAES256 void CbcDecryptVaes256(const AesKey& key, const CbcJob* jobs, size_t count) {
  constexpr size_t G = kGroup256;
  const int rounds = key.rounds;
  __m256i rk[kAesMaxRounds + 1];
  for (int r = 0; r <= rounds; ++r) {
    rk[r] = _mm256_broadcastsi128_si256(_mm_load_si128(reinterpret_cast<const __m128i*>(key.dec[r])));
  }
  const __m256i full = _mm256_set1_epi64x(-1);
  const __m256i half = _mm256_set_epi64x(0, 0, -1, -1);
  ChunkStream<2> stream(jobs, count);
  IdleLaneBuffers idle;
  CbcChunk group[G];
  __m256i carry = _mm256_setzero_si256();
  while (stream.Fill(group, idle) != 0) {
    __m256i ct[G], x[G], mask[G];
    for (size_t j = 0; j < G; ++j) {
      mask[j] = group[j].blocks == 2 ? full : half;
      ct[j] = _mm256_maskload_epi64(reinterpret_cast<const long long*>(group[j].in), mask[j]);
      x[j] = _mm256_xor_si256(ct[j], rk[0]);
    }
    for (int r = 1; r < rounds; ++r) {
      for (size_t j = 0; j < G; ++j) x[j] = _mm256_aesdec_epi128(x[j], rk[r]);
    }
    for (size_t j = 0; j < G; ++j) {
      x[j] = _mm256_aesdeclast_epi128(x[j], rk[rounds]);
      const __m256i before =
          group[j].iv ? _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(group[j].iv)))
                      : (j == 0 ? carry : ct[j - 1]);
      x[j] = _mm256_xor_si256(x[j], _mm256_permute2x128_si256(ct[j], before, 0x03));
    }
    for (size_t j = 0; j < G; ++j) {
      _mm256_maskstore_epi64(reinterpret_cast<long long*>(group[j].out), mask[j], x[j]);
    }
    carry = ct[G - 1];
  }
}

}  // namespace pcloud::crypto
#endif  // __x86_64__
