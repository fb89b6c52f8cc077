// HMAC-SHA-256 over a batch, 16 messages at a time with AVX-512.
//
// Why: SHA-256 of one message is a serial chain of 64 rounds per block, and
// SHA-NI runs it at about 2 GB/s on the build machine; in a seal or open that
// is 85-90% of the time (perf: 54% SHA-NI vs 6% VAES for 1504-byte packets).
// Multi-buffer hashing puts 16 independent messages in the 16 dword lanes of
// a zmm register, so each round is ~16 vector instructions for 16 blocks
// (vprord for the rotations, vpternlogd for Ch, Maj and the three-way XORs).
// Messages are fed to the lanes by RunHmacLanes (hmacLanes.h). With few
// messages the idle lanes make this slower than one-at-a-time SHA-NI, so
// HmacSha256Avx512 falls back below kMinMessages (measured: see the constant).
// Measured for 64 x 1504-byte messages: about 3.9 GB/s, 2x SHA-NI.
//
// Compiled per function for "avx512f,avx512bw,avx512vl". The vaes512 path
// uses it, and the aesni path on AVX-512 CPUs without SHA-NI (Skylake-SP and
// Cascade Lake Xeons, common in PoP servers).
#if defined(__x86_64__)
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"  // GCC bug 105593, see aesVaes.cc
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
#include <immintrin.h>

#include "crypto/hmacLanes.h"
#include "crypto/sha256.h"

#define PCLOUD_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl")))

namespace pcloud::crypto {
namespace {

constexpr size_t kLanes = 16;
// Below this many messages in a batch, SHA-NI one message at a time wins:
// a step costs the same with 1 or 16 busy lanes. Measured on the build
// machine (AMD EPYC, Zen 4; CPU time, best of 5), microseconds per batch,
// SHA-NI / 16 lanes: 1504-byte messages, 6: 5.5/6.5, 8: 7.3/6.3, 16: 13.1/6.6,
// 64: 50.6/24.8; 576 bytes, 8: 3.3/3.1, 64: 23.1/12.2; 64 bytes, 8: 1.6/1.4,
// 64: 7.8/4.5. The crossover is 7-8 messages at every size.
constexpr size_t kMinMessages = 8;

PCLOUD_AVX512 inline __m512i Add(__m512i a, __m512i b) { return _mm512_add_epi32(a, b); }
PCLOUD_AVX512 inline __m512i Xor3(__m512i a, __m512i b, __m512i c) { return _mm512_ternarylogic_epi32(a, b, c, 0x96); }
PCLOUD_AVX512 inline __m512i BigSigma0(__m512i a) {
  return Xor3(_mm512_ror_epi32(a, 2), _mm512_ror_epi32(a, 13), _mm512_ror_epi32(a, 22));
}
PCLOUD_AVX512 inline __m512i BigSigma1(__m512i e) {
  return Xor3(_mm512_ror_epi32(e, 6), _mm512_ror_epi32(e, 11), _mm512_ror_epi32(e, 25));
}
PCLOUD_AVX512 inline __m512i SmallSigma0(__m512i w) {
  return Xor3(_mm512_ror_epi32(w, 7), _mm512_ror_epi32(w, 18), _mm512_srli_epi32(w, 3));
}
PCLOUD_AVX512 inline __m512i SmallSigma1(__m512i w) {
  return Xor3(_mm512_ror_epi32(w, 17), _mm512_ror_epi32(w, 19), _mm512_srli_epi32(w, 10));
}

// Loads one 64-byte block per lane and transposes them so w[t] holds word t
// of every lane: 32-bit and 64-bit unpacks, then two rounds of 128-bit
// shuffles (a 16x16 dword transpose in 64 shuffles).
PCLOUD_AVX512 inline void LoadTransposed(const uint8_t* const blocks[kLanes], __m512i w[16]) {
  const __m512i byteSwap = _mm512_set_epi32(0x0c0d0e0f, 0x08090a0b, 0x04050607, 0x00010203, 0x0c0d0e0f, 0x08090a0b,
                                            0x04050607, 0x00010203, 0x0c0d0e0f, 0x08090a0b, 0x04050607, 0x00010203,
                                            0x0c0d0e0f, 0x08090a0b, 0x04050607, 0x00010203);
  __m512i r[16], t[16], u[16];
  for (size_t i = 0; i < 16; ++i) r[i] = _mm512_shuffle_epi8(_mm512_loadu_si512(blocks[i]), byteSwap);
  for (size_t i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]);
  }
  // u[4g + c] holds, in 128-bit lane k, word 4k + c of rows 4g..4g+3.
  for (size_t g = 0; g < 4; ++g) {
    u[4 * g + 0] = _mm512_unpacklo_epi64(t[4 * g], t[4 * g + 2]);
    u[4 * g + 1] = _mm512_unpackhi_epi64(t[4 * g], t[4 * g + 2]);
    u[4 * g + 2] = _mm512_unpacklo_epi64(t[4 * g + 1], t[4 * g + 3]);
    u[4 * g + 3] = _mm512_unpackhi_epi64(t[4 * g + 1], t[4 * g + 3]);
  }
  for (size_t c = 0; c < 4; ++c) {
    const __m512i v0 = _mm512_shuffle_i32x4(u[c], u[4 + c], 0x88);
    const __m512i v1 = _mm512_shuffle_i32x4(u[c], u[4 + c], 0xDD);
    const __m512i v2 = _mm512_shuffle_i32x4(u[8 + c], u[12 + c], 0x88);
    const __m512i v3 = _mm512_shuffle_i32x4(u[8 + c], u[12 + c], 0xDD);
    w[c] = _mm512_shuffle_i32x4(v0, v2, 0x88);
    w[8 + c] = _mm512_shuffle_i32x4(v0, v2, 0xDD);
    w[4 + c] = _mm512_shuffle_i32x4(v1, v3, 0x88);
    w[12 + c] = _mm512_shuffle_i32x4(v1, v3, 0xDD);
  }
}

