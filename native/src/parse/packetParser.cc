// Frame parser: Ethernet II, 802.1Q / 802.1ad tags, IPv4 (options,
// fragments), IPv6 (extension-header chain, fragment header), TCP, UDP, ICMP,
// ICMPv6, and one level of VXLAN decapsulation (RFC 7348).
//
// Every function takes (pointer, length) and checks the length before it
// reads, in the style of DPDK's rte_net_get_ptype. The layer lengths that a
// header claims are checked against what is actually present, so a hostile
// header can shrink but never grow the region later layers may read.
//
// Choices that decide what a rule can match (kept in one place, here):
// - Non-first fragments carry no transport header: their ports become kNoPort
//   and only rules that wildcard both ports match them (OpenFlow semantics).
// - ICMP and ICMPv6 have no ports either; type and code are recorded for
//   samples but do not take part in matching.
// - VXLAN: a UDP datagram to options.vxlanPort is decapsulated once. The I flag
//   must be set (RFC 7348 section 5); the reserved bits are ignored on receive.
//   The key then describes the inner frame and carries the VNI; nested VXLAN is
//   not decapsulated again and is classified as ordinary UDP.
#include "parse/packetParser.h"

#include <array>
#include <bit>
#include <cstddef>
#include <cstring>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace pcloud::parse {

namespace {

constexpr uint16_t kEthIpv4 = 0x0800;
constexpr uint16_t kEthIpv6 = 0x86DD;
constexpr uint16_t kEthVlan = 0x8100;
constexpr uint16_t kEthQinQ = 0x88A8;
constexpr uint16_t kEthQinQOld = 0x9100;
constexpr uint16_t kEth8023 = 0x05FF;  // OpenFlow's value for 802.3 length frames
constexpr uint8_t kMaxVlanTags = 4;
constexpr uint8_t kMaxIpv6ExtHeaders = 8;

constexpr uint8_t kProtoIcmp = 1;
constexpr uint8_t kProtoIcmpv6 = 58;

inline uint16_t Be16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }
inline uint32_t Be32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

