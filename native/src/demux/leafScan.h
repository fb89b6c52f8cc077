// Leaf scans: find the best rule in a leaf that matches a packet. Three
// implementations of one function (portable, AVX2, AVX-512), chosen once at
// load from the CPU's features; tests can force each one.
#pragma once
#include <cstddef>
#include <cstdint>

#include "demux/ruleRecord.h"
#include "parse/packetKey.h"

namespace pcloud::demux {

inline constexpr uint32_t kNoMatch = 0xFFFFFFFFu;
inline constexpr size_t kLeafLanes = 16;  // entries are padded to a multiple of this

// A leaf in the index's arena: `count` entries padded to `stride`, stored as
// ten arrays of `stride` u32 (lo and hi of each of the five dims, in Dim
// order), then `stride` positions, ascending (the first match is the best).
// Padding has lo = 1 > hi = 0 and never matches.
struct LeafView {
  const uint32_t* ranges;     // ranges[(2 * dim + hi) * stride + i]
  const uint32_t* positions;
  uint32_t count;
  uint32_t stride;
};

struct ScanContext {
  const RuleRecord* records;   // by position
  const uint64_t* deleted;     // bit per position, may be null
};

// Returns the smallest position < `best` whose entry matches `key` and passes
// VerifyCandidate and the deleted bitmap; `best` when there is none.
using LeafScanFn = uint32_t (*)(const LeafView& leaf, const parse::PacketKey& key, uint32_t best,
                                const ScanContext& ctx);

enum class ScanPath : uint8_t { kPortable = 0, kAvx2 = 1, kAvx512 = 2 };

// The path chosen at load (the best the CPU supports, unless the environment
// variable PCLOUD_DEMUX_PATH names another), and a way for tests to force one.
ScanPath ActiveScanPath();
bool ScanPathSupported(ScanPath path);
bool SetScanPath(ScanPath path);  // false when the CPU lacks it
const char* ScanPathName(ScanPath path);
LeafScanFn ActiveLeafScan();

}  // namespace pcloud::demux
