// What the parser extracts from one frame: the fields a demux rule can match,
// plus the reason a frame was rejected. Plain C++, no JavaScript types.
#pragma once
#include <cstddef>
#include <cstdint>

namespace pcloud::parse {

// Sentinels outside every value a real header can carry, so that a rule with an
// exact or ranged match can never match a packet that lacks the field, while a
// wildcard (which the classifier widens to cover the sentinel) still does.
inline constexpr uint32_t kNoPort = 0x10000;    // ICMP, non-first fragments, other protocols
inline constexpr uint32_t kNoProto = 0x100;     // not IPv4/IPv6
inline constexpr uint32_t kNoVni = 0x1000000;   // not VXLAN-encapsulated

// The only protocols whose packets get ports from the parser; every other
// packet (and every non-first fragment) has kNoPort in both port dims. The
// classifier relies on it to leave out rules that no packet can match.
inline constexpr uint8_t kProtoTcp = 6;
inline constexpr uint8_t kProtoUdp = 17;

// Why a frame was dropped as malformed. The order is the wire order of the
// layers; names (below) are what the TypeScript API reports.
enum class ParseError : uint8_t {
  kNone = 0,
  kTruncatedEthernet,
  kVlanTooDeep,
  kTruncatedVlan,
  kTruncatedIpv4,
  kBadIpv4Version,
  kBadIpv4HeaderLength,
  kBadIpv4TotalLength,
  kTruncatedIpv6,
  kBadIpv6Version,
  kBadIpv6ExtensionHeader,
  kTruncatedTcp,
  kBadTcpDataOffset,
  kTruncatedUdp,
  kBadUdpLength,
  kTruncatedIcmp,
  kTruncatedVxlan,
  kVxlanFlagNotSet,
  kBadIpVersion,       // raw-IP link type whose first nibble is neither 4 nor 6
  kCount,
};

inline constexpr size_t kParseErrorCount = static_cast<size_t>(ParseError::kCount);

const char* ParseErrorName(ParseError e);

enum class LinkType : uint8_t { kEthernet = 1, kRawIp = 12 };

enum class Fragment : uint8_t { kNone = 0, kFirst = 1, kLater = 2 };

struct PacketKey {
  // The five dimensions the classifier cuts on, in this fixed order:
  // source and destination address projected to 32 bits (IPv4 address, or the
  // top 32 bits of an IPv6 address, host byte order), ports or kNoPort, and
  // the IP protocol or kNoProto.
  uint32_t dims[5];
  uint32_t inPort;
  uint32_t vni;        // kNoVni unless decapsulated from VXLAN
  uint16_t ethType;    // innermost, after VLAN tags; 0x05FF for 802.3 length frames
  uint8_t family;      // 0 (not IP), 4 or 6
  Fragment fragment;
  uint8_t vlanCount;
  uint8_t icmpType;    // valid when protocol is ICMP/ICMPv6
  uint8_t icmpCode;
  uint8_t pad;
  uint16_t l3Offset;   // offset of the (inner) IP header within the frame
  uint16_t l4Offset;   // offset of the transport header, 0 when absent
  uint8_t src[16];     // network order; IPv4 in the first 4 bytes
  uint8_t dst[16];
};

enum Dim : uint8_t { kSrc = 0, kDst = 1, kSport = 2, kDport = 3, kProto = 4, kDimCount = 5 };

struct ParseOptions {
  uint32_t inPort = 0;
  uint16_t vxlanPort = 4789;  // 0 disables decapsulation
  LinkType linkType = LinkType::kEthernet;
};

}  // namespace pcloud::parse
