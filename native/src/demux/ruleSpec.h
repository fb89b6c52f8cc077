// A demux rule as the flow table stores it: decoded, validated, and widened to
// the classifier's ranges. Plain C++, no JavaScript types.
#pragma once
#include <array>
#include <cstdint>

#include "parse/packetKey.h"

namespace pcloud::demux {

enum class Action : uint8_t { kMiss = 0, kToVi = 1, kLegacy = 2, kDrop = 3, kMalformed = 4 };

// A closed interval; every dimension of a rule is one.
struct Range {
  uint32_t lo;
  uint32_t hi;
  bool Contains(uint32_t v) const { return v >= lo && v <= hi; }
};

// Upper bounds of the classifier's dimensions. They include the parser's
// "absent" sentinels, so a wildcard range [0, max] also matches packets that
// lack the field while an exact value or real range cannot.
inline constexpr std::array<uint32_t, parse::kDimCount> kDimMax = {
    0xFFFFFFFFu, 0xFFFFFFFFu, 0x1FFFFu, 0x1FFFFu, 0x1FFu};

struct RuleSpec {
  uint32_t priority = 0;
  Action action = Action::kLegacy;
  uint32_t viId = 0;
  uint32_t sampleRate = 0;  // 0: not sampled; N: one packet in N on average

  // Matching. dims[] are the classifier's projections (see PacketKey::dims);
  // the remaining fields are checked exactly on candidates.
  std::array<Range, parse::kDimCount> dims{};
  Range inPort{0, 0xFFFFFFFFu};
  Range vni{0, 0xFFFFFFFFu};
  Range ethType{0, 0xFFFFFFFFu};
  uint8_t family = 0;   // 0: addresses wildcarded; 4 or 6: prefixes below apply
  uint8_t srcLen = 0;
  uint8_t dstLen = 0;
  uint8_t src[16]{};
  uint8_t dst[16]{};
};

// False when no packet can match the rule's dims: the parser gives ports to
// TCP and UDP only (kProtoTcp, kProtoUdp), so a rule whose protocol range
// holds neither and whose port range leaves out kNoPort (any port that is not
// a wildcard) matches nothing. ClassBench's firewall families are full of
// them (fw2: 5,875 of 9,873 rules, fw4: 7,438 of 9,588, for protocols 1-4
// and 7-8 with ports); the index leaves them out of its trees.
inline bool CanMatchSomePacket(const RuleSpec& s) {
  const Range& proto = s.dims[parse::kProto];
  if (proto.Contains(parse::kProtoTcp) || proto.Contains(parse::kProtoUdp)) return true;
  return s.dims[parse::kSport].Contains(parse::kNoPort) && s.dims[parse::kDport].Contains(parse::kNoPort);
}

// Total order between rules: higher priority first, then earlier installation.
// A smaller key wins.
inline uint64_t OrderKey(uint32_t priority, uint32_t sequence) {
  return (uint64_t{0xFFFFFFFFu - priority} << 32) | sequence;
}

}  // namespace pcloud::demux
