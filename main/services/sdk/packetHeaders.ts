/**
 * The headers a ring service needs to find and fix in the Ethernet frames it
 * gets: where the IP packet and its transport payload are (IPv4 and IPv6,
 * untagged or with one 802.1Q tag), and the Internet checksums (RFC 1071)
 * that change when a service rewrites a payload or builds a header.
 */

export interface FrameLayout {
  /** Offset of the IP header in the frame. */
  ip: number;
  version: 4 | 6;
  /** IP protocol (IPv4) or next header (IPv6, after no extension headers). */
  protocol: number;
  /** Offset of the transport header. */
  transport: number;
  /** Offset of the transport payload (after TCP, UDP or ICMP headers; = transport for other protocols). */
  payload: number;
  /** End of the IP packet in the frame (Ethernet padding excluded). */
  end: number;
}

export const ETHERTYPE_IPV4 = 0x0800;
export const ETHERTYPE_IPV6 = 0x86dd;
export const IPPROTO_ICMP = 1;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const IPPROTO_ESP = 50;
export const IPPROTO_ICMPV6 = 58;

const u16 = (b: Uint8Array, at: number): number => ((b[at] ?? 0) << 8) | (b[at + 1] ?? 0);

/** Where the IP packet lies in an Ethernet frame; null for anything but well-formed IPv4 or IPv6. */
export function ipPacketAt(frame: Uint8Array): { ip: number; version: 4 | 6; end: number } | null {
  let ip = 14;
  let type = u16(frame, 12);
  if (type === 0x8100) {
    type = u16(frame, 16);
    ip = 18;
  }
  if (type === ETHERTYPE_IPV4) {
    if (frame.length < ip + 20 || (frame[ip] ?? 0) >> 4 !== 4) return null;
    const end = ip + u16(frame, ip + 2);
    return end > frame.length || end < ip + 20 ? null : { ip, version: 4, end };
  }
  if (type === ETHERTYPE_IPV6) {
    if (frame.length < ip + 40 || (frame[ip] ?? 0) >> 4 !== 6) return null;
    const end = ip + 40 + u16(frame, ip + 4);
    return end > frame.length ? null : { ip, version: 6, end };
  }
  return null;
}

/** The frame's IP and transport layout; null when it is not IP or its headers do not fit. */
export function frameLayout(frame: Uint8Array): FrameLayout | null {
  const at = ipPacketAt(frame);
  if (!at) return null;
  const { ip, version, end } = at;
  let protocol: number;
  let transport: number;
  if (version === 4) {
    protocol = frame[ip + 9] ?? 0;
    transport = ip + ((frame[ip] ?? 0) & 0x0f) * 4;
    // A fragment after the first carries no transport header.
    if ((u16(frame, ip + 6) & 0x1fff) !== 0) return { ip, version, protocol, transport, payload: transport, end };
  } else {
    protocol = frame[ip + 6] ?? 0;
    transport = ip + 40;
  }
  if (transport > end) return null;
  let header = 0;
  if (protocol === IPPROTO_TCP) header = ((frame[transport + 12] ?? 0) >> 4) * 4;
  else if (protocol === IPPROTO_UDP || protocol === IPPROTO_ICMP || protocol === IPPROTO_ICMPV6) header = 8;
  if (transport + header > end) return null;
  return { ip, version, protocol, transport, payload: transport + header, end };
}

/** One's-complement sum of `bytes[from, to)` added to `sum` (not yet folded). */
function sum16(bytes: Uint8Array, from: number, to: number, sum = 0): number {
  let i = from;
  for (; i + 1 < to; i += 2) sum += ((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0);
  if (i < to) sum += (bytes[i] ?? 0) << 8;
  return sum;
}

function fold(sum: number): number {
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return ~sum & 0xffff;
}

/** Sets the IPv4 header checksum of the header at `ip`. */
export function setIpv4HeaderChecksum(frame: Uint8Array, ip: number): void {
  const length = ((frame[ip] ?? 0) & 0x0f) * 4;
  frame[ip + 10] = 0;
  frame[ip + 11] = 0;
  const c = fold(sum16(frame, ip, ip + length));
  frame[ip + 10] = c >> 8;
  frame[ip + 11] = c & 0xff;
}

/**
 * Recomputes the transport checksum after a payload changed: TCP, UDP (IPv4 UDP gets 0, "no
 * checksum", which RFC 768 allows and saves a pass over the payload), ICMP and ICMPv6.
 * Other protocols carry none to fix.
 */
export function setTransportChecksum(frame: Uint8Array, l: FrameLayout): void {
  let field: number;
  if (l.protocol === IPPROTO_TCP) field = l.transport + 16;
  else if (l.protocol === IPPROTO_UDP) field = l.transport + 6;
  else if (l.protocol === IPPROTO_ICMP || l.protocol === IPPROTO_ICMPV6) field = l.transport + 2;
  else return;
  if (l.payload === l.transport && l.protocol !== IPPROTO_ICMP) return; // a non-first fragment
  frame[field] = 0;
  frame[field + 1] = 0;
  if (l.protocol === IPPROTO_UDP && l.version === 4) return;
  let sum = 0;
  const length = l.end - l.transport;
  if (l.protocol !== IPPROTO_ICMP) {
    // The pseudo-header: addresses, protocol, length.
    sum = l.version === 4 ? sum16(frame, l.ip + 12, l.ip + 20) : sum16(frame, l.ip + 8, l.ip + 40);
    sum += l.protocol + length;
  }
  let c = fold(sum16(frame, l.transport, l.end, sum));
  if (c === 0 && l.protocol === IPPROTO_UDP) c = 0xffff;
  frame[field] = c >> 8;
  frame[field + 1] = c & 0xff;
}

/** The four bytes of a dotted-quad IPv4 address. */
export function ipv4Bytes(address: string): Uint8Array {
  return Uint8Array.from(address.split('.').map(Number));
}

/**
 * Writes the 20-byte IPv4 header of an outer packet a service sends itself (a tunnel's or an
 * optimizer's), checksum included. No DF: a router on the way may fragment it rather than lose it.
 */
export function writeOuterIpv4(out: Uint8Array, ip: number, h: { total: number; id: number; tos: number; protocol: number; source: Uint8Array; destination: Uint8Array }): void {
  out.fill(0, ip, ip + 20);
  out[ip] = 0x45;
  out[ip + 1] = h.tos;
  out[ip + 2] = h.total >> 8;
  out[ip + 3] = h.total & 0xff;
  out[ip + 4] = (h.id >> 8) & 0xff;
  out[ip + 5] = h.id & 0xff;
  out[ip + 8] = 64;
  out[ip + 9] = h.protocol;
  out.set(h.source, ip + 12);
  out.set(h.destination, ip + 16);
  setIpv4HeaderChecksum(out, ip);
}