// One compression of one block in each of the 16 lanes; state[k][lane].
PCLOUD_AVX512 void Compress16(uint32_t state[8][kLanes], const uint8_t* const blocks[kLanes]) {
  __m512i w[16];
  LoadTransposed(blocks, w);
  __m512i s[8];
  for (size_t k = 0; k < 8; ++k) s[k] = _mm512_load_si512(state[k]);
  __m512i a = s[0], b = s[1], c = s[2], d = s[3], e = s[4], f = s[5], g = s[6], h = s[7];
  for (int t = 0; t < 64; ++t) {
    __m512i& wt = w[t & 15];
    if (t >= 16) {
      wt = Add(Add(SmallSigma1(w[(t - 2) & 15]), w[(t - 7) & 15]), Add(SmallSigma0(w[(t - 15) & 15]), wt));
    }
    const __m512i kw = Add(wt, _mm512_set1_epi32(static_cast<int>(kSha256RoundConstants[t])));
    const __m512i t1 = Add(Add(h, BigSigma1(e)), Add(_mm512_ternarylogic_epi32(e, f, g, 0xCA), kw));
    const __m512i t2 = Add(BigSigma0(a), _mm512_ternarylogic_epi32(a, b, c, 0xE8));
    h = g;
    g = f;
    f = e;
    e = Add(d, t1);
    d = c;
    c = b;
    b = a;
    a = Add(t1, t2);
  }
  const __m512i out[8] = {a, b, c, d, e, f, g, h};
  for (size_t k = 0; k < 8; ++k) _mm512_store_si512(state[k], Add(s[k], out[k]));
}

}  // namespace

PCLOUD_AVX512 void HmacSha256Avx512(Sha256BlocksFn fallback, const HmacKey& key, const HmacJob* jobs, size_t count) {
  // Against the portable engine even two busy lanes of sixteen win.
  if (count < (fallback == Sha256BlocksShaNi ? kMinMessages : 2)) {
    HmacSha256(fallback, key, jobs, count);
    return;
  }
  RunHmacLanes<kLanes>(key, jobs, count, Compress16);
}

}  // namespace pcloud::crypto
#endif  // __x86_64__
