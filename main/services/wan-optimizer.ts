/**
 * wan-optimizer: a pair of VIs in two cloudlets that compress what crosses
 * the wide area between them (the paper's WANProxy row of Table 3). The
 * compressing end gets the packets for the far branch, deflates each whole
 * inner packet with Node's zlib, using as dictionary the flow's last few
 * packets (repeated content compresses to references), and sends it to the
 * far end's address as IP protocol 253 (RFC 3692, for experiments); the far
 * end inflates it with the same dictionary and sends the original packet on,
 * byte for byte.
 *
 * Loss and reordering: each packet names the flow sequence numbers of the
 * packets that form its dictionary; the far end keeps the flow's recent
 * packets by sequence number and drops (and counts) a packet whose dictionary
 * it does not have, and the transport retransmits it, with a dictionary of
 * packets that did arrive. A CRC-32 of the original packet guards against a
 * wrong dictionary (a flow id collision): a mismatch is dropped and counted,
 * never delivered. A packet that does not shrink is sent as it is (flagged).
 *
 * Wire format after the outer IPv4 header: version (1), flags (bit 0:
 * deflated), dictionary count k (2), flow id (4), sequence (4), CRC-32 of the
 * original (4), k sequence numbers (4 each), then the packet.
 *
 * Counters: packets, bytesIn (original packets), bytesOut (what crossed),
 * ratio (bytesOut / bytesIn), raw (sent undeflated), restored,
 * restoredBytes, dictionaryMiss, corrupt, tooBig, notIp.
 */
import { crc32, deflateRawSync, inflateRawSync } from 'node:zlib';
import { z } from 'zod';
import { integerArg, ipv4Arg, readArgs, runsAsProgram, type ServiceDescriptor } from './sdk/descriptor.ts';
import { ETHERTYPE_IPV4, ETHERTYPE_IPV6, ipPacketAt, ipv4Bytes, writeOuterIpv4 } from './sdk/packetHeaders.ts';
import { runRingService, type RingBatch } from './sdk/ringService.ts';
import { ServiceCounters } from './sdk/serviceCounters.ts';

/** IP protocol number for experimentation and testing (RFC 3692). */
export const IPPROTO_WAN_OPTIMIZER = 253;
const HEADER_BYTES = 16;
const OUTER_IPV4_BYTES = 20;
/** Flows remembered at each end (the oldest is forgotten first). */
const MAX_FLOWS = 1024;
/** Packets kept per flow at the restoring end, by sequence number. */
const KEPT_PER_FLOW = 64;

export const descriptor: ServiceDescriptor = {
  program: 'wan-optimizer',
  summary: 'a pair of VIs compressing traffic between two cloudlets (deflate per flow, recent packets as dictionary), restored byte for byte',
  mode: 'transparent',
  port: { kind: 'ring', layout: 'single' },
  args: z.strictObject({
    local: ipv4Arg().describe("this end's address: compressed packets leave from it and are received for it"),
    remote: ipv4Arg().describe("the far end's address"),
    level: integerArg(1, 9).describe('deflate level 1-9 (default 6)').optional(),
    'dictionary-packets': integerArg(0, 8).describe("how many of the flow's last packets form the dictionary (default 4)").optional(),
  }) as z.ZodType<Record<string, string>>,
  availability: () => null,
};

/** A flow's 5-tuple (or addresses and protocol) as a string, and a 32-bit id of it (FNV-1a). */
function flowOf(p: Uint8Array, ip: number, version: 4 | 6): { key: string; id: number } {
  const [from, to, proto, transport] = version === 4 ? [ip + 12, ip + 20, p[ip + 9] ?? 0, ip + ((p[ip] ?? 0) & 0x0f) * 4] : [ip + 8, ip + 40, p[ip + 6] ?? 0, ip + 40];
  const ports = proto === 6 || proto === 17 ? 4 : 0;
  let id = 0x811c9dc5;
  const parts: number[] = [proto];
  for (let i = from; i < to; i++) parts.push(p[i] ?? 0);
  for (let i = transport; i < transport + ports; i++) parts.push(p[i] ?? 0);
  for (const b of parts) id = Math.imul(id ^ b, 0x01000193) >>> 0;
  return { key: parts.join('.'), id };
}

