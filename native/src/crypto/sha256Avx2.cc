// HMAC-SHA-256 over a batch, 8 messages at a time with AVX2.
//
// The same multi-buffer scheme as sha256Avx512.cc (lanes fed by
// RunHmacLanes in hmacLanes.h) for CPUs with AVX2 but neither AVX-512 nor
// SHA-NI (Haswell to Comet Lake): AVX2 has no rotate and no three-input
// logic, so a round costs ~26 instructions instead of ~17, for 8 blocks
// instead of 16. That is several times the portable engine, but slower than
// SHA-NI: measured on the build machine (Zen 4), 64 messages of 576 bytes
// took 50 us here against 28 us with SHA-NI (1504 bytes: 78 against 50), so
// cryptoPath.cc picks this engine only where SHA-NI is missing.
// Compiled per function for "avx2".
#if defined(__x86_64__)
#include <immintrin.h>

#include "crypto/hmacLanes.h"
#include "crypto/sha256.h"

#define PCLOUD_AVX2 __attribute__((target("avx2")))

namespace pcloud::crypto {
namespace {

constexpr size_t kLanes = 8;
// With SHA-NI as the fallback, one message at a time wins below this many
// (and, measured, above it too, which is why SHA-NI CPUs do not use this).
constexpr size_t kMinMessages = 8;

PCLOUD_AVX2 inline __m256i Add(__m256i a, __m256i b) { return _mm256_add_epi32(a, b); }
PCLOUD_AVX2 inline __m256i Xor3(__m256i a, __m256i b, __m256i c) {
  return _mm256_xor_si256(_mm256_xor_si256(a, b), c);
}
template <int N>
PCLOUD_AVX2 inline __m256i Ror(__m256i x) {
  return _mm256_or_si256(_mm256_srli_epi32(x, N), _mm256_slli_epi32(x, 32 - N));
}
PCLOUD_AVX2 inline __m256i BigSigma0(__m256i a) { return Xor3(Ror<2>(a), Ror<13>(a), Ror<22>(a)); }
PCLOUD_AVX2 inline __m256i BigSigma1(__m256i e) { return Xor3(Ror<6>(e), Ror<11>(e), Ror<25>(e)); }
PCLOUD_AVX2 inline __m256i SmallSigma0(__m256i w) { return Xor3(Ror<7>(w), Ror<18>(w), _mm256_srli_epi32(w, 3)); }
PCLOUD_AVX2 inline __m256i SmallSigma1(__m256i w) { return Xor3(Ror<17>(w), Ror<19>(w), _mm256_srli_epi32(w, 10)); }
PCLOUD_AVX2 inline __m256i Ch(__m256i e, __m256i f, __m256i g) {
  return _mm256_xor_si256(_mm256_and_si256(e, f), _mm256_andnot_si256(e, g));
}
PCLOUD_AVX2 inline __m256i Maj(__m256i a, __m256i b, __m256i c) {
  return _mm256_or_si256(_mm256_and_si256(a, b), _mm256_and_si256(c, _mm256_or_si256(a, b)));
}

// Transposes rows r[0..7] (8 words of each lane) so w[c] holds word c of
// every lane: 32- and 64-bit unpacks, then 128-bit lane swaps.
PCLOUD_AVX2 inline void Transpose8(const __m256i r[8], __m256i* w) {
  __m256i t[8], u[8];
  for (size_t i = 0; i < 8; i += 2) {
    t[i] = _mm256_unpacklo_epi32(r[i], r[i + 1]);
    t[i + 1] = _mm256_unpackhi_epi32(r[i], r[i + 1]);
  }
  for (size_t g = 0; g < 2; ++g) {
    u[4 * g + 0] = _mm256_unpacklo_epi64(t[4 * g], t[4 * g + 2]);
    u[4 * g + 1] = _mm256_unpackhi_epi64(t[4 * g], t[4 * g + 2]);
    u[4 * g + 2] = _mm256_unpacklo_epi64(t[4 * g + 1], t[4 * g + 3]);
    u[4 * g + 3] = _mm256_unpackhi_epi64(t[4 * g + 1], t[4 * g + 3]);
  }
  for (size_t c = 0; c < 4; ++c) {
    w[c] = _mm256_permute2x128_si256(u[c], u[4 + c], 0x20);
    w[4 + c] = _mm256_permute2x128_si256(u[c], u[4 + c], 0x31);
  }
}

PCLOUD_AVX2 void Compress8(uint32_t state[8][kLanes], const uint8_t* const blocks[kLanes]) {
  const __m256i byteSwap = _mm256_set_epi32(0x0c0d0e0f, 0x08090a0b, 0x04050607, 0x00010203, 0x0c0d0e0f,
                                            0x08090a0b, 0x04050607, 0x00010203);
  __m256i w[16], lo[8], hi[8];
  for (size_t i = 0; i < 8; ++i) {
    lo[i] = _mm256_shuffle_epi8(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blocks[i])), byteSwap);
    hi[i] = _mm256_shuffle_epi8(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blocks[i] + 32)), byteSwap);
  }
  Transpose8(lo, w);
  Transpose8(hi, w + 8);
  __m256i s[8];
  for (size_t k = 0; k < 8; ++k) s[k] = _mm256_load_si256(reinterpret_cast<const __m256i*>(state[k]));
  __m256i a = s[0], b = s[1], c = s[2], d = s[3], e = s[4], f = s[5], g = s[6], h = s[7];
  for (int t = 0; t < 64; ++t) {
    __m256i& wt = w[t & 15];
    if (t >= 16) {
      wt = Add(Add(SmallSigma1(w[(t - 2) & 15]), w[(t - 7) & 15]), Add(SmallSigma0(w[(t - 15) & 15]), wt));
    }
    const __m256i kw = Add(wt, _mm256_set1_epi32(static_cast<int>(kSha256RoundConstants[t])));
    const __m256i t1 = Add(Add(h, BigSigma1(e)), Add(Ch(e, f, g), kw));
    const __m256i t2 = Add(BigSigma0(a), Maj(a, b, c));
    h = g;
    g = f;
    f = e;
    e = Add(d, t1);
    d = c;
    c = b;
    b = a;
    a = Add(t1, t2);
  }
  const __m256i out[8] = {a, b, c, d, e, f, g, h};
  for (size_t k = 0; k < 8; ++k) {
    _mm256_store_si256(reinterpret_cast<__m256i*>(state[k]), Add(s[k], out[k]));
  }
}

}  // namespace

PCLOUD_AVX2 void HmacSha256Avx2(Sha256BlocksFn fallback, const HmacKey& key, const HmacJob* jobs, size_t count) {
  if (count < (fallback == Sha256BlocksShaNi ? kMinMessages : 2)) {
    HmacSha256(fallback, key, jobs, count);
    return;
  }
  RunHmacLanes<kLanes>(key, jobs, count, Compress8);
}

}  // namespace pcloud::crypto
#endif  // __x86_64__
