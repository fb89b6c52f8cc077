// Leaf scan implementations and the once-at-load CPU dispatch.
//
// A leaf holds up to a few dozen candidate rules sorted by priority order, in
// 16-entry chunks (layout in leafScan.h). The scan compares the packet's five
// dims and eth_type against all 16 entries of a chunk at once, then takes the
// first set bit without a branch on its position, whose load resolves last
// (on AVX2 that made acl1 14% faster), walking the others in order only when
// the first needs its record; only entries flagged kVerifyFlag
// (or, for a packet without ports, kPortlessVerifyFlag) load their rule
// record to check the remaining fields.
// AVX-512 (F+BW+VL) tests the address prefixes with variable shifts, the
// rest with unsigned compares into mask registers, the two port
// fields of 16 entries in one 32-lane compare, and tests up to four chunks
// before its first branch on the data (a branch per chunk measured 5-15%
// slower with leaves of up to 64 rules), fetching the chunks' positions line
// while it compares (its load ended the scan's critical path: acl1 +6%);
// AVX2 has no unsigned compare, so it tests v >= lo as max(v, lo) == v; the
// portable path is a plain loop that stops at the first match.
// Each path scans a whole group of packets' leaves in one call (ScanGroup),
// compiled for its instruction set with the leaf scan inlined.
#include "demux/leafScan.h"

#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>

namespace pcloud::demux {

namespace {

// One leaf's chunks and their positions.
struct LeafView {
  const LeafChunk* chunks;
  const uint32_t* positions;  // kLeafLanes per chunk: position | the flags saying when the record must be checked
  uint32_t chunkCount;
};

// `entry` is a chunk position word: the position, maybe with verify flags.
inline bool Accept(uint32_t entry, const LaneKey& v, const parse::PacketKey& key, const ScanContext& ctx) {
  const uint32_t position = entry & kPositionMask;
  if (ctx.deleted != nullptr && ((ctx.deleted[position >> 6] >> (position & 63)) & 1)) return false;
  if ((entry & (kVerifyFlag | (v.portless ? kPortlessVerifyFlag : 0))) == 0) return true;
  // A lane's prefix covers an address range that is not one (never from
  // ruleCodec.cc, whose addresses are prefixes) from outside.
  const RuleSpec& spec = ctx.specs[position];
  return VerifyCandidate(ctx.records[position], key) && spec.dims[parse::kSrc].Contains(v.src) && spec.dims[parse::kDst].Contains(v.dst);
}

// Decides among the candidate lanes of one or more chunks (`mask`, bit i for
// positions[i], not 0): the first candidate usually decides, and is taken
// without a branch on its position, whose load resolves last; otherwise the
// set bits are walked in order. Returns true when the scan is over (a match,
// or positions no better than `best`), with `best` updated.
inline bool Resolve(const uint32_t* positions, uint64_t mask, uint32_t recordFlags, const LaneKey& v,
                    const parse::PacketKey& key, const ScanContext& ctx, uint32_t& best) {
  const uint32_t first = positions[__builtin_ctzll(mask)];
  if (__builtin_expect(ctx.deleted == nullptr && (first & recordFlags) == 0, 1)) {
    best = std::min(best, first & kPositionMask);
    return true;
  }
  while (mask != 0) {
    const uint32_t entry = positions[__builtin_ctzll(mask)];
    mask &= mask - 1;
    if ((entry & kPositionMask) >= best) return true;
    if (Accept(entry, v, key, ctx)) {
      best = entry & kPositionMask;
      return true;
    }
  }
  return false;
}

inline uint32_t ScanPortable(const LeafView& leaf, const LaneKey& v, const parse::PacketKey& key, uint32_t best,
                             const ScanContext& ctx) {
  for (uint32_t n = 0; n < leaf.chunkCount; ++n) {
    const LeafChunk& c = leaf.chunks[n];
    const uint32_t* positions = leaf.positions + n * kLeafLanes;
    for (size_t i = 0; i < kLeafLanes; ++i) {
      const uint32_t entry = positions[i];
      if ((entry & kPositionMask) >= best) return best;
      if (InPrefix(v.src, c.srcBase[i], c.srcShift[i]) && InPrefix(v.dst, c.dstBase[i], c.dstShift[i]) &&
          v.sport >= c.portLo[i] && v.sport <= c.portHi[i] && v.dport >= c.portLo[kLeafLanes + i] &&
          v.dport <= c.portHi[kLeafLanes + i] && v.classProto >= c.classProtoLo[i] && v.classProto <= c.classProtoHi[i] &&
          Accept(entry, v, key, ctx)) {
        return entry & kPositionMask;
      }
    }
  }
  return best;
}

// Eight lanes' InPrefix (variable shifts of 32 give 0).
__attribute__((target("avx2"))) inline uint32_t InPrefix32x8(__m256i v, const uint32_t* base, const uint8_t* shift) {
  const __m256i b = _mm256_load_si256(reinterpret_cast<const __m256i*>(base));
  const __m256i s = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(shift)));
  const __m256i ok = _mm256_cmpeq_epi32(_mm256_srlv_epi32(_mm256_xor_si256(v, b), s), _mm256_setzero_si256());
  return static_cast<uint32_t>(_mm256_movemask_ps(_mm256_castsi256_ps(ok)));
}