interface SendingFlow {
  id: number;
  next: number;
  recent: { seq: number; packet: Buffer }[];
}

export class WanOptimizerEnd {
  private readonly local: Uint8Array;
  private readonly remote: Uint8Array;
  private readonly level: number;
  private readonly dictionaryPackets: number;
  private readonly maxFrame: number;
  readonly counters: ServiceCounters;
  private readonly sending = new Map<string, SendingFlow>();
  private readonly restoring = new Map<number, Map<number, Buffer>>();
  private readonly frame: Uint8Array;
  private ipId = 0;

  constructor(o: { local: string; remote: string; level: number; dictionaryPackets: number; maxFrame: number; counters: ServiceCounters }) {
    this.local = ipv4Bytes(o.local);
    this.remote = ipv4Bytes(o.remote);
    this.level = o.level;
    this.dictionaryPackets = o.dictionaryPackets;
    this.maxFrame = o.maxFrame;
    this.counters = o.counters;
    this.frame = new Uint8Array(o.maxFrame);
  }

  onBatch(batch: RingBatch): void {
    for (let i = 0; i < batch.count; i++) {
      const f = batch.frame(i);
      const at = ipPacketAt(f);
      if (!at) {
        this.counters.add('notIp');
        continue;
      }
      const local = at.version === 4 && f[at.ip + 9] === IPPROTO_WAN_OPTIMIZER && f[at.ip + 16] === this.local[0] && f[at.ip + 17] === this.local[1] && f[at.ip + 18] === this.local[2] && f[at.ip + 19] === this.local[3];
      if (local) this.restore(batch, i, f, at.ip, at.ip + ((f[at.ip] ?? 0) & 0x0f) * 4, at.end);
      else this.compress(batch, i, f, at.ip, at.end, at.version);
    }
    const c = this.counters.values;
    if (c.bytesIn) this.counters.set('ratio', Number(((c.bytesOut ?? 0) / c.bytesIn).toFixed(4)));
  }

  private compress(batch: RingBatch, i: number, f: Uint8Array, ip: number, end: number, version: 4 | 6): void {
    const packet = Buffer.from(f.subarray(ip, end));
    const { key, id } = flowOf(f, ip, version);
    let flow = this.sending.get(key);
    if (!flow) {
      if (this.sending.size >= MAX_FLOWS) this.sending.delete(this.sending.keys().next().value as string);
      flow = { id, next: 1, recent: [] };
      this.sending.set(key, flow);
    }
    const seq = flow.next++;
    const refs = flow.recent.slice(-this.dictionaryPackets);
    const deflated = deflateRawSync(packet, { level: this.level, ...(refs.length ? { dictionary: Buffer.concat(refs.map((r) => r.packet)) } : {}) });
    const compressed = deflated.length < packet.length;
    const body = compressed ? deflated : packet;
    flow.recent.push({ seq, packet });
    if (flow.recent.length > this.dictionaryPackets) flow.recent.shift();
    const used = compressed ? refs : [];
    const l2 = ip;
    const total = OUTER_IPV4_BYTES + HEADER_BYTES + 4 * used.length + body.length;
    if (l2 + total > this.maxFrame) {
      this.counters.add('tooBig');
      return;
    }
    const out = this.frame;
    out.set(f.subarray(0, l2), 0);
    out[l2 - 2] = ETHERTYPE_IPV4 >> 8;
    out[l2 - 1] = ETHERTYPE_IPV4 & 0xff;
    const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
    this.ipId = (this.ipId + 1) & 0xffff;
    writeOuterIpv4(out, ip, { total, id: this.ipId, tos: 0, protocol: IPPROTO_WAN_OPTIMIZER, source: this.local, destination: this.remote });
    const h = ip + OUTER_IPV4_BYTES;
    out[h] = 1;
    out[h + 1] = compressed ? 1 : 0;
    view.setUint16(h + 2, used.length);
    view.setUint32(h + 4, flow.id);
    view.setUint32(h + 8, seq);
    view.setUint32(h + 12, crc32(packet));
    used.forEach((r, k) => view.setUint32(h + HEADER_BYTES + 4 * k, r.seq));
    out.set(body, h + HEADER_BYTES + 4 * used.length);
    batch.replace(i, out.subarray(0, l2 + total));
    this.counters.add('packets');
    this.counters.add('bytesIn', packet.length);
    this.counters.add('bytesOut', HEADER_BYTES + 4 * used.length + body.length);
    if (!compressed) this.counters.add('raw');
  }