// The bytes at p as they lie in memory (a little-endian word on x86 and
// arm64): the short path tests masked header words with one compare.
static_assert(std::endian::native == std::endian::little);
template <typename T>
inline T Load(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

struct Cursor {
  const uint8_t* frame;  // start of the outermost frame, for offsets
  int depth;             // 0 outside, 1 inside a VXLAN tunnel
};

ParseError ParseEthernet(const uint8_t* p, size_t len, const Cursor& c, const ParseOptions& o, PacketKey& k);

void NoTransport(PacketKey& k) {
  k.dims[kSport] = kNoPort;
  k.dims[kDport] = kNoPort;
  k.l4Offset = 0;
}

ParseError ParseTransport(const uint8_t* p, size_t len, uint8_t proto, const Cursor& c, const ParseOptions& o,
                          PacketKey& k) {
  k.dims[kProto] = proto;
  if (k.fragment == Fragment::kLater) {
    NoTransport(k);
    return ParseError::kNone;
  }
  k.l4Offset = static_cast<uint16_t>(p - c.frame);
  switch (proto) {
    case kProtoTcp: {
      if (len < 20) return ParseError::kTruncatedTcp;
      const size_t dataOffset = static_cast<size_t>(p[12] >> 4) * 4;
      if (dataOffset < 20) return ParseError::kBadTcpDataOffset;
      if (dataOffset > len) return ParseError::kTruncatedTcp;
      k.dims[kSport] = Be16(p);
      k.dims[kDport] = Be16(p + 2);
      return ParseError::kNone;
    }
    case kProtoUdp: {
      if (len < 8) return ParseError::kTruncatedUdp;
      const size_t udpLen = Be16(p + 4);
      // A first fragment holds only part of the datagram, so its length field
      // cannot be checked against what is here.
      if (k.fragment == Fragment::kNone) {
        if (udpLen < 8) return ParseError::kBadUdpLength;
        if (udpLen > len) return ParseError::kTruncatedUdp;
      }
      k.dims[kSport] = Be16(p);
      k.dims[kDport] = Be16(p + 2);
      if (o.vxlanPort != 0 && c.depth == 0 && k.fragment == Fragment::kNone && k.dims[kDport] == o.vxlanPort) {
        const uint8_t* vx = p + 8;
        const size_t vxLen = udpLen - 8;
        if (vxLen < 8) return ParseError::kTruncatedVxlan;
        if ((vx[0] & 0x08) == 0) return ParseError::kVxlanFlagNotSet;
        const uint32_t vni = (uint32_t{vx[4]} << 16) | (uint32_t{vx[5]} << 8) | uint32_t{vx[6]};
        // The inner frame replaces every outer field except the ingress port.
        const uint32_t inPort = k.inPort;
        std::memset(&k, 0, sizeof k);
        k.inPort = inPort;
        k.vni = vni;
        const Cursor inner{c.frame, c.depth + 1};
        return ParseEthernet(vx + 8, vxLen - 8, inner, o, k);
      }
      return ParseError::kNone;
    }
    case kProtoIcmp:
    case kProtoIcmpv6: {
      if (len < 4) return ParseError::kTruncatedIcmp;
      k.icmpType = p[0];
      k.icmpCode = p[1];
      NoTransport(k);
      k.l4Offset = static_cast<uint16_t>(p - c.frame);
      return ParseError::kNone;
    }
    default:
      NoTransport(k);
      return ParseError::kNone;
  }
}

ParseError ParseIpv4(const uint8_t* p, size_t len, const Cursor& c, const ParseOptions& o, PacketKey& k) {
  if (len < 20) return ParseError::kTruncatedIpv4;
  if ((p[0] >> 4) != 4) return ParseError::kBadIpv4Version;
  const size_t headerLen = static_cast<size_t>(p[0] & 0x0F) * 4;
  if (headerLen < 20) return ParseError::kBadIpv4HeaderLength;
  if (headerLen > len) return ParseError::kTruncatedIpv4;
  const size_t totalLen = Be16(p + 2);
  if (totalLen < headerLen) return ParseError::kBadIpv4TotalLength;
  // Bytes beyond totalLen are Ethernet padding; fewer bytes than totalLen is a
  // truncated packet.
  if (totalLen > len) return ParseError::kTruncatedIpv4;
  k.family = 4;
  k.ethType = kEthIpv4;
  k.l3Offset = static_cast<uint16_t>(p - c.frame);
  std::memcpy(k.src, p + 12, 4);
  std::memcpy(k.dst, p + 16, 4);
  k.dims[kSrc] = Be32(p + 12);
  k.dims[kDst] = Be32(p + 16);
  const uint16_t fragField = Be16(p + 6);
  const uint16_t offset = fragField & 0x1FFF;
  const bool moreFragments = (fragField & 0x2000) != 0;
  k.fragment = offset != 0 ? Fragment::kLater : (moreFragments ? Fragment::kFirst : Fragment::kNone);
  return ParseTransport(p + headerLen, totalLen - headerLen, p[9], c, o, k);
}

ParseError ParseIpv6(const uint8_t* p, size_t len, const Cursor& c, const ParseOptions& o, PacketKey& k) {
  if (len < 40) return ParseError::kTruncatedIpv6;
  if ((p[0] >> 4) != 6) return ParseError::kBadIpv6Version;
  const size_t payloadLen = Be16(p + 4);
  uint8_t next = p[6];
  size_t limit;
  if (payloadLen == 0 && next == 0) {
    limit = len - 40;  // jumbogram (RFC 2675): the length lives in hop-by-hop; take what is here
  } else {
    if (40 + payloadLen > len) return ParseError::kTruncatedIpv6;
    limit = payloadLen;
  }
  k.family = 6;
  k.ethType = kEthIpv6;
  k.l3Offset = static_cast<uint16_t>(p - c.frame);
  std::memcpy(k.src, p + 8, 16);
  std::memcpy(k.dst, p + 24, 16);
  k.dims[kSrc] = Be32(p + 8);
  k.dims[kDst] = Be32(p + 24);
  const uint8_t* q = p + 40;
  size_t left = limit;
  for (uint8_t count = 0;; ++count) {
    switch (next) {
      case 0:    // hop-by-hop options
      case 43:   // routing
      case 60:   // destination options
      case 135:  // mobility
      case 139:  // HIP
      case 140: {  // shim6
        if (count >= kMaxIpv6ExtHeaders) return ParseError::kBadIpv6ExtensionHeader;
        if (left < 8) return ParseError::kBadIpv6ExtensionHeader;
        const size_t extLen = (size_t{q[1]} + 1) * 8;
        if (extLen > left) return ParseError::kBadIpv6ExtensionHeader;
        next = q[0];
        q += extLen;
        left -= extLen;
        continue;
      }
      case 51: {  // authentication header: length in 4-octet units minus 2
        if (count >= kMaxIpv6ExtHeaders) return ParseError::kBadIpv6ExtensionHeader;
        if (left < 8) return ParseError::kBadIpv6ExtensionHeader;
        const size_t extLen = (size_t{q[1]} + 2) * 4;
        if (extLen > left) return ParseError::kBadIpv6ExtensionHeader;
        next = q[0];
        q += extLen;
        left -= extLen;
        continue;
      }
      case 44: {  // fragment header, fixed 8 bytes
        if (count >= kMaxIpv6ExtHeaders) return ParseError::kBadIpv6ExtensionHeader;
        if (left < 8) return ParseError::kBadIpv6ExtensionHeader;
        const uint16_t offsetField = Be16(q + 2);
        const bool more = (offsetField & 1) != 0;
        const uint16_t offset = offsetField >> 3;
        if (offset != 0) {
          k.fragment = Fragment::kLater;
        } else if (more) {
          k.fragment = Fragment::kFirst;
        }
        // An atomic fragment (offset 0, M clear) is a whole packet (RFC 6946).
        next = q[0];
        q += 8;
        left -= 8;
        continue;
      }
      default:
        return ParseTransport(q, left, next, c, o, k);
    }
  }
}

ParseError ParseEthernet(const uint8_t* p, size_t len, const Cursor& c, const ParseOptions& o, PacketKey& k) {
  if (len < 14) return ParseError::kTruncatedEthernet;
  uint16_t type = Be16(p + 12);
  size_t offset = 14;
  while (type == kEthVlan || type == kEthQinQ || type == kEthQinQOld) {
    if (k.vlanCount >= kMaxVlanTags) return ParseError::kVlanTooDeep;
    if (len < offset + 4) return ParseError::kTruncatedVlan;
    ++k.vlanCount;
    type = Be16(p + offset + 2);
    offset += 4;
  }
  k.dims[kSport] = kNoPort;
  k.dims[kDport] = kNoPort;
  k.dims[kProto] = kNoProto;
  if (type == kEthIpv4) return ParseIpv4(p + offset, len - offset, c, o, k);
  if (type == kEthIpv6) return ParseIpv6(p + offset, len - offset, c, o, k);
  k.ethType = type < 0x0600 ? kEth8023 : type;
  return ParseError::kNone;
}

// What the short paths need to know of an IP protocol, by table: with
// comparisons gcc branched on the protocol, and in mixed traffic those
// branches mispredicted often enough to cost a fifth of building 5-tuple keys.
constexpr uint8_t kHasPorts = 1, kIsIcmp = 2;
constexpr std::array<uint8_t, 256> kProtoTraits = [] {
  std::array<uint8_t, 256> t{};
  t[kProtoTcp] = t[kProtoUdp] = kHasPorts;
  t[kProtoIcmp] = t[kProtoIcmpv6] = kIsIcmp;
  return t;
}();

// The key of an untagged Ethernet II frame carrying an unfragmented IPv4
// packet with a 20-byte header, not VXLAN (addresses in host order): ports
// only on TCP and UDP, ICMP's type and code from `icmp` (the first two
// transport bytes as loaded; ignored for other protocols). Shared by the
// parser's short path and the keys of 5-tuples. Every field is stored once
// (no memset of the whole key first), chosen by masks rather than branches
// on the protocol (kProtoTraits).
inline void SetIpv4Key(PacketKey& k, uint32_t src, uint32_t dst, uint32_t sport, uint32_t dport, uint8_t proto,
                       uint32_t inPort, uint16_t icmp) {
  const uint32_t traits = kProtoTraits[proto];
  const uint32_t ports = 0u - (traits & kHasPorts);  // all ones when the packet has ports
  const uint32_t icmpMask = 0u - ((traits & kIsIcmp) >> 1);
  k.dims[kSrc] = src;
  k.dims[kDst] = dst;
  k.dims[kSport] = (sport & ports) | (kNoPort & ~ports);
  k.dims[kDport] = (dport & ports) | (kNoPort & ~ports);
  k.dims[kProto] = proto;
  k.inPort = inPort;
  k.vni = kNoVni;
  k.ethType = kEthIpv4;
  k.family = 4;
  k.fragment = Fragment::kNone;
  k.vlanCount = 0;
  k.icmpType = static_cast<uint8_t>(icmp & icmpMask);
  k.icmpCode = static_cast<uint8_t>((icmp & icmpMask) >> 8);
  k.pad = 0;
  k.l3Offset = 14;
  k.l4Offset = static_cast<uint16_t>(34 & (0u - (traits != 0)));
  const uint32_t srcWire = __builtin_bswap32(src), dstWire = __builtin_bswap32(dst);
  std::memset(k.src, 0, sizeof k.src);
  std::memset(k.dst, 0, sizeof k.dst);
  std::memcpy(k.src, &srcWire, 4);
  std::memcpy(k.dst, &dstWire, 4);
}

// The common frame of a batch: Ethernet II without tags, IPv4 with a 20-byte
// header, no fragmentation, at least 8 bytes of payload, and a transport
// header ParseTransport would accept (no VXLAN to decapsulate). For such a
// frame ParseFrame's key is SetIpv4Key's (or KeyShuffle's) of its fields.
// The checks are combined with & rather than && and the protocol picks its
// fields by masks, not by a switch: in a mixed trace the protocol branch
// alone mispredicted on a large share of packets. Every load stays inside
// the frame: 42 bytes cover the Ethernet and IPv4 headers and 8 bytes of
// payload; the TCP data offset (frame byte 46) is read when the frame is
// that long, else byte 0 stands in, and a TCP check needs 54 bytes. The
// loads depend only on the frame's address and length, so a frame's checks
// do not wait on one another.
inline bool IsCommonIpv4(const uint8_t* p, size_t len, const ParseOptions& o) {
  if (len < 42 || o.linkType != LinkType::kEthernet) return false;
  const uint32_t head = Load<uint32_t>(p + 12);  // eth_type, version and IHL, TOS, as in the frame
  const uint32_t totalLen = Be16(p + 16);
  const uint16_t fragField = Load<uint16_t>(p + 20);
  const uint8_t proto = p[23];
  const uint32_t dport = Be16(p + 36);
  const uint32_t udpLen = Be16(p + 38);
  const uint32_t dataOffset = static_cast<uint32_t>(p[len >= 47 ? 46 : 0] >> 4) * 4;
  const uint32_t l4Len = totalLen - 20;  // wraps for totalLen < 20, which the range check below refuses
  const bool isTcp = proto == kProtoTcp;
  const bool isUdp = proto == kProtoUdp;
  const bool tcpOk = (len >= 54) & (l4Len >= 20) & (dataOffset >= 20) & (dataOffset <= l4Len);
  const bool udpOk = (udpLen >= 8) & (udpLen <= l4Len) & ((o.vxlanPort == 0) | (dport != o.vxlanPort));
  // As loaded: eth_type 0x0800 then version/IHL 0x45 are bytes 08 00 45, and
  // the fragment field's MF flag and offset (0x3FFF in network order) 0xFF3F.
  return ((head & 0xFFFFFF) == 0x450008) & ((fragField & 0xFF3F) == 0) & (totalLen >= 28) & (totalLen <= len - 14) &
         (!isTcp | tcpOk) & (!isUdp | udpOk);
}

#if defined(__x86_64__)
// The common frame's key by byte shuffles (SSSE3): frame bytes 22..37 (TTL,
// protocol, checksum, the addresses, the ports) in one load, and each 16
// bytes of the key one pshufb of them (host-order dims by reversing bytes,
// the wire-order addresses as they are) or'ed with the key's constant bytes,
// per kind of protocol: with ports (TCP, UDP), ICMP (type and code), neither.
// SetIpv4Key stores the same key field by field in some 60 instructions; this
// takes 15: parsing alone 1.30x (8.8 to 6.8 ns a frame on Zen 4), the frame
// path on acl5 and fw2 1.02x (README.md, ninth pass).
struct KeyShuffle {
  alignas(16) uint8_t index[4][16];   // per 16 bytes of the key: the loaded byte at each, 0x80 for zero
  alignas(16) uint8_t fixed[4][16];   // or'ed in: the constant bytes (block 1 gets the ingress port per batch)
};
constexpr uint8_t kShuffleZero = 0x80;
constexpr uint8_t kKindPorts = 0, kKindIcmp = 1, kKindNeither = 2;
constexpr std::array<KeyShuffle, 3> kKeyShuffles = [] {
  static_assert(sizeof(PacketKey) == 72 && offsetof(PacketKey, inPort) == 20 && offsetof(PacketKey, icmpType) == 33 &&
                offsetof(PacketKey, l4Offset) == 38 && offsetof(PacketKey, src) == 40 && offsetof(PacketKey, dst) == 56);
  std::array<KeyShuffle, 3> t{};
  for (uint8_t kind = 0; kind < 3; ++kind) {
    KeyShuffle& k = t[kind];
    for (auto& block : k.index) {
      for (uint8_t& i : block) i = kShuffleZero;
    }
    // Loaded byte b is frame byte 22 + b: protocol 1, source 4..7,
    // destination 8..11, source port 12..13, destination port 14..15.
    for (uint8_t i = 0; i < 4; ++i) {
      k.index[0][i] = static_cast<uint8_t>(7 - i);       // dims[kSrc], host order
      k.index[0][4 + i] = static_cast<uint8_t>(11 - i);  // dims[kDst]
      k.index[2][8 + i] = static_cast<uint8_t>(4 + i);   // src[0..3], wire order
      k.index[3][8 + i] = static_cast<uint8_t>(8 + i);   // dst[0..3]
    }
    k.index[1][0] = 1;  // dims[kProto]
    if (kind == kKindPorts) {
      k.index[0][8] = 13, k.index[0][9] = 12;    // dims[kSport]
      k.index[0][12] = 15, k.index[0][13] = 14;  // dims[kDport]
    } else {
      k.fixed[0][10] = k.fixed[0][14] = 1;  // kNoPort (0x10000) in both
    }
    if (kind == kKindIcmp) k.index[2][1] = 12, k.index[2][2] = 13;  // icmpType, icmpCode: the first two bytes
    // Block 1: protocol, ingress port, vni, eth_type, family, fragment.
    k.fixed[1][11] = 1;                            // vni: kNoVni (0x1000000)
    k.fixed[1][12] = 0x00, k.fixed[1][13] = 0x08;  // eth_type 0x0800
    k.fixed[1][14] = 4;                            // family
    // Block 2: VLAN count, ICMP type and code, pad, l3Offset, l4Offset, src[0..7].
    k.fixed[2][4] = 14;                            // l3Offset
    k.fixed[2][6] = kind == kKindNeither ? 0 : 34;  // l4Offset
  }
  return t;
}();
static_assert(kNoVni == 0x1000000 && kNoPort == 0x10000);

__attribute__((target("ssse3"))) inline __m128i KeyBlock(__m128i fields, const KeyShuffle& shuffle, int b, __m128i fixed) {
  return _mm_or_si128(_mm_shuffle_epi8(fields, _mm_load_si128(reinterpret_cast<const __m128i*>(shuffle.index[b]))), fixed);
}

__attribute__((target("ssse3"))) inline void SetIpv4KeyShuffled(PacketKey& k, const uint8_t* p, const KeyShuffle& shuffle,
                                                                __m128i fixed1) {
  const __m128i fields = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 22));
  const auto fixed = [&shuffle](int b) { return _mm_load_si128(reinterpret_cast<const __m128i*>(shuffle.fixed[b])); };
  __m128i* out = reinterpret_cast<__m128i*>(&k);
  _mm_storeu_si128(out, KeyBlock(fields, shuffle, 0, fixed(0)));
  _mm_storeu_si128(out + 1, KeyBlock(fields, shuffle, 1, fixed1));
  _mm_storeu_si128(out + 2, KeyBlock(fields, shuffle, 2, fixed(2)));
  _mm_storeu_si128(out + 3, KeyBlock(fields, shuffle, 3, _mm_setzero_si128()));
  _mm_storel_epi64(out + 4, _mm_setzero_si128());
}

