// One installed rule as the classifier stores it: what the leaf scan cannot
// decide from the five cut dimensions (ingress port, VNI, eth_type, full IPv6
// prefixes), plus what a match returns. Immutable once built into an index.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "demux/ruleSpec.h"
#include "parse/packetKey.h"

namespace pcloud::demux {

// What a match returns and how it is sampled: everything the batch loop
// reads of a matched rule, in 16 bytes, so an index keeps a dense copy by
// position (FlowIndex::outcome). Matches all over a large set then touch a
// quarter of the lines that their records would (acl5: 5,900 matched rules
// in 95 KB instead of 380 KB of records, frames 3-4% faster; README.md,
// tenth pass).
struct MatchOutcome {
  uint32_t id;
  uint32_t viId;
  uint32_t sampleRate;
  Action action;
};
static_assert(sizeof(MatchOutcome) == 16);

// The first 64 bytes hold everything a lookup reads, so a candidate that
// needs its record costs one cache line; the full IPv6 prefixes sit in the
// second.
struct alignas(64) RuleRecord {
  Range inPort;
  Range vni;
  Range ethType;
  uint64_t order;          // OrderKey(priority, installation sequence)
  MatchOutcome outcome;
  uint32_t priority;
  uint8_t family;
  uint8_t srcLen;
  uint8_t dstLen;
  bool fullAddressCheck;  // an IPv6 prefix longer than the 32 bits the dims project
  bool portsWildcard;     // matches packets without ports (leaf lanes cannot tell)
  uint8_t src[16];
  uint8_t dst[16];
};
static_assert(offsetof(RuleRecord, portsWildcard) < 64, "hot fields must share the first cache line");

inline bool PrefixMatches(const uint8_t* rule, const uint8_t* packet, unsigned len) {
  const unsigned whole = len / 8;
  if (std::memcmp(rule, packet, whole) != 0) return false;
  const unsigned rest = len % 8;
  if (rest == 0) return true;
  const uint8_t mask = static_cast<uint8_t>(0xFF00 >> rest);
  return (rule[whole] & mask) == (packet[whole] & mask);
}

// The checks a leaf scan leaves to the candidate: everything but dims[].
inline bool VerifyCandidate(const RuleRecord& r, const parse::PacketKey& k) {
  if (!r.inPort.Contains(k.inPort) || !r.vni.Contains(k.vni) || !r.ethType.Contains(k.ethType)) return false;
  if (k.dims[parse::kSport] == parse::kNoPort && !r.portsWildcard) return false;
  if (r.fullAddressCheck) {
    if (k.family != 6) return false;
    if (!PrefixMatches(r.src, k.src, r.srcLen) || !PrefixMatches(r.dst, k.dst, r.dstLen)) return false;
  }
  return true;
}

inline RuleRecord MakeRecord(const RuleSpec& s, uint32_t id, uint32_t sequence) {
  RuleRecord r{};
  r.inPort = s.inPort;
  r.vni = s.vni;
  r.ethType = s.ethType;
  r.family = s.family;
  r.srcLen = s.srcLen;
  r.dstLen = s.dstLen;
  r.fullAddressCheck = s.family == 6 && (s.srcLen > 32 || s.dstLen > 32);
  r.portsWildcard = s.dims[parse::kSport].hi > 0xFFFF && s.dims[parse::kDport].hi > 0xFFFF;
  std::memcpy(r.src, s.src, 16);
  std::memcpy(r.dst, s.dst, 16);
  r.order = OrderKey(s.priority, sequence);
  r.outcome = MatchOutcome{id, s.viId, s.sampleRate, s.action};
  r.priority = s.priority;
  return r;
}

}  // namespace pcloud::demux