__attribute__((target("avx2"))) inline __m256i Within16x16(__m256i v, const uint16_t* lo, const uint16_t* hi) {
  const __m256i l = _mm256_load_si256(reinterpret_cast<const __m256i*>(lo));
  const __m256i h = _mm256_load_si256(reinterpret_cast<const __m256i*>(hi));
  return _mm256_and_si256(_mm256_cmpeq_epi16(_mm256_max_epu16(v, l), v), _mm256_cmpeq_epi16(_mm256_min_epu16(v, h), v));
}

__attribute__((target("avx2"))) inline uint32_t ScanAvx2(const LeafView& leaf, const LaneKey& v, const parse::PacketKey& key,
                                                         uint32_t best, const ScanContext& ctx) {
  const __m256i src = _mm256_set1_epi32(static_cast<int>(v.src));
  const __m256i dst = _mm256_set1_epi32(static_cast<int>(v.dst));
  const __m256i sport = _mm256_set1_epi16(static_cast<short>(v.sport));
  const __m256i dport = _mm256_set1_epi16(static_cast<short>(v.dport));
  const __m256i classProto = _mm256_set1_epi16(static_cast<short>(v.classProto));
  const uint32_t recordFlags = kVerifyFlag | (v.portless ? kPortlessVerifyFlag : 0);
  for (uint32_t n = 0; n < leaf.chunkCount; ++n) {
    const LeafChunk& c = leaf.chunks[n];
    const uint32_t* positions = leaf.positions + n * kLeafLanes;
    if ((positions[0] & kPositionMask) >= best) return best;
    const uint32_t addr = (InPrefix32x8(src, c.srcBase, c.srcShift) | (InPrefix32x8(src, c.srcBase + 8, c.srcShift + 8) << 8)) &
                          (InPrefix32x8(dst, c.dstBase, c.dstShift) | (InPrefix32x8(dst, c.dstBase + 8, c.dstShift + 8) << 8));
    if (addr == 0) continue;
    const __m256i small = _mm256_and_si256(
        _mm256_and_si256(Within16x16(sport, c.portLo, c.portHi), Within16x16(dport, c.portLo + kLeafLanes, c.portHi + kLeafLanes)),
        Within16x16(classProto, c.classProtoLo, c.classProtoHi));
    // 16 lanes of 16 bits -> one bit per lane: pack to bytes (per 128-bit half).
    const uint32_t bytes = static_cast<uint32_t>(_mm256_movemask_epi8(_mm256_packs_epi16(small, small)));
    const uint32_t lanes = addr & ((bytes & 0xFF) | ((bytes >> 8) & 0xFF00));
    if (lanes != 0 && Resolve(positions, lanes, recordFlags, v, key, ctx, best)) return best;
  }
  return best;
}

__attribute__((target("avx512f,avx512bw,avx512vl"))) inline uint32_t ScanAvx512(const LeafView& leaf, const LaneKey& v,
                                                                                  const parse::PacketKey& key, uint32_t best,
                                                                                  const ScanContext& ctx) {
  const __m512i src = _mm512_set1_epi32(static_cast<int>(v.src));
  const __m512i dst = _mm512_set1_epi32(static_cast<int>(v.dst));
  // Source port in lanes 0..15, destination port in lanes 16..31.
  const __m512i ports = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set1_epi16(static_cast<short>(v.sport))),
                                           _mm256_set1_epi16(static_cast<short>(v.dport)), 1);
  const __m256i classProto = _mm256_set1_epi16(static_cast<short>(v.classProto));
  const uint32_t recordFlags = kVerifyFlag | (v.portless ? kPortlessVerifyFlag : 0);
  // Up to four chunks at a time without a branch per chunk: their match
  // masks go into one 64-bit word whose set bits are walked in order.
  for (uint32_t n0 = 0; n0 < leaf.chunkCount; n0 += 4) {
    const uint32_t* positions = leaf.positions + n0 * kLeafLanes;
    __builtin_prefetch(positions);
    // (The caller skips a leaf whose first position cannot win.)
    if (n0 > 0 && (positions[0] & kPositionMask) >= best) return best;
    const uint32_t group = leaf.chunkCount - n0 < 4 ? leaf.chunkCount - n0 : 4;
    uint64_t all = 0;
    for (uint32_t g = 0; g < group; ++g) {
      const LeafChunk& c = leaf.chunks[n0 + g];
      const __m512i srcOff = _mm512_srlv_epi32(_mm512_xor_si512(_mm512_load_si512(c.srcBase), src),
                                               _mm512_cvtepu8_epi32(_mm_load_si128(reinterpret_cast<const __m128i*>(c.srcShift))));
      const __m512i dstOff = _mm512_srlv_epi32(_mm512_xor_si512(_mm512_load_si512(c.dstBase), dst),
                                               _mm512_cvtepu8_epi32(_mm_load_si128(reinterpret_cast<const __m128i*>(c.dstShift))));
      __mmask16 m = _mm512_testn_epi32_mask(srcOff, srcOff);
      m = _mm512_mask_testn_epi32_mask(m, dstOff, dstOff);
      m = _mm256_mask_cmp_epu16_mask(m, _mm256_load_si256(reinterpret_cast<const __m256i*>(c.classProtoLo)), classProto, _MM_CMPINT_LE);
      m = _mm256_mask_cmp_epu16_mask(m, classProto, _mm256_load_si256(reinterpret_cast<const __m256i*>(c.classProtoHi)), _MM_CMPINT_LE);
      __mmask32 p = _mm512_cmp_epu16_mask(_mm512_load_si512(c.portLo), ports, _MM_CMPINT_LE);
      p = _mm512_mask_cmp_epu16_mask(p, ports, _mm512_load_si512(c.portHi), _MM_CMPINT_LE);
      const uint64_t lanes = static_cast<uint32_t>(m) & (p & (p >> 16));
      all |= lanes << (16 * g);
    }
    if (all != 0 && Resolve(positions, all, recordFlags, v, key, ctx, best)) return best;
  }
  return best;
}