// ParseFramesPortable's loop with the shuffled key. The loop is written out
// here, not shared through a template taking the key's builder: the
// shuffles must be inlined into a loop compiled for SSSE3, and gcc does not
// inline an SSSE3 function into a callback compiled for the baseline.
__attribute__((target("ssse3"))) void ParseFramesShuffled(const uint8_t* buffer, const uint32_t* offsets,
                                                          const uint32_t* lengths, size_t n, const ParseOptions& options,
                                                          PacketKey* keys, ParseError* status) {
  // Block 1 of every kind: its constants with this batch's ingress port.
  alignas(16) uint8_t fixed1[16];
  std::memcpy(fixed1, kKeyShuffles[0].fixed[1], 16);
  std::memcpy(fixed1 + 4, &options.inPort, 4);
  const __m128i block1 = _mm_load_si128(reinterpret_cast<const __m128i*>(fixed1));
  for (size_t i = 0; i < n; ++i) {
    const uint8_t* frame = buffer + offsets[i];
    if (IsCommonIpv4(frame, lengths[i], options)) {
      const uint8_t traits = kProtoTraits[frame[23]];
      const uint8_t kind = (traits & kHasPorts) ? kKindPorts : (traits & kIsIcmp) ? kKindIcmp : kKindNeither;
      SetIpv4KeyShuffled(keys[i], frame, kKeyShuffles[kind], block1);
      status[i] = ParseError::kNone;
    } else {
      status[i] = ParseFrame(frame, lengths[i], options, keys[i]);
    }
  }
}

