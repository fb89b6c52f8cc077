// Decoder and validator for rule records (layout in ruleCodec.h). It rejects
// rather than repairs: a rule whose prefix has host bits set, whose port range
// is reversed, or whose eth_type contradicts its address family is refused
// with a message, so an operator never runs a rule that differs from the one
// they wrote.
#include "demux/ruleCodec.h"

#include <cstring>

namespace pcloud::demux {

namespace {

uint16_t Le16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
uint32_t Le32(const uint8_t* p) {
  return uint32_t{p[0]} | (uint32_t{p[1]} << 8) | (uint32_t{p[2]} << 16) | (uint32_t{p[3]} << 24);
}
uint32_t Be32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

bool HostBitsClear(const uint8_t* addr, unsigned prefixLen, unsigned bytes) {
  for (unsigned bit = prefixLen; bit < bytes * 8; ++bit) {
    if (addr[bit / 8] & (0x80 >> (bit % 8))) return false;
  }
  return true;
}

// The classifier sees only the top 32 bits of an address; a longer IPv6
// prefix is checked in full on candidates (FlowIndex verifies it).
Range Project(const uint8_t* addr, unsigned prefixLen) {
  const uint32_t top = Be32(addr);
  if (prefixLen == 0) return {0, 0xFFFFFFFFu};
  if (prefixLen >= 32) return {top, top};
  const uint32_t span = 0xFFFFFFFFu >> prefixLen;
  return {top & ~span, top | span};
}

Range PortRange(uint16_t lo, uint16_t hi, uint32_t dimMax) {
  if (lo == 0 && hi == 0xFFFF) return {0, dimMax};  // wildcard also covers "no port"
  return {lo, hi};
}

bool Fail(std::string& error, size_t index, const std::string& what) {
  error = "rule " + std::to_string(index) + ": " + what;
  return false;
}

}  // namespace

bool DecodeRules(const uint8_t* data, size_t len, std::vector<RuleSpec>& out, std::string& error) {
  if (len % kRuleRecordSize != 0) {
    error = "rule buffer is " + std::to_string(len) + " bytes, not a multiple of the " +
            std::to_string(kRuleRecordSize) + "-byte record";
    return false;
  }
  const size_t count = len / kRuleRecordSize;
  std::vector<RuleSpec> decoded;
  decoded.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    const uint8_t* r = data + i * kRuleRecordSize;
    RuleSpec s;
    s.priority = Le32(r + rule_field::kPriority);
    const uint8_t action = r[rule_field::kAction];
    if (action < 1 || action > 3) return Fail(error, i, "action " + std::to_string(action) + " is not to_vi (1), legacy (2) or drop (3)");
    s.action = static_cast<Action>(action);
    s.family = r[rule_field::kFamily];
    s.srcLen = r[rule_field::kSrcLen];
    s.dstLen = r[rule_field::kDstLen];
    s.viId = Le32(r + rule_field::kViId);
    s.sampleRate = Le32(r + rule_field::kSampleRate);
    if (s.sampleRate > kMaxSampleRate) return Fail(error, i, "sampling rate " + std::to_string(s.sampleRate) + " exceeds 2^30");
    const uint8_t flags = r[rule_field::kFlags];
    if (flags & 0xF0) return Fail(error, i, "unknown match flags " + std::to_string(flags));
    const uint8_t proto = r[rule_field::kIpProto];
    const uint16_t ethType = Le16(r + rule_field::kEthType);
    const uint32_t inPort = Le32(r + rule_field::kInPort);
    const uint32_t vni = Le32(r + rule_field::kVni);
    const uint16_t sportLo = Le16(r + rule_field::kSrcPortLo), sportHi = Le16(r + rule_field::kSrcPortHi);
    const uint16_t dportLo = Le16(r + rule_field::kDstPortLo), dportHi = Le16(r + rule_field::kDstPortHi);
    std::memcpy(s.src, r + rule_field::kSrc, 16);
    std::memcpy(s.dst, r + rule_field::kDst, 16);

    unsigned addrBytes = 0;
    uint16_t familyEthType = 0;
    if (s.family == 0) {
      if (s.srcLen != 0 || s.dstLen != 0) return Fail(error, i, "prefix lengths need family 4 or 6");
    } else if (s.family == 4) {
      addrBytes = 4;
      familyEthType = 0x0800;
    } else if (s.family == 6) {
      addrBytes = 16;
      familyEthType = 0x86DD;
    } else {
      return Fail(error, i, "family " + std::to_string(s.family) + " is not 0, 4 or 6");
    }
    if (s.family != 0) {
      if (s.srcLen > addrBytes * 8) return Fail(error, i, "source prefix length " + std::to_string(s.srcLen) + " exceeds " + std::to_string(addrBytes * 8));
      if (s.dstLen > addrBytes * 8) return Fail(error, i, "destination prefix length " + std::to_string(s.dstLen) + " exceeds " + std::to_string(addrBytes * 8));
      if (!HostBitsClear(s.src, s.srcLen, 16)) return Fail(error, i, "source address has bits set beyond its /" + std::to_string(s.srcLen) + " prefix");
      if (!HostBitsClear(s.dst, s.dstLen, 16)) return Fail(error, i, "destination address has bits set beyond its /" + std::to_string(s.dstLen) + " prefix");
      if ((flags & 4) && ethType != familyEthType) return Fail(error, i, "eth_type " + std::to_string(ethType) + " contradicts address family " + std::to_string(s.family));
    } else {
      std::memset(s.src, 0, 16);
      std::memset(s.dst, 0, 16);
    }
    if (sportLo > sportHi) return Fail(error, i, "source port range " + std::to_string(sportLo) + "-" + std::to_string(sportHi) + " is reversed");
    if (dportLo > dportHi) return Fail(error, i, "destination port range " + std::to_string(dportLo) + "-" + std::to_string(dportHi) + " is reversed");
    if ((flags & 2) && vni > 0xFFFFFF) return Fail(error, i, "VNI " + std::to_string(vni) + " exceeds 24 bits");
    if (s.action != Action::kToVi && s.viId != 0) return Fail(error, i, "a VI id is only meaningful with action to_vi");

    // A family-0 rule still matches only IP packets when it constrains
    // the protocol; ports alone do not imply a family.
    s.dims[parse::kSrc] = s.family == 0 ? Range{0, 0xFFFFFFFFu} : Project(s.src, s.srcLen);
    s.dims[parse::kDst] = s.family == 0 ? Range{0, 0xFFFFFFFFu} : Project(s.dst, s.dstLen);
    s.dims[parse::kSport] = PortRange(sportLo, sportHi, kDimMax[parse::kSport]);
    s.dims[parse::kDport] = PortRange(dportLo, dportHi, kDimMax[parse::kDport]);
    s.dims[parse::kProto] = (flags & 8) ? Range{proto, proto} : Range{0, kDimMax[parse::kProto]};
    if (flags & 1) s.inPort = {inPort, inPort};
    if (flags & 2) s.vni = {vni, vni};
    if (s.family != 0) {
      s.ethType = {familyEthType, familyEthType};
    } else if (flags & 4) {
      s.ethType = {ethType, ethType};
    }
    decoded.push_back(s);
  }
  out.insert(out.end(), decoded.begin(), decoded.end());
  return true;
}

}  // namespace pcloud::demux
