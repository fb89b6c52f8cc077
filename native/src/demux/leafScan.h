// Leaf scans: find the best rule in a leaf that matches a packet. Three
// implementations of one function (portable, AVX2, AVX-512), chosen once at
// load from the CPU's features; tests can force each one.
#pragma once
#include <cstddef>
#include <cstdint>

#include "demux/ruleRecord.h"
#include "demux/ruleSpec.h"
#include "parse/packetKey.h"

namespace pcloud::demux {

inline constexpr uint32_t kNoMatch = 0xFFFFFFFFu;
inline constexpr size_t kLeafLanes = 16;  // entries are padded to a multiple of this

// Leaves are runs of 384-byte chunks of 16 entries (six cache lines),
// contiguous so the hardware prefetcher follows them. The scan is bound by
// the lines it loads (README.md), so a chunk holds only what the compares
// read, as small as it goes: an address is a prefix (its base and a shift,
// 32 minus its length: the lane matches when (address ^ base) >> shift is
// 0), ports are 16-bit ranges (a packet without ports is compared as port
// 0xFFFF), and eth_type and protocol share one 16-bit range (ClassProto).
// Each entry's position (with its flags) sits in a parallel array, read for
// the winning lane alone.
// Entries are in ascending position (best first); a position carries
// kVerifyFlag when its rule has constraints the lanes do not cover (ingress
// port, VNI, an eth_type other than IPv4, IPv6 or any, IPv6 prefix beyond 32
// bits, an address range that is not a prefix), so most matches never touch
// the rule record during the scan. A packet without ports passes the port
// lanes of every rule whose ranges both reach 65535, but matches only rules
// that wildcard both ports: kPortlessVerifyFlag marks the entries that pass
// those lanes without wildcarding, the only ones such a packet must verify
// (verifying every candidate cost fw2, whose protocols carry no ports, 40%).
// Padding has lo > hi in its port and ClassProto lanes and position kNoMatch.
inline constexpr uint32_t kVerifyFlag = 0x80000000u;
inline constexpr uint32_t kPortlessVerifyFlag = 0x40000000u;
inline constexpr uint32_t kPositionMask = 0x3FFFFFFFu;
struct alignas(64) LeafChunk {
  uint32_t srcBase[kLeafLanes];
  uint32_t dstBase[kLeafLanes];
  uint16_t portLo[2 * kLeafLanes];  // source ports in lanes 0..15, destination ports in 16..31
  uint16_t portHi[2 * kLeafLanes];
  uint16_t classProtoLo[kLeafLanes];  // see ClassProto
  uint16_t classProtoHi[kLeafLanes];
  uint8_t srcShift[kLeafLanes];  // 32 - prefix length, 0..32
  uint8_t dstShift[kLeafLanes];
};
static_assert(sizeof(LeafChunk) == 384);

// Whether `address` lies in the prefix of a lane.
inline bool InPrefix(uint32_t address, uint32_t base, uint8_t shift) { return (uint64_t{address ^ base} >> shift) == 0; }

// eth_type and protocol in one lane: the eth_type's class (IPv4, IPv6, any
// other) above the 9-bit protocol dim (0..255, or kNoProto on non-IP
// frames). Rules give eth_type as IPv4, IPv6, another exact value or any
// (ruleCodec.cc): an exact IP eth_type is one class, any eth_type with any
// protocol is one range over all classes, and any eth_type with a protocol
// is one entry per class; only other eth_types leave the record to decide.
inline constexpr unsigned kProtoBits = 9;
inline constexpr uint16_t kClassIpv4 = 0, kClassIpv6 = 1, kClassOther = 2;
inline uint16_t EthClass(uint32_t ethType) {
  return ethType == 0x0800 ? kClassIpv4 : ethType == 0x86DD ? kClassIpv6 : kClassOther;
}
inline uint16_t ClassProto(uint16_t ethClass, uint32_t proto) {
  return static_cast<uint16_t>((ethClass << kProtoBits) | proto);
}

// The packet's dims as the leaf lanes see them.
struct LaneKey {
  uint32_t src;
  uint32_t dst;
  uint16_t sport;
  uint16_t dport;
  uint16_t classProto;
  bool portless;  // the packet lacks ports: entries with kPortlessVerifyFlag need their record
};

inline LaneKey MakeLaneKey(const parse::PacketKey& k) {
  const auto port = [](uint32_t p) { return static_cast<uint16_t>(p > 0xFFFF ? 0xFFFF : p); };
  return LaneKey{k.dims[parse::kSrc], k.dims[parse::kDst], port(k.dims[parse::kSport]), port(k.dims[parse::kDport]),
                 ClassProto(EthClass(k.ethType), k.dims[parse::kProto]), k.dims[parse::kSport] == parse::kNoPort};
}

struct ScanContext {
  const RuleRecord* records;   // by position
  const RuleSpec* specs;       // by position: the address ranges a lane's prefix may widen
  const uint64_t* deleted;     // bit per position, may be null
};

// A leaf of an index: a run of chunks, and its best entry, so that a lookup
// holding a better match skips it without touching a chunk.
struct Leaf {
  uint32_t firstChunk;
  uint32_t chunkCount;
  uint32_t firstPosition;
};

// The leaves that some packets of a group reached, to be scanned: listed
// packet i (packets[i], an index into keys and best) ended in leaf
// leafOf[t * stride + i] of tree t (leafCount or more: in no leaf). Trees
// are in ascending treeFirst (their smallest position), so a packet stops
// at the first tree that cannot beat its match in hand. A path that
// ScansTreeByTree takes one tree's leaves per call (leafOf[i]; stride,
// treeFirst and trees unused), the others every tree's.
struct GroupScan {
  const Leaf* leaves;
  uint32_t leafCount;
  const LeafChunk* chunks;
  const uint32_t* positions;   // kLeafLanes per chunk
  const uint32_t* packets;
  size_t count;
  const uint32_t* leafOf;
  size_t stride;
  const uint32_t* treeFirst;
  size_t trees;
  const parse::PacketKey* keys;
  uint32_t* best;              // per packet: in, the best position so far (kNoMatch: none); out, the best after its leaves
  ScanContext ctx;
};

// Scans the leaves of a group: for each listed packet j, best[j] becomes the
// smallest position below it whose entry matches keys[j] in one of its
// leaves, passes the deleted bitmap and, when flagged, VerifyCandidate.
using GroupScanFn = void (*)(const GroupScan& group);

enum class ScanPath : uint8_t { kPortable = 0, kAvx2 = 1, kAvx512 = 2 };

// Whether a path's group scan takes one tree's leaves per call (the AVX-512
// lookups go tree by tree: FlowIndex::LookupGroupByTree) or every tree's.
constexpr bool ScansTreeByTree(ScanPath path) { return path == ScanPath::kAvx512; }

// The path chosen at load (the best the CPU supports, unless the environment
// variable PCLOUD_DEMUX_PATH names another), and a way for tests to force one.
ScanPath ActiveScanPath();
bool ScanPathSupported(ScanPath path);
bool SetScanPath(ScanPath path);  // false when the CPU lacks it
const char* ScanPathName(ScanPath path);
GroupScanFn GroupScanFor(ScanPath path);

}  // namespace pcloud::demux