  private restore(batch: RingBatch, i: number, f: Uint8Array, ip: number, h: number, end: number): void {
    const view = new DataView(f.buffer, f.byteOffset, f.byteLength);
    if (end - h < HEADER_BYTES || f[h] !== 1) {
      this.counters.add('corrupt');
      return;
    }
    const compressed = ((f[h + 1] ?? 0) & 1) === 1;
    const k = view.getUint16(h + 2);
    const flowId = view.getUint32(h + 4);
    const seq = view.getUint32(h + 8);
    const crc = view.getUint32(h + 12);
    const bodyAt = h + HEADER_BYTES + 4 * k;
    if (bodyAt > end) {
      this.counters.add('corrupt');
      return;
    }
    let kept = this.restoring.get(flowId);
    if (!kept) {
      if (this.restoring.size >= MAX_FLOWS) this.restoring.delete(this.restoring.keys().next().value as number);
      kept = new Map();
      this.restoring.set(flowId, kept);
    }
    const dictionary: Buffer[] = [];
    for (let r = 0; r < k; r++) {
      const p = kept.get(view.getUint32(h + HEADER_BYTES + 4 * r));
      if (!p) {
        this.counters.add('dictionaryMiss');
        return;
      }
      dictionary.push(p);
    }
    const body = f.subarray(bodyAt, end);
    let packet: Buffer;
    try {
      packet = compressed ? inflateRawSync(body, dictionary.length ? { dictionary: Buffer.concat(dictionary) } : {}) : Buffer.from(body);
    } catch {
      this.counters.add('corrupt');
      return;
    }
    const version = (packet[0] ?? 0) >> 4;
    if (crc32(packet) !== crc || (version !== 4 && version !== 6) || ip + packet.length > this.maxFrame) {
      this.counters.add('corrupt');
      return;
    }
    kept.set(seq, packet);
    if (kept.size > KEPT_PER_FLOW) kept.delete(kept.keys().next().value as number);
    const out = this.frame;
    out.set(f.subarray(0, ip), 0);
    const type = version === 4 ? ETHERTYPE_IPV4 : ETHERTYPE_IPV6;
    out[ip - 2] = type >> 8;
    out[ip - 1] = type & 0xff;
    out.set(packet, ip);
    batch.replace(i, out.subarray(0, ip + packet.length));
    this.counters.add('restored');
    this.counters.add('restoredBytes', packet.length);
  }
}

if (runsAsProgram('wan-optimizer', import.meta.url)) {
  const args = readArgs(descriptor);
  const counters = new ServiceCounters();
  let end: WanOptimizerEnd | undefined;
  const { received } = await runRingService({
    onBatch: (batch) => {
      end ??= new WanOptimizerEnd({ local: args.local ?? '', remote: args.remote ?? '', level: Number(args.level ?? 6), dictionaryPackets: Number(args['dictionary-packets'] ?? 4), maxFrame: batch.received.length / batch.capacity, counters });
      end.onBatch(batch);
    },
    counters,
  });
  process.stdout.write(`wan-optimizer: stopped after ${received} packets\n`);
}
