/**
 * The lab's userspace traffic source, for hosts that cannot build the lab's
 * network (no root, no Open vSwitch, macOS): it stands in for the front-end
 * routers and sends the lab's traffic as VXLAN over loopback to every
 * controller's uplink, with each cloudlet's VNI. It synthesizes the named
 * profiles between the topology's hosts (their planned 198.18.0.0/15
 * addresses) or replays classic pcap captures (Ethernet link type), paced and
 * bounded in packets per second and in time. It listens on the port the
 * controllers send their traffic back to, and counts what comes back.
 *
 * Who calls: the traffic runner of `pcctl lab traffic` in userspace mode.
 */
import { createSocket } from 'node:dgram';
import { readFileSync, writeFileSync } from 'node:fs';

export interface SourceTarget {
  cloudletId: string;
  port: number;
  vni: number;
}

export interface FlowEnds {
  client: { address: string; mac: string };
  server: { address: string; mac: string };
}

export const synthesizedProfiles = ['web', 'bulk', 'flood'] as const;
export type SynthesizedProfile = (typeof synthesizedProfiles)[number];

function addressBytes(address: string): number[] {
  return address.split('.').map(Number);
}

function macBytes(mac: string): number[] {
  return mac.split(':').map((x) => parseInt(x, 16));
}

