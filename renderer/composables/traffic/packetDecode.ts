/**
 * Decoding a sampled packet's captured bytes (at most 256 of the inner frame,
 * so every layer may be cut short) into a protocol tree: Ethernet, 802.1Q
 * VLAN tags, IPv4, IPv6, TCP, UDP, ICMP/ICMPv6 and VXLAN (whose inner frame is
 * decoded again). Each tree node knows the bytes it covers, for the hex pane's
 * highlight, and carries the display-filter field it answers to (displayFilter.ts
 * reads the same tree, so what the tree shows is what the filter matches).
 *
 * Decoding happens for one packet at a time: the selected one for the tree,
 * and lazily, once per packet, when a display filter or a top-N table needs
 * its fields.
 */

export type FieldValue = { kind: 'number'; value: number } | { kind: 'string'; value: string } | { kind: 'ip'; version: 4 | 6; value: bigint };

export interface TreeNode {
  label: string;
  /** First byte it covers in the captured bytes, and how many. */
  start: number;
  length: number;
  /** Display-filter field name (e.g. "ip.src"), when the node is a field. */
  field?: string;
  value?: FieldValue;
  children?: TreeNode[];
}

/** A protocol layer: its tree node and whether it was cut short by the capture length. */
export interface DecodedPacket {
  layers: TreeNode[];
  /** Filter fields in order of appearance (one field may occur several times, e.g. ip.src inside VXLAN). */
  fields: Map<string, FieldValue[]>;
  /** One-line summary for the packet list. */
  summary: PacketSummary;
}

export interface PacketSummary {
  src: string;
  dst: string;
  protocol: string;
  info: string;
  /** Transport 5-tuple of the innermost IP packet, when there is one (for follow and top-N). */
  flow: FlowKey | null;
}

export interface FlowKey {
  version: 4 | 6;
  src: string;
  dst: string;
  proto: number;
  protoName: string;
  srcPort: number | null;
  dstPort: number | null;
}

export const VXLAN_PORT = 4789;
const ipProtocols: Record<number, string> = { 1: 'ICMP', 6: 'TCP', 17: 'UDP', 58: 'ICMPv6', 47: 'GRE', 50: 'ESP', 132: 'SCTP' };
const etherTypes: Record<number, string> = { 0x0800: 'IPv4', 0x86dd: 'IPv6', 0x0806: 'ARP', 0x8100: '802.1Q', 0x88a8: '802.1ad' };
const tcpFlagNames = ['FIN', 'SYN', 'RST', 'PSH', 'ACK', 'URG', 'ECE', 'CWR'];

export function ipv4Text(value: bigint | number): string {
  const v = Number(value);
  return [24, 16, 8, 0].map((s) => (v >>> s) & 0xff).join('.');
}

