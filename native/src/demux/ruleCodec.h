// The binary rule record that crosses from TypeScript (native/demux.ts
// encodes it) into C++. A fixed little-endian layout keeps the N-API layer
// thin and lets the decoder be fuzzed on its own.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "demux/ruleSpec.h"

namespace pcloud::demux {

// Layout of one record (all integers little-endian):
//   0  u32 priority
//   4  u8  action (1 to_vi, 2 legacy, 3 drop)
//   5  u8  family (0 any, 4 IPv4, 6 IPv6)
//   6  u8  source prefix length
//   7  u8  destination prefix length
//   8  u32 VI id (to_vi only)
//  12  u32 sampling rate (0 = off)
//  16  u8  match flags: bit0 in_port, bit1 vni, bit2 eth_type, bit3 ip_proto
//  17  u8  ip_proto
//  18  u16 eth_type
//  20  u32 in_port
//  24  u32 vni
//  28  u16 source port low,  30 u16 source port high
//  32  u16 destination port low, 34 u16 destination port high
//  36  u8[16] source address (IPv4 in the first 4 bytes)
//  52  u8[16] destination address
//  68  end
inline constexpr size_t kRuleRecordSize = 68;

// The same layout by name: the decoder reads these offsets, and the binding
// exports them (demux.ruleLayout) so native/demux.ts writes by name too.
namespace rule_field {
inline constexpr size_t kPriority = 0, kAction = 4, kFamily = 5, kSrcLen = 6, kDstLen = 7, kViId = 8,
                        kSampleRate = 12, kFlags = 16, kIpProto = 17, kEthType = 18, kInPort = 20, kVni = 24,
                        kSrcPortLo = 28, kSrcPortHi = 30, kDstPortLo = 32, kDstPortHi = 34, kSrc = 36, kDst = 52;
}  // namespace rule_field

struct FieldOffset {
  const char* name;
  size_t offset;
};
inline constexpr FieldOffset kRuleFields[] = {
    {"priority", rule_field::kPriority},   {"action", rule_field::kAction},         {"family", rule_field::kFamily},
    {"srcLen", rule_field::kSrcLen},       {"dstLen", rule_field::kDstLen},         {"viId", rule_field::kViId},
    {"sampleRate", rule_field::kSampleRate}, {"flags", rule_field::kFlags},         {"ipProto", rule_field::kIpProto},
    {"ethType", rule_field::kEthType},     {"inPort", rule_field::kInPort},         {"vni", rule_field::kVni},
    {"srcPortLo", rule_field::kSrcPortLo}, {"srcPortHi", rule_field::kSrcPortHi},   {"dstPortLo", rule_field::kDstPortLo},
    {"dstPortHi", rule_field::kDstPortHi}, {"src", rule_field::kSrc},               {"dst", rule_field::kDst}};
inline constexpr uint32_t kMaxSampleRate = 1u << 30;

// Decodes `len / kRuleRecordSize` records. Returns false and a message naming
// the record and the field on the first invalid one; nothing is appended then.
bool DecodeRules(const uint8_t* data, size_t len, std::vector<RuleSpec>& out, std::string& error);

}  // namespace pcloud::demux