bool CpuHasSsse3() {
  static const bool has = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("ssse3");
  }();
  return has;
}
#endif

}  // namespace

const char* ParseErrorName(ParseError e) {
  switch (e) {
    case ParseError::kNone: return "none";
    case ParseError::kTruncatedEthernet: return "truncated_ethernet";
    case ParseError::kVlanTooDeep: return "vlan_too_deep";
    case ParseError::kTruncatedVlan: return "truncated_vlan";
    case ParseError::kTruncatedIpv4: return "truncated_ipv4";
    case ParseError::kBadIpv4Version: return "bad_ipv4_version";
    case ParseError::kBadIpv4HeaderLength: return "bad_ipv4_header_length";
    case ParseError::kBadIpv4TotalLength: return "bad_ipv4_total_length";
    case ParseError::kTruncatedIpv6: return "truncated_ipv6";
    case ParseError::kBadIpv6Version: return "bad_ipv6_version";
    case ParseError::kBadIpv6ExtensionHeader: return "bad_ipv6_extension_header";
    case ParseError::kTruncatedTcp: return "truncated_tcp";
    case ParseError::kBadTcpDataOffset: return "bad_tcp_data_offset";
    case ParseError::kTruncatedUdp: return "truncated_udp";
    case ParseError::kBadUdpLength: return "bad_udp_length";
    case ParseError::kTruncatedIcmp: return "truncated_icmp";
    case ParseError::kTruncatedVxlan: return "truncated_vxlan";
    case ParseError::kVxlanFlagNotSet: return "vxlan_flag_not_set";
    case ParseError::kBadIpVersion: return "bad_ip_version";
    case ParseError::kCount: break;
  }
  return "unknown";
}