/** RFC 1071 ones' complement sum, over `data` plus an optional pseudo-header sum. */
function internetChecksum(data: Uint8Array, initial = 0): number {
  let sum = initial;
  for (let i = 0; i + 1 < data.length; i += 2) sum += ((data[i] as number) << 8) | (data[i + 1] as number);
  if (data.length % 2) sum += (data[data.length - 1] as number) << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** An Ethernet + IPv4 frame around `l4` (protocol `proto`), with both checksums right. */
export function ipv4Frame(src: { address: string; mac: string }, dst: { address: string; mac: string }, proto: number, l4: Uint8Array, checksumAt: number | null): Buffer {
  const frame = Buffer.alloc(14 + 20 + l4.length);
  frame.set(macBytes(dst.mac), 0);
  frame.set(macBytes(src.mac), 6);
  frame.writeUInt16BE(0x0800, 12);
  const ip = frame.subarray(14, 34);
  ip[0] = 0x45;
  ip.writeUInt16BE(20 + l4.length, 2);
  ip[8] = 64;
  ip[9] = proto;
  ip.set(addressBytes(src.address), 12);
  ip.set(addressBytes(dst.address), 16);
  ip.writeUInt16BE(internetChecksum(ip), 10);
  frame.set(l4, 34);
  if (checksumAt !== null) {
    const body = frame.subarray(34);
    // TCP and UDP cover a pseudo-header (addresses, protocol, length); ICMP only itself.
    const pseudo = proto === 1 ? 0 : ip.readUInt16BE(12) + ip.readUInt16BE(14) + ip.readUInt16BE(16) + ip.readUInt16BE(18) + proto + l4.length;
    body.writeUInt16BE(internetChecksum(body, pseudo), checksumAt);
  }
  return frame;
}

function tcpSegment(sport: number, dport: number, seq: number, flags: number, payload: number): Uint8Array {
  const t = Buffer.alloc(20 + payload);
  t.writeUInt16BE(sport, 0);
  t.writeUInt16BE(dport, 2);
  t.writeUInt32BE(seq >>> 0, 4);
  t[12] = 0x50;
  t[13] = flags;
  t.writeUInt16BE(65535, 14);
  return t;
}

/** An ICMP echo request of `payload` zero bytes (its checksum left for ipv4Frame, at offset 2). */
export function icmpEcho(id: number, seq: number, payload: number): Uint8Array {
  const i = Buffer.alloc(8 + payload);
  i[0] = 8;
  i.writeUInt16BE(id, 4);
  i.writeUInt16BE(seq & 0xffff, 6);
  return i;
}

/**
 * The n-th frame of a synthesized profile: web is short requests to port 80 each answered by
 * three full segments, bulk is one TCP stream of full segments to iperf3's port, flood is ICMP
 * echo requests from the client (the attacker) to the server.
 */
export function synthesizedFrame(profile: SynthesizedProfile, ends: FlowEnds, n: number): Buffer {
  const { client, server } = ends;
  const tcp = (from: typeof client, to: typeof client, sport: number, dport: number, flags: number, payload: number): Buffer =>
    ipv4Frame(from, to, 6, tcpSegment(sport, dport, n * 1448, flags, payload), 16);
  if (profile === 'flood') return ipv4Frame(client, server, 1, icmpEcho(0x5043, n, 56), 2);
  if (profile === 'bulk') return tcp(client, server, 40000, 5201, 0x18, 1400);
  // web: four packets per request, a new client port per request.
  const port = 32768 + (Math.floor(n / 4) % 28000);
  return n % 4 === 0 ? tcp(client, server, port, 80, 0x18, 120) : tcp(server, client, 80, port, 0x18, 1400);
}

/** The Ethernet frames of a classic pcap file (microsecond or nanosecond, either byte order). */
export function readPcapFrames(file: string): Buffer[] {
  const data = readFileSync(file);
  if (data.length < 24) throw new Error(`${file} is too short to be a pcap capture`);
  const magic = data.readUInt32LE(0);
  const little = magic === 0xa1b2c3d4 || magic === 0xa1b23c4d;
  if (!little && magic !== 0xd4c3b2a1 && magic !== 0x4d3cb2a1) {
    throw new Error(`${file} is not a classic pcap capture (pcapng and others: convert with "editcap -F pcap")`);
  }
  const u32 = (at: number): number => (little ? data.readUInt32LE(at) : data.readUInt32BE(at));
  const linkType = u32(20) & 0xffff;
  if (linkType !== 1) throw new Error(`${file} has link type ${linkType}; only Ethernet (1) captures can be replayed as VXLAN`);
  const frames: Buffer[] = [];
  for (let at = 24; at + 16 <= data.length; ) {
    const captured = u32(at + 8);
    const start = at + 16;
    if (start + captured > data.length) break;
    frames.push(data.subarray(start, start + captured));
    at = start + captured;
  }
  if (frames.length === 0) throw new Error(`${file} holds no packets`);
  return frames;
}

/** Writes Ethernet frames as a classic pcap capture (microseconds, little-endian), for tcpreplay. */
export function writePcapFrames(file: string, frames: readonly Uint8Array[]): void {
  const header = Buffer.alloc(24);
  header.writeUInt32LE(0xa1b2c3d4, 0);
  header.writeUInt16LE(2, 4);
  header.writeUInt16LE(4, 6);
  header.writeUInt32LE(65535, 16);
  header.writeUInt32LE(1, 20);
  const records = frames.flatMap((f) => {
    const r = Buffer.alloc(16);
    r.writeUInt32LE(f.length, 8);
    r.writeUInt32LE(f.length, 12);
    return [r, f];
  });
  writeFileSync(file, Buffer.concat([header, ...records]));
}

function vxlan(vni: number, frame: Buffer): Buffer {
  const header = Buffer.alloc(8);
  header[0] = 0x08;
  header.writeUIntBE(vni, 4, 3);
  return Buffer.concat([header, frame]);
}

export interface SourceRun {
  sent: number;
  received: number;
}

/**
 * Sends `next(n)` to every target at `pps` until `durationMs` passes or `stop` aborts;
 * the socket is bound to `sourcePort`, where the controllers send their traffic back.
 */
export async function runTrafficSource(options: {
  sourcePort: number;
  targets: SourceTarget[];
  next: (n: number) => Buffer;
  pps: number;
  durationMs: number;
  stop?: AbortSignal;
}): Promise<SourceRun> {
  // Several profiles may run at once, all from the one port the controllers answer to.
  const socket = createSocket({ type: 'udp4', reusePort: true });
  const result: SourceRun = { sent: 0, received: 0 };
  socket.on('message', () => void result.received++);
  await new Promise<void>((resolve, reject) => {
    socket.once('error', (e) => reject(new Error(`the traffic source cannot use UDP port ${options.sourcePort} on 127.0.0.1: ${e.message}`)));
    socket.bind(options.sourcePort, '127.0.0.1', () => resolve());
  });
  socket.on('error', () => undefined);
  const started = Date.now();
  // A tick every 10 ms sends what the rate owes by then: bounded work per tick, whatever the rate.
  const tickMs = 10;
  try {
    let n = 0;
    while (!options.stop?.aborted && Date.now() - started < options.durationMs) {
      const owed = Math.min(Math.floor(((Date.now() - started) / 1000) * options.pps), n + Math.ceil((options.pps * tickMs) / 1000) * 4);
      for (; n < owed; n++) {
        const frame = options.next(n);
        for (const t of options.targets) {
          socket.send(vxlan(t.vni, frame), t.port, '127.0.0.1');
          result.sent++;
        }
      }
      await new Promise((r) => setTimeout(r, tickMs));
    }
  } finally {
    await new Promise<void>((resolve) => socket.close(() => resolve()));
  }
  return result;
}
