// Leaf scan implementations and the once-at-load CPU dispatch.
//
// A leaf holds up to a few dozen candidate rules sorted by priority order.
// The scan compares the packet's five projected dims against every entry's
// [lo, hi] at once, then walks the set bits in order and verifies the few
// candidates on the fields the dims do not cover. AVX-512 compares 16
// entries per step with unsigned compares into mask registers; AVX2 has no
// unsigned compare, so it tests v >= lo as max(v, lo) == v, 8 entries per
// step; the portable path is a plain loop that stops at the first match.
#include "demux/leafScan.h"

#include <immintrin.h>

#include <atomic>
#include <cstdlib>
#include <cstring>

namespace pcloud::demux {

namespace {

inline bool Accept(uint32_t position, const parse::PacketKey& key, const ScanContext& ctx) {
  if (ctx.deleted != nullptr && ((ctx.deleted[position >> 6] >> (position & 63)) & 1)) return false;
  return VerifyCandidate(ctx.records[position], key);
}

uint32_t ScanPortable(const LeafView& leaf, const parse::PacketKey& key, uint32_t best, const ScanContext& ctx) {
  const uint32_t stride = leaf.stride;
  for (uint32_t i = 0; i < leaf.count; ++i) {
    const uint32_t position = leaf.positions[i];
    if (position >= best) return best;
    bool inside = true;
    for (unsigned d = 0; d < parse::kDimCount && inside; ++d) {
      const uint32_t v = key.dims[d];
      inside = v >= leaf.ranges[(2 * d) * stride + i] && v <= leaf.ranges[(2 * d + 1) * stride + i];
    }
    if (inside && Accept(position, key, ctx)) return position;
  }
  return best;
}

__attribute__((target("avx2"))) uint32_t ScanAvx2(const LeafView& leaf, const parse::PacketKey& key, uint32_t best,
                                                  const ScanContext& ctx) {
  const uint32_t stride = leaf.stride;
  __m256i v[parse::kDimCount];
  for (unsigned d = 0; d < parse::kDimCount; ++d) v[d] = _mm256_set1_epi32(static_cast<int>(key.dims[d]));
  for (uint32_t base = 0; base < leaf.count; base += 8) {
    if (leaf.positions[base] >= best) return best;
    __m256i ok = _mm256_set1_epi32(-1);
    for (unsigned d = 0; d < parse::kDimCount; ++d) {
      const __m256i lo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(leaf.ranges + (2 * d) * stride + base));
      const __m256i hi = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(leaf.ranges + (2 * d + 1) * stride + base));
      const __m256i geLo = _mm256_cmpeq_epi32(_mm256_max_epu32(v[d], lo), v[d]);
      const __m256i leHi = _mm256_cmpeq_epi32(_mm256_min_epu32(v[d], hi), v[d]);
      ok = _mm256_and_si256(ok, _mm256_and_si256(geLo, leHi));
    }
    uint32_t mask = static_cast<uint32_t>(_mm256_movemask_ps(_mm256_castsi256_ps(ok)));
    while (mask != 0) {
      const uint32_t i = base + static_cast<uint32_t>(__builtin_ctz(mask));
      mask &= mask - 1;
      const uint32_t position = leaf.positions[i];
      if (position >= best) return best;
      if (Accept(position, key, ctx)) return position;
    }
  }
  return best;
}

__attribute__((target("avx512f"))) uint32_t ScanAvx512(const LeafView& leaf, const parse::PacketKey& key,
                                                       uint32_t best, const ScanContext& ctx) {
  const uint32_t stride = leaf.stride;
  __m512i v[parse::kDimCount];
  for (unsigned d = 0; d < parse::kDimCount; ++d) v[d] = _mm512_set1_epi32(static_cast<int>(key.dims[d]));
  for (uint32_t base = 0; base < leaf.count; base += 16) {
    if (leaf.positions[base] >= best) return best;
    __mmask16 ok = 0xFFFF;
    for (unsigned d = 0; d < parse::kDimCount; ++d) {
      const __m512i lo = _mm512_loadu_si512(leaf.ranges + (2 * d) * stride + base);
      const __m512i hi = _mm512_loadu_si512(leaf.ranges + (2 * d + 1) * stride + base);
      ok = _mm512_mask_cmp_epu32_mask(ok, lo, v[d], _MM_CMPINT_LE);
      ok = _mm512_mask_cmp_epu32_mask(ok, v[d], hi, _MM_CMPINT_LE);
    }
    uint32_t mask = ok;
    while (mask != 0) {
      const uint32_t i = base + static_cast<uint32_t>(__builtin_ctz(mask));
      mask &= mask - 1;
      const uint32_t position = leaf.positions[i];
      if (position >= best) return best;
      if (Accept(position, key, ctx)) return position;
    }
  }
  return best;
}

bool CpuHas(ScanPath path) {
  switch (path) {
    case ScanPath::kPortable: return true;
    case ScanPath::kAvx2: return __builtin_cpu_supports("avx2");
    case ScanPath::kAvx512: return __builtin_cpu_supports("avx512f");
  }
  return false;
}

ScanPath InitialPath() {
  __builtin_cpu_init();
  if (const char* forced = std::getenv("PCLOUD_DEMUX_PATH")) {
    for (ScanPath p : {ScanPath::kPortable, ScanPath::kAvx2, ScanPath::kAvx512}) {
      if (std::strcmp(forced, ScanPathName(p)) == 0 && CpuHas(p)) return p;
    }
  }
  if (CpuHas(ScanPath::kAvx512)) return ScanPath::kAvx512;
  if (CpuHas(ScanPath::kAvx2)) return ScanPath::kAvx2;
  return ScanPath::kPortable;
}

LeafScanFn FunctionFor(ScanPath path) {
  switch (path) {
    case ScanPath::kAvx512: return ScanAvx512;
    case ScanPath::kAvx2: return ScanAvx2;
    case ScanPath::kPortable: break;
  }
  return ScanPortable;
}

std::atomic<ScanPath>& Active() {
  static std::atomic<ScanPath> active{InitialPath()};
  return active;
}

}  // namespace

ScanPath ActiveScanPath() { return Active().load(std::memory_order_relaxed); }
bool ScanPathSupported(ScanPath path) { return CpuHas(path); }

bool SetScanPath(ScanPath path) {
  if (!CpuHas(path)) return false;
  Active().store(path, std::memory_order_relaxed);
  return true;
}

const char* ScanPathName(ScanPath path) {
  switch (path) {
    case ScanPath::kPortable: return "portable";
    case ScanPath::kAvx2: return "avx2";
    case ScanPath::kAvx512: return "avx512";
  }
  return "portable";
}

LeafScanFn ActiveLeafScan() { return FunctionFor(ActiveScanPath()); }

}  // namespace pcloud::demux