ParseError ParseFrame(const uint8_t* data, size_t len, const ParseOptions& options, PacketKey& key) {
  std::memset(&key, 0, sizeof key);
  key.inPort = options.inPort;
  key.vni = kNoVni;
  const Cursor c{data, 0};
  if (options.linkType == LinkType::kRawIp) {
    key.dims[kSport] = kNoPort;
    key.dims[kDport] = kNoPort;
    key.dims[kProto] = kNoProto;
    if (len < 1) return ParseError::kBadIpVersion;
    const uint8_t version = data[0] >> 4;
    if (version == 4) return ParseIpv4(data, len, c, options, key);
    if (version == 6) return ParseIpv6(data, len, c, options, key);
    return ParseError::kBadIpVersion;
  }
  return ParseEthernet(data, len, c, options, key);
}

void Ipv4TupleKeys(const uint32_t* tuples, size_t n, PacketKey* keys) {
  for (size_t i = 0; i < n; ++i) {
    const uint32_t* t = tuples + 5 * i;
    SetIpv4Key(keys[i], t[0], t[1], t[2], t[3], static_cast<uint8_t>(t[4]), 0, 0);
  }
}

void ParseFramesPortable(const uint8_t* buffer, const uint32_t* offsets, const uint32_t* lengths, size_t n,
                         const ParseOptions& options, PacketKey* keys, ParseError* status) {
  for (size_t i = 0; i < n; ++i) {
    const uint8_t* frame = buffer + offsets[i];
    if (IsCommonIpv4(frame, lengths[i], options)) {
      SetIpv4Key(keys[i], Be32(frame + 26), Be32(frame + 30), Be16(frame + 34), Be16(frame + 36), frame[23], options.inPort,
                 Load<uint16_t>(frame + 34));
      status[i] = ParseError::kNone;
    } else {
      status[i] = ParseFrame(frame, lengths[i], options, keys[i]);
    }
  }
}

void ParseFrames(const uint8_t* buffer, const uint32_t* offsets, const uint32_t* lengths, size_t n,
                 const ParseOptions& options, PacketKey* keys, ParseError* status) {
#if defined(__x86_64__)
  if (CpuHasSsse3()) return ParseFramesShuffled(buffer, offsets, lengths, n, options, keys, status);
#endif
  ParseFramesPortable(buffer, offsets, lengths, n, options, keys, status);
}

}  // namespace pcloud::parse
