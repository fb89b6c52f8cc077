// Test-only: builds Ethernet frames from PacketHeaders, and packs frames into
// the (buffer, offsets, lengths) triple that FlowTable.classify takes.
import type { PacketHeader } from './naiveMatcher.ts';

export interface FrameOptions {
  vlans?: number[];
  /** 'later' makes a non-first fragment (no transport header). */
  fragment?: 'none' | 'first' | 'later';
  payload?: number;
}

export function ipv4Bytes(n: number): Uint8Array {
  const out = new Uint8Array(16);
  out[0] = n >>> 24;
  out[1] = (n >>> 16) & 0xff;
  out[2] = (n >>> 8) & 0xff;
  out[3] = n & 0xff;
  return out;
}

/** A header for an IPv4 packet; ports are dropped when the protocol or fragment carries none. */
export function ipv4Header(src: number, dst: number, sport: number, dport: number, proto: number, extra: Partial<PacketHeader> = {}): PacketHeader {
  const hasPorts = proto === 6 || proto === 17;
  return {
    family: 4, ethType: 0x0800, src: ipv4Bytes(src), dst: ipv4Bytes(dst), proto,
    sport: hasPorts ? sport : undefined, dport: hasPorts ? dport : undefined, inPort: 0, vni: undefined, ...extra,
  };
}

function transport(h: PacketHeader, fragment: FrameOptions['fragment'], payload: number): Uint8Array {
  if (fragment === 'later') return new Uint8Array(8 + payload);
  if (h.proto === 6) {
    const t = new Uint8Array(20 + payload);
    const v = new DataView(t.buffer);
    v.setUint16(0, h.sport ?? 0);
    v.setUint16(2, h.dport ?? 0);
    t[12] = 0x50;
    t[13] = 0x02;
    return t;
  }
  if (h.proto === 17) {
    const t = new Uint8Array(8 + payload);
    const v = new DataView(t.buffer);
    v.setUint16(0, h.sport ?? 0);
    v.setUint16(2, h.dport ?? 0);
    v.setUint16(4, t.length);
    return t;
  }
  const t = new Uint8Array(8 + payload);
  if (h.proto === 1 || h.proto === 58) t[0] = 8;
  return t;
}

function ipPacket(h: PacketHeader, o: FrameOptions): Uint8Array {
  const l4 = transport(h, o.fragment, o.payload ?? 0);
  if (h.family === 4) {
    const ip = new Uint8Array(20 + l4.length);
    const v = new DataView(ip.buffer);
    ip[0] = 0x45;
    v.setUint16(2, ip.length);
    if (o.fragment === 'first') v.setUint16(6, 0x2000);
    if (o.fragment === 'later') v.setUint16(6, 0x2000 | 185);
    ip[8] = 64;
    ip[9] = h.proto ?? 0;
    ip.set(h.src.subarray(0, 4), 12);
    ip.set(h.dst.subarray(0, 4), 16);
    ip.set(l4, 20);
    return ip;
  }
  const frag = o.fragment === 'first' || o.fragment === 'later';
  const ext = frag ? 8 : 0;
  const ip = new Uint8Array(40 + ext + l4.length);
  const v = new DataView(ip.buffer);
  ip[0] = 0x60;
  v.setUint16(4, ext + l4.length);
  ip[6] = frag ? 44 : (h.proto ?? 59);
  ip[7] = 64;
  ip.set(h.src, 8);
  ip.set(h.dst, 24);
  if (frag) {
    ip[40] = h.proto ?? 59;
    v.setUint16(42, o.fragment === 'later' ? (185 << 3) | 1 : 1);
    v.setUint32(44, 0x1234);
  }
  ip.set(l4, 40 + ext);
  return ip;
}

function ethernet(ethType: number, payload: Uint8Array, vlans: number[] = []): Uint8Array {
  const f = new Uint8Array(14 + 4 * vlans.length + payload.length);
  const v = new DataView(f.buffer);
  f.set([0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2]);
  let o = 12;
  vlans.forEach((id, i) => {
    v.setUint16(o, i === 0 && vlans.length > 1 ? 0x88a8 : 0x8100);
    v.setUint16(o + 2, id & 0xfff);
    o += 4;
  });
  v.setUint16(o, ethType);
  f.set(payload, o + 2);
  return f;
}

/** An Ethernet frame carrying `h`; wrapped in VXLAN (outer UDP to 4789) when h.vni is set. */
export function buildFrame(h: PacketHeader, o: FrameOptions = {}): Uint8Array {
  const inner = h.family === 0 ? ethernet(h.ethType, new Uint8Array(46), o.vlans) : ethernet(h.family === 4 ? 0x0800 : 0x86dd, ipPacket(h, o), o.vlans);
  if (h.vni === undefined) return inner;
  const vxlan = new Uint8Array(8 + inner.length);
  vxlan[0] = 0x08;
  vxlan[4] = (h.vni >>> 16) & 0xff;
  vxlan[5] = (h.vni >>> 8) & 0xff;
  vxlan[6] = h.vni & 0xff;
  vxlan.set(inner, 8);
  const outer: PacketHeader = ipv4Header(0xc0a80001, 0xc0a80002, 49152, 4789, 17);
  const udp = new Uint8Array(8 + vxlan.length);
  const uv = new DataView(udp.buffer);
  uv.setUint16(0, 49152);
  uv.setUint16(2, 4789);
  uv.setUint16(4, udp.length);
  udp.set(vxlan, 8);
  const ip = new Uint8Array(20 + udp.length);
  const iv = new DataView(ip.buffer);
  ip[0] = 0x45;
  iv.setUint16(2, ip.length);
  ip[8] = 64;
  ip[9] = 17;
  ip.set(outer.src.subarray(0, 4), 12);
  ip.set(outer.dst.subarray(0, 4), 16);
  ip.set(udp, 20);
  return ethernet(0x0800, ip);
}

export interface FrameBatch {
  buffer: Uint8Array;
  offsets: Uint32Array;
  lengths: Uint32Array;
}

export function packFrames(frames: readonly Uint8Array[]): FrameBatch {
  const total = frames.reduce((n, f) => n + f.length, 0);
  const buffer = new Uint8Array(total);
  const offsets = new Uint32Array(frames.length);
  const lengths = new Uint32Array(frames.length);
  let o = 0;
  frames.forEach((f, i) => {
    buffer.set(f, o);
    offsets[i] = o;
    lengths[i] = f.length;
    o += f.length;
  });
  return { buffer, offsets, lengths };
}

/** Deterministic PRNG so failures reproduce (shared with the benchmarks). */
export { seededRandom } from '../../main/console/experiments/seededRandom.ts';

export function shuffle<T>(items: T[], random: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const a = items[i] as T;
    items[i] = items[j] as T;
    items[j] = a;
  }
  return items;
}