export function ipv6Text(value: bigint): string {
  const groups: number[] = [];
  for (let i = 7; i >= 0; i--) groups.push(Number((value >> BigInt(i * 16)) & 0xffffn));
  // RFC 5952: the longest run of two or more zero groups becomes "::".
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) [bestStart, bestLength] = [i, j - i];
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`;
}

export function fieldText(v: FieldValue): string {
  if (v.kind === 'ip') return v.version === 4 ? ipv4Text(v.value) : ipv6Text(v.value);
  return String(v.value);
}

function macText(b: Uint8Array, at: number): string {
  return [...b.subarray(at, at + 6)].map((x) => x.toString(16).padStart(2, '0')).join(':');
}

/** Reads within the captured bytes; a layer cut short says so instead of failing. */
class Reader {
  readonly b: Uint8Array;
  constructor(b: Uint8Array) {
    this.b = b;
  }
  has(at: number, n: number): boolean {
    return at + n <= this.b.length;
  }
  u8(at: number): number {
    return this.b[at] ?? 0;
  }
  u16(at: number): number {
    return ((this.b[at] ?? 0) << 8) | (this.b[at + 1] ?? 0);
  }
  u32(at: number): number {
    return (((this.b[at] ?? 0) << 24) | ((this.b[at + 1] ?? 0) << 16) | ((this.b[at + 2] ?? 0) << 8) | (this.b[at + 3] ?? 0)) >>> 0;
  }
  big(at: number, n: number): bigint {
    let v = 0n;
    for (let i = 0; i < n; i++) v = (v << 8n) | BigInt(this.b[at + i] ?? 0);
    return v;
  }
}

class Decoder {
  readonly r: Reader;
  readonly fields = new Map<string, FieldValue[]>();
  readonly layers: TreeNode[] = [];
  summary: PacketSummary = { src: '', dst: '', protocol: 'Ethernet', info: '', flow: null };

  constructor(bytes: Uint8Array) {
    this.r = new Reader(bytes);
  }

  /** A field node; registers its value under its filter name. */
  field(name: string, label: string, start: number, length: number, value: FieldValue): TreeNode {
    let list = this.fields.get(name);
    if (!list) this.fields.set(name, (list = []));
    list.push(value);
    return { label: `${label}: ${fieldText(value)}`, start, length, field: name, value };
  }

  num(name: string, label: string, start: number, length: number, value: number): TreeNode {
    return this.field(name, label, start, length, { kind: 'number', value });
  }

  /** The protocol itself present (e.g. "tcp"), for filters that name only the protocol. */
  present(name: string): void {
    if (!this.fields.has(name)) this.fields.set(name, []);
    this.fields.get(name)?.push({ kind: 'number', value: 1 });
  }

  truncated(label: string, start: number): TreeNode {
    return { label: `${label} [cut short: the sample holds ${Math.max(0, this.r.b.length - start)} byte(s) of it]`, start, length: Math.max(0, this.r.b.length - start) };
  }

  ethernet(at: number, into: TreeNode[]): void {
    const r = this.r;
    if (!r.has(at, 14)) {
      into.push(this.truncated('Ethernet II', at));
      return;
    }
    this.present('eth');
    const children: TreeNode[] = [
      this.field('eth.dst', 'Destination', at, 6, { kind: 'string', value: macText(r.b, at) }),
      this.field('eth.src', 'Source', at + 6, 6, { kind: 'string', value: macText(r.b, at + 6) }),
    ];
    const node: TreeNode = { label: `Ethernet II, ${macText(r.b, at + 6)} → ${macText(r.b, at)}`, start: at, length: 14, children };
    into.push(node);
    let typeAt = at + 12;
    let type = r.u16(typeAt);
    let next = at + 14;
    // 802.1Q / 802.1ad tags, as many as there are.
    while ((type === 0x8100 || type === 0x88a8) && r.has(next, 4)) {
      this.present('vlan');
      const tci = r.u16(next);
      const inner = r.u16(next + 2);
      into.push({
        label: `802.1Q Virtual LAN, PRI: ${tci >> 13}, ID: ${tci & 0xfff}`,
        start: typeAt,
        length: 6,
        children: [
          this.num('vlan.priority', 'Priority', next, 2, tci >> 13),
          this.num('vlan.id', 'ID', next, 2, tci & 0xfff),
          this.num('vlan.etype', 'Type', next + 2, 2, inner),
        ],
      });
      typeAt = next + 2;
      type = inner;
      next += 4;
    }
    children.push(this.num('eth.type', `Type (${etherTypes[type] ?? 'unknown'})`, typeAt, 2, type));
    node.length = next - at;
    if (type === 0x0800) this.ipv4(next, into);
    else if (type === 0x86dd) this.ipv6(next, into);
    else {
      this.summary.protocol = etherTypes[type] ?? `0x${type.toString(16).padStart(4, '0')}`;
      this.summary.src = macText(r.b, at + 6);
      this.summary.dst = macText(r.b, at);
    }
  }

  ipv4(at: number, into: TreeNode[]): void {
    const r = this.r;
    if (!r.has(at, 20)) {
      into.push(this.truncated('Internet Protocol Version 4', at));
      return;
    }
    this.present('ip');
    const ihl = (r.u8(at) & 0x0f) * 4;
    const total = r.u16(at + 2);
    const proto = r.u8(at + 9);
    const src = r.big(at + 12, 4);
    const dst = r.big(at + 16, 4);
    const fragOffset = r.u16(at + 6) & 0x1fff;
    into.push({
      label: `Internet Protocol Version 4, Src: ${ipv4Text(src)}, Dst: ${ipv4Text(dst)}`,
      start: at,
      length: ihl,
      children: [
        this.num('ip.hdr_len', 'Header length', at, 1, ihl),
        this.num('ip.dsfield', 'Differentiated services field', at + 1, 1, r.u8(at + 1)),
        this.num('ip.len', 'Total length', at + 2, 2, total),
        this.num('ip.id', 'Identification', at + 4, 2, r.u16(at + 4)),
        this.num('ip.frag_offset', 'Fragment offset', at + 6, 2, fragOffset),
        this.num('ip.ttl', 'Time to live', at + 8, 1, r.u8(at + 8)),
        this.num('ip.proto', `Protocol (${ipProtocols[proto] ?? 'unknown'})`, at + 9, 1, proto),
        this.num('ip.checksum', 'Header checksum', at + 10, 2, r.u16(at + 10)),
        this.field('ip.src', 'Source address', at + 12, 4, { kind: 'ip', version: 4, value: src }),
        this.field('ip.dst', 'Destination address', at + 16, 4, { kind: 'ip', version: 4, value: dst }),
      ],
    });
    this.summary.src = ipv4Text(src);
    this.summary.dst = ipv4Text(dst);
    this.summary.protocol = 'IPv4';
    const flow: FlowKey = { version: 4, src: this.summary.src, dst: this.summary.dst, proto, protoName: ipProtocols[proto] ?? String(proto), srcPort: null, dstPort: null };
    this.summary.flow = flow;
    // Only the first fragment carries the transport header.
    if (fragOffset === 0) this.transport(proto, at + ihl, into, flow);
    else this.summary.info = `Fragment at offset ${fragOffset * 8}`;
  }

  ipv6(at: number, into: TreeNode[]): void {
    const r = this.r;
    if (!r.has(at, 40)) {
      into.push(this.truncated('Internet Protocol Version 6', at));
      return;
    }
    this.present('ipv6');
    const next = r.u8(at + 6);
    const src = r.big(at + 8, 16);
    const dst = r.big(at + 24, 16);
    into.push({
      label: `Internet Protocol Version 6, Src: ${ipv6Text(src)}, Dst: ${ipv6Text(dst)}`,
      start: at,
      length: 40,
      children: [
        this.num('ipv6.flow', 'Flow label', at + 1, 3, r.u32(at) & 0xfffff),
        this.num('ipv6.plen', 'Payload length', at + 4, 2, r.u16(at + 4)),
        this.num('ipv6.nxt', `Next header (${ipProtocols[next] ?? 'unknown'})`, at + 6, 1, next),
        this.num('ipv6.hlim', 'Hop limit', at + 7, 1, r.u8(at + 7)),
        this.field('ipv6.src', 'Source address', at + 8, 16, { kind: 'ip', version: 6, value: src }),
        this.field('ipv6.dst', 'Destination address', at + 24, 16, { kind: 'ip', version: 6, value: dst }),
      ],
    });
    this.summary.src = ipv6Text(src);
    this.summary.dst = ipv6Text(dst);
    this.summary.protocol = 'IPv6';
    const flow: FlowKey = { version: 6, src: this.summary.src, dst: this.summary.dst, proto: next, protoName: ipProtocols[next] ?? String(next), srcPort: null, dstPort: null };
    this.summary.flow = flow;
    this.transport(next, at + 40, into, flow);
  }

  transport(proto: number, at: number, into: TreeNode[], flow: FlowKey): void {
    if (proto === 6) this.tcp(at, into, flow);
    else if (proto === 17) this.udp(at, into, flow);
    else if (proto === 1 || proto === 58) this.icmp(at, into, proto === 58);
    else this.summary.info = `${ipProtocols[proto] ?? `protocol ${proto}`}`;
  }

  tcp(at: number, into: TreeNode[], flow: FlowKey): void {
    const r = this.r;
    if (!r.has(at, 20)) {
      into.push(this.truncated('Transmission Control Protocol', at));
      this.summary.protocol = 'TCP';
      return;
    }
    this.present('tcp');
    const sport = r.u16(at);
    const dport = r.u16(at + 2);
    const flags = r.u8(at + 13);
    const names = tcpFlagNames.filter((_, i) => flags & (1 << i));
    into.push({
      label: `Transmission Control Protocol, Src Port: ${sport}, Dst Port: ${dport}`,
      start: at,
      length: Math.min(((r.u8(at + 12) >> 4) || 5) * 4, r.b.length - at),
      children: [
        this.num('tcp.srcport', 'Source port', at, 2, sport),
        this.num('tcp.dstport', 'Destination port', at + 2, 2, dport),
        this.num('tcp.seq', 'Sequence number (raw)', at + 4, 4, r.u32(at + 4)),
        this.num('tcp.ack', 'Acknowledgment number (raw)', at + 8, 4, r.u32(at + 8)),
        this.num('tcp.flags', `Flags [${names.join(', ')}]`, at + 12, 2, flags),
        this.num('tcp.window_size', 'Window', at + 14, 2, r.u16(at + 14)),
        this.num('tcp.checksum', 'Checksum', at + 16, 2, r.u16(at + 16)),
      ],
    });
    this.ports('tcp', sport, dport);
    Object.assign(flow, { srcPort: sport, dstPort: dport });
    this.summary.protocol = 'TCP';
    this.summary.info = `${sport} → ${dport} [${names.join(', ')}]`;
  }

  udp(at: number, into: TreeNode[], flow: FlowKey): void {
    const r = this.r;
    if (!r.has(at, 8)) {
      into.push(this.truncated('User Datagram Protocol', at));
      this.summary.protocol = 'UDP';
      return;
    }
    this.present('udp');
    const sport = r.u16(at);
    const dport = r.u16(at + 2);
    into.push({
      label: `User Datagram Protocol, Src Port: ${sport}, Dst Port: ${dport}`,
      start: at,
      length: 8,
      children: [
        this.num('udp.srcport', 'Source port', at, 2, sport),
        this.num('udp.dstport', 'Destination port', at + 2, 2, dport),
        this.num('udp.length', 'Length', at + 4, 2, r.u16(at + 4)),
        this.num('udp.checksum', 'Checksum', at + 6, 2, r.u16(at + 6)),
      ],
    });
    this.ports('udp', sport, dport);
    Object.assign(flow, { srcPort: sport, dstPort: dport });
    this.summary.protocol = 'UDP';
    this.summary.info = `${sport} → ${dport} Len=${Math.max(0, r.u16(at + 4) - 8)}`;
    if (dport === VXLAN_PORT) this.vxlan(at + 8, into);
  }

  ports(proto: 'tcp' | 'udp', sport: number, dport: number): void {
    // tcp.port / udp.port / port answer to either end, as in Wireshark.
    for (const p of [sport, dport]) {
      for (const name of [`${proto}.port`, 'port']) {
        if (!this.fields.has(name)) this.fields.set(name, []);
        this.fields.get(name)?.push({ kind: 'number', value: p });
      }
    }
  }

  icmp(at: number, into: TreeNode[], v6: boolean): void {
    const r = this.r;
    const name = v6 ? 'icmpv6' : 'icmp';
    const title = v6 ? 'Internet Control Message Protocol v6' : 'Internet Control Message Protocol';
    this.summary.protocol = v6 ? 'ICMPv6' : 'ICMP';
    if (!r.has(at, 4)) {
      into.push(this.truncated(title, at));
      return;
    }
    this.present(name);
    const type = r.u8(at);
    const code = r.u8(at + 1);
    into.push({
      label: title,
      start: at,
      length: Math.min(8, r.b.length - at),
      children: [this.num(`${name}.type`, 'Type', at, 1, type), this.num(`${name}.code`, 'Code', at + 1, 1, code), this.num(`${name}.checksum`, 'Checksum', at + 2, 2, r.u16(at + 2))],
    });
    const words: Record<number, string> = v6 ? { 128: 'Echo (ping) request', 129: 'Echo (ping) reply', 1: 'Destination unreachable' } : { 8: 'Echo (ping) request', 0: 'Echo (ping) reply', 3: 'Destination unreachable', 11: 'Time exceeded' };
    this.summary.info = `${words[type] ?? `type ${type}`}, code ${code}`;
  }

  vxlan(at: number, into: TreeNode[]): void {
    const r = this.r;
    if (!r.has(at, 8)) {
      into.push(this.truncated('Virtual eXtensible Local Area Network', at));
      return;
    }
    this.present('vxlan');
    const vni = r.u32(at + 4) >>> 8;
    const inner: TreeNode[] = [];
    into.push({
      label: `Virtual eXtensible Local Area Network, VNI: ${vni}`,
      start: at,
      length: 8,
      children: [this.num('vxlan.flags', 'Flags', at, 1, r.u8(at)), this.num('vxlan.vni', 'VNI', at + 4, 3, vni)],
    });
    // The inner frame's layers follow in the tree as Wireshark shows them: after the VXLAN header.
    this.ethernet(at + 8, inner);
    into.push(...inner);
    if (!this.summary.info.startsWith('VXLAN')) this.summary.info = `VXLAN ${vni}: ${this.summary.info}`;
  }
}

export function decodePacket(bytes: Uint8Array): DecodedPacket {
  const d = new Decoder(bytes);
  d.ethernet(0, d.layers);
  return { layers: d.layers, fields: d.fields, summary: d.summary };
}

/** Base64 (the wire form of a sample's bytes) to bytes, without Node's Buffer. */
export function base64Bytes(text: string): Uint8Array {
  const raw = atob(text);
  const out = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
  return out;
}