// A group's scans with one leaf scan. Each path's instance is compiled for
// its instruction set with everything inlined (flatten), one indirect call
// per group instead of one per leaf (with the other changes of the seventh
// pass, README.md: acl5 +4%, fw1 +12%, acl1 +1%).
using LeafScanFn = uint32_t (*)(const LeafView& leaf, const LaneKey& lanes, const parse::PacketKey& key, uint32_t best,
                                const ScanContext& ctx);
inline LeafView ViewOf(const GroupScan& s, const Leaf& leaf) {
  return LeafView{s.chunks + leaf.firstChunk, s.positions + size_t{leaf.firstChunk} * kLeafLanes, leaf.chunkCount};
}

// kOneTree: the group holds one tree's leaves (ScansTreeByTree); else every
// tree's, scanned packet by packet with the packet's lanes and match kept
// across its trees (tree by tree, that loop was the slower one: README.md,
// eighth pass).
template <LeafScanFn Scan, bool kOneTree>
inline void ScanGroup(const GroupScan& group) {
  const GroupScan s = group;  // a copy: the stores to best[] could alias its fields
  for (size_t i = 0; i < s.count; ++i) {
    const uint32_t j = s.packets[i];
    if constexpr (kOneTree) {
      const uint32_t leafIndex = s.leafOf[i];
      if (leafIndex >= s.leafCount) continue;  // the walk ended in no leaf
      const Leaf& leaf = s.leaves[leafIndex];
      if (leaf.firstPosition >= s.best[j]) continue;
      s.best[j] = Scan(ViewOf(s, leaf), MakeLaneKey(s.keys[j]), s.keys[j], s.best[j], s.ctx);
    } else {
      const LaneKey lanes = MakeLaneKey(s.keys[j]);
      uint32_t best = s.best[j];
      for (size_t t = 0; t < s.trees; ++t) {
        if (s.treeFirst[t] >= best) break;
        const uint32_t leafIndex = s.leafOf[t * s.stride + i];
        if (leafIndex >= s.leafCount) continue;
        const Leaf& leaf = s.leaves[leafIndex];
        if (leaf.firstPosition >= best) continue;
        best = Scan(ViewOf(s, leaf), lanes, s.keys[j], best, s.ctx);
      }
      s.best[j] = best;
    }
  }
}

__attribute__((flatten)) void ScanGroupPortable(const GroupScan& s) {
  ScanGroup<ScanPortable, ScansTreeByTree(ScanPath::kPortable)>(s);
}
__attribute__((target("avx2"), flatten)) void ScanGroupAvx2(const GroupScan& s) {
  ScanGroup<ScanAvx2, ScansTreeByTree(ScanPath::kAvx2)>(s);
}
__attribute__((target("avx512f,avx512bw,avx512vl"), flatten)) void ScanGroupAvx512(const GroupScan& s) {
  ScanGroup<ScanAvx512, ScansTreeByTree(ScanPath::kAvx512)>(s);
}

bool CpuHas(ScanPath path) {
  switch (path) {
    case ScanPath::kPortable: return true;
    case ScanPath::kAvx2: return __builtin_cpu_supports("avx2");
    case ScanPath::kAvx512:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
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

GroupScanFn GroupScanFor(ScanPath path) {
  switch (path) {
    case ScanPath::kAvx512: return ScanGroupAvx512;
    case ScanPath::kAvx2: return ScanGroupAvx2;
    case ScanPath::kPortable: break;
  }
  return ScanGroupPortable;
}

}  // namespace pcloud::demux
