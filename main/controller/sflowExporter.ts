/**
 * sFlow v5 export (sflow.org "sFlow Version 5" and "sFlow Tunnel Structures")
 * of the data plane's packet samples and of VI port counters, to the
 * collectors in the config, over UDP.
 *
 * The model a collector sees: the cloudlet is an sFlow agent (the
 * controller's address, a sub-agent id) with one port for the uplink to the
 * front-end router (ifIndex 1) and one port per VI. A sample of a packet to a
 * VI came in on the uplink and left on the VI's port; a sample from a VI came
 * in on the VI's port and left on the uplink; a dropped, policed or spoofed
 * packet left nowhere (output "discarded" with the sFlow reason code). The
 * data source of a sample is the VI's port. Each flow sample is a
 * flow_sample_expanded carrying a sampled_header (the inner Ethernet frame,
 * as captured) and the VXLAN VNI the packet came with (extended_vni_ingress)
 * or leaves with (extended_vni_egress). Every counterIntervalMs a
 * counters_sample_expanded per VI port carries generic interface counters:
 * in = from the VI, out = to the VI.
 *
 * The data plane samples per demux rule, and a VI may have several rules at
 * different rates: each flow sample carries its own rule's rate and sample
 * pool (collectors scale each sample by its own rate). Counters wrap at 32
 * bits where sFlow's fields are 32-bit, as the spec expects.
 *
 * The caller is the data plane's drain loop: offer() only queues (bounded;
 * beyond the bound samples are dropped and added to the sFlow drops of their
 * data source, so collectors see the loss), and sending happens on the next
 * turn of the event loop, packing as many samples as fit in a datagram of at
 * most maxDatagramBytes.
 */
import { createSocket, type Socket } from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { capturedBytes, sampleProblem, type PacketSample } from './packetSample.ts';

const SFLOW_VERSION = 5;
const ADDRESS_IPV4 = 1;
const ADDRESS_IPV6 = 2;
const FLOW_SAMPLE_EXPANDED = 3;
const COUNTERS_SAMPLE_EXPANDED = 4;
const FLOW_SAMPLED_HEADER = 1;
const FLOW_EXTENDED_VNI_EGRESS = 1029;
const FLOW_EXTENDED_VNI_INGRESS = 1030;
const COUNTERS_GENERIC_INTERFACE = 1;
const HEADER_PROTOCOL_ETHERNET = 1;
const SOURCE_ID_IFINDEX = 0;
const INTERFACE_SINGLE = 0;
const INTERFACE_DISCARDED = 1;
// Reason codes of a discarded packet (sFlow v5, output interface format 1).
const DISCARD_ACL = 258;
const DISCARD_RATE_LIMIT = 261;
const IFTYPE_PROP_VIRTUAL = 53;

/** The uplink to the front-end router: every VI port's peer. */
export const UPLINK_IFINDEX = 1;

export interface SflowCollector {
  host: string;
  port: number;
}

export interface DirectionCounters {
  packets: number;
  bytes: number;
  drops: number;
}

/** A VI port's counters; to_vi traffic is what the port sends (out), from_vi what it receives (in). */
export interface ViPortCounters {
  viId: string;
  toVi: DirectionCounters;
  fromVi: DirectionCounters;
  /** The VI's bit-rate cap, if any (ifSpeed). */
  speedBps?: number;
}

export interface SflowExporterOptions {
  collectors: readonly SflowCollector[];
  agentAddress: string;
  subAgentId?: number;
  counterIntervalMs?: number;
  maxDatagramBytes?: number;
  queueSamples?: number;
  /** Counter values per VI port, read every counterIntervalMs. */
  counters?: () => readonly ViPortCounters[];
  /** A VI's port number (ifIndex >= 2); default: a stable hash of its id. */
  interfaceIndex?: (viId: string) => number;
  log?: (line: string) => void;
}

export interface SflowExporterStats {
  queued: number;
  datagramsSent: number;
  flowSamplesSent: number;
  counterSamplesSent: number;
  /** Samples dropped because the queue was full. */
  queueDrops: number;
  /** Samples with out-of-range fields, never sent. */
  refused: number;
  sendErrors: number;
}

/**
 * A stable ifIndex for a VI: FNV-1a of its id into [2, 2^31). Stable across
 * restarts, so collectors keep one series per VI; two VIs sharing a number
 * needs about 46,000 VIs on one cloudlet to be likely.
 */
export function viInterfaceIndex(viId: string): number {
  let h = 0x811c9dc5;
  for (const byte of Buffer.from(viId, 'utf8')) h = Math.imul(h ^ byte, 0x01000193) >>> 0;
  return 2 + (h % (0x7fff_ffff - 2));
}

/** Big-endian XDR, appended into one growing buffer. */
class Xdr {
  private buf: Buffer;
  length = 0;

  constructor(capacity = 512) {
    this.buf = Buffer.alloc(capacity);
  }

  private room(n: number): void {
    if (this.length + n <= this.buf.length) return;
    const bigger = Buffer.alloc(Math.max(this.buf.length * 2, this.length + n));
    this.buf.copy(bigger, 0, 0, this.length);
    this.buf = bigger;
  }

  u32(n: number): this {
    this.room(4);
    // Counters in sFlow are 32-bit and wrap.
    this.buf.writeUInt32BE(n >>> 0, this.length);
    this.length += 4;
    return this;
  }

  u64(n: number): this {
    this.room(8);
    this.buf.writeBigUInt64BE(BigInt(Math.max(0, Math.trunc(n))) & 0xffff_ffff_ffff_ffffn, this.length);
    this.length += 8;
    return this;
  }

  /** Opaque bytes padded to a multiple of 4 (the length is written by the caller). */
  bytes(data: Uint8Array): this {
    const padded = (data.length + 3) & ~3;
    this.room(padded);
    this.buf.set(data, this.length);
    this.buf.fill(0, this.length + data.length, this.length + padded);
    this.length += padded;
    return this;
  }

  /** A data_format + length header whose length is filled in by end(). */
  begin(format: number): number {
    this.u32(format).u32(0);
    return this.length;
  }

  end(start: number): void {
    this.buf.writeUInt32BE(this.length - start, start - 4);
  }

  view(): Buffer {
    return this.buf.subarray(0, this.length);
  }
}

interface Target {
  socket: Socket;
  collector: string;
}

interface QueuedSample {
  sample: PacketSample;
  source: number;
}

export class SflowExporter {
  private readonly startedAt = Date.now();
  // A FIFO as an array and a head index: shift() on a long array is linear, and the queue can be long.
  private queue: QueuedSample[] = [];
  private head = 0;
  private readonly portOfVi = new Map<string, number>();
  private readonly flowSeq = new Map<number, number>();
  private readonly counterSeq = new Map<number, number>();
  /** Samples this exporter lost per data source, added to the data plane's drops. */
  private readonly lostBySource = new Map<number, number>();
  private datagramSeq = 0;
  private flushScheduled = false;
  private inFlight = 0;
  private readonly inFlightLimit = 256;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly agent: Buffer;
  private readonly agentType: number;
  private readonly maxDatagram: number;
  private readonly queueLimit: number;
  private readonly interfaceIndex: (viId: string) => number;
  private readonly log: (line: string) => void;
  private readonly drained = new Set<() => void>();
  readonly counts: Omit<SflowExporterStats, 'queued'> = { datagramsSent: 0, flowSamplesSent: 0, counterSamplesSent: 0, queueDrops: 0, refused: 0, sendErrors: 0 };

  private readonly options: SflowExporterOptions;
  private readonly targets: Target[];

  private constructor(options: SflowExporterOptions, targets: Target[]) {
    this.options = options;
    this.targets = targets;
    const family = isIP(options.agentAddress);
    if (family === 0) throw new Error(`sFlow agent address "${options.agentAddress}" is not an IPv4 or IPv6 address`);
    this.agentType = family === 4 ? ADDRESS_IPV4 : ADDRESS_IPV6;
    this.agent = family === 4 ? Buffer.from(options.agentAddress.split('.').map(Number)) : ipv6Bytes(options.agentAddress);
    this.maxDatagram = options.maxDatagramBytes ?? 1400;
    this.queueLimit = options.queueSamples ?? 8192;
    this.interfaceIndex = options.interfaceIndex ?? viInterfaceIndex;
    this.log = options.log ?? (() => undefined);
    if (options.counters) {
      this.timer = setInterval(() => this.pollCounters(), options.counterIntervalMs ?? 30_000);
      this.timer.unref();
    }
  }

  /**
   * Resolves the collectors' names once and connects one UDP socket to each:
   * a connected socket takes datagrams from its collector only (nothing else
   * can send to the exporter's port) and reports an unreachable collector.
   */
  static async start(options: SflowExporterOptions): Promise<SflowExporter> {
    if (options.collectors.length === 0) throw new Error('sFlow export needs at least one collector');
    const targets: Target[] = [];
    try {
      for (const c of options.collectors) {
        let found: { address: string; family: number };
        try {
          found = await lookup(c.host);
        } catch (e) {
          throw new Error(`sFlow collector ${c.host}:${c.port}: cannot resolve "${c.host}" (${(e as Error).message})`, { cause: e });
        }
        const socket = createSocket(found.family === 6 ? 'udp6' : 'udp4');
        targets.push({ socket, collector: `${c.host}:${c.port}` });
        await new Promise<void>((resolve, reject) => {
          socket.once('error', reject);
          socket.connect(c.port, found.address, () => {
            socket.off('error', reject);
            resolve();
          });
        });
        socket.unref();
      }
    } catch (e) {
      for (const t of targets) t.socket.close();
      throw e;
    }
    const exporter = new SflowExporter(options, targets);
    for (const t of targets) t.socket.on('error', (e) => exporter.sendFailed(t.collector, e));
    return exporter;
  }

  stats(): SflowExporterStats {
    return { queued: this.queued(), ...this.counts };
  }

  /** Queues samples for the collectors; never waits. Full queue: the sample is dropped and counted. */
  offer(samples: readonly PacketSample[]): void {
    if (this.closed) return;
    for (const sample of samples) {
      const problem = sampleProblem(sample);
      if (problem) {
        if (this.counts.refused === 0) this.log(`sFlow: refusing a sample from the data plane: ${problem}`);
        this.counts.refused += 1;
        continue;
      }
      const source = this.port(sample.viId);
      if (this.queued() >= this.queueLimit) {
        this.counts.queueDrops += 1;
        this.lostBySource.set(source, (this.lostBySource.get(source) ?? 0) + 1);
        continue;
      }
      this.queue.push({ sample, source });
    }
    this.scheduleFlush();
  }

  /** Sends a counters sample for every VI port now (the timer calls this every counterIntervalMs). */
  pollCounters(): void {
    if (this.closed || !this.options.counters) return;
    let ports: readonly ViPortCounters[];
    try {
      ports = this.options.counters();
    } catch (e) {
      this.log(`sFlow: reading VI port counters failed: ${(e as Error).message}`);
      return;
    }
    const records = ports.map((p) => this.encodeCounters(p));
    this.sendPacked(records, () => (this.counts.counterSamplesSent += 1));
  }

  /** Resolves when everything queued so far has been handed to the kernel. */
  async flush(): Promise<void> {
    this.sendQueued();
    if (this.queued() === 0 && this.inFlight === 0) return;
    await new Promise<void>((resolve) => this.drained.add(resolve));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.flush();
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    await Promise.all(this.targets.map((t) => new Promise<void>((r) => t.socket.close(() => r()))));
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || this.queued() === 0) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.sendQueued();
    });
  }

  private sendQueued(): void {
    // Bound what the kernel has not taken yet; the rest waits in the (bounded) queue.
    while (this.queued() > 0 && this.inFlight < this.inFlightLimit) {
      const batch: Buffer[] = [];
      let size = this.headerLength();
      while (this.queued() > 0) {
        const next = this.queue[this.head]!;
        const seq = ((this.flowSeq.get(next.source) ?? 0) + 1) >>> 0;
        const record = this.encodeFlow(next, seq);
        if (size + record.length > this.maxDatagram && batch.length > 0) break;
        // The sequence number is spent only once the sample is in a datagram: collectors count gaps as loss.
        this.flowSeq.set(next.source, seq);
        this.head += 1;
        batch.push(record);
        size += record.length;
      }
      this.sendDatagram(batch, () => (this.counts.flowSamplesSent += batch.length));
    }
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    this.checkDrained();
  }

  private queued(): number {
    return this.queue.length - this.head;
  }

  /** A VI's port number, remembered (bounded: a data plane naming endless VIs must not grow it forever). */
  private port(viId: string): number {
    if (viId === '') return UPLINK_IFINDEX;
    let port = this.portOfVi.get(viId);
    if (port === undefined) {
      if (this.portOfVi.size >= 65_536) this.portOfVi.clear();
      port = this.interfaceIndex(viId);
      this.portOfVi.set(viId, port);
    }
    return port;
  }

  private headerLength(): number {
    return 28 + this.agent.length - 4;
  }

  /** Packs encoded samples into as few datagrams as fit. */
  private sendPacked(records: Buffer[], sent: () => void): void {
    let batch: Buffer[] = [];
    let size = this.headerLength();
    for (const r of records) {
      if (size + r.length > this.maxDatagram && batch.length > 0) {
        const done = batch;
        this.sendDatagram(done, () => done.forEach(sent));
        batch = [];
        size = this.headerLength();
      }
      batch.push(r);
      size += r.length;
    }
    if (batch.length > 0) this.sendDatagram(batch, () => batch.forEach(sent));
  }

  private sendDatagram(samples: Buffer[], sent: () => void): void {
    const x = new Xdr(this.maxDatagram);
    x.u32(SFLOW_VERSION).u32(this.agentType).bytes(this.agent).u32(this.options.subAgentId ?? 0);
    this.datagramSeq = (this.datagramSeq + 1) >>> 0;
    x.u32(this.datagramSeq).u32(Date.now() - this.startedAt).u32(samples.length);
    for (const s of samples) x.bytes(s);
    const datagram = Buffer.from(x.view());
    let pending = this.targets.length;
    for (const t of this.targets) {
      this.inFlight += 1;
      t.socket.send(datagram, (e) => {
        this.inFlight -= 1;
        if (e) this.sendFailed(t.collector, e);
        pending -= 1;
        if (pending === 0) {
          this.counts.datagramsSent += 1;
          sent();
        }
        if (this.queued() > 0) this.scheduleFlush();
        this.checkDrained();
      });
    }
  }

  private sendFailed(collector: string, e: Error): void {
    if (this.counts.sendErrors === 0) this.log(`sFlow: sending to collector ${collector} failed: ${e.message}`);
    this.counts.sendErrors += 1;
  }

  private checkDrained(): void {
    if (this.queued() > 0 || this.inFlight > 0) return;
    for (const resolve of this.drained) resolve();
    this.drained.clear();
  }

  private encodeFlow({ sample: s, source }: QueuedSample, seq: number): Buffer {
    const port = source;
    const [input, output] = s.direction === 'to_vi' ? [UPLINK_IFINDEX, port] : [port, UPLINK_IFINDEX];
    const discard = s.verdict === 'policed' ? DISCARD_RATE_LIMIT : s.verdict === 'drop' || s.verdict === 'spoofing' ? DISCARD_ACL : 0;
    // A legacy packet goes back out of the uplink it came in on.
    const out = s.verdict === 'legacy' ? UPLINK_IFINDEX : output;
    const header = capturedBytes(s);
    const x = new Xdr(400);
    const sample = x.begin(FLOW_SAMPLE_EXPANDED);
    x.u32(seq).u32(SOURCE_ID_IFINDEX).u32(source);
    x.u32(s.samplingRate).u32(s.samplePool).u32(s.drops + (this.lostBySource.get(source) ?? 0));
    x.u32(INTERFACE_SINGLE).u32(input);
    if (discard) x.u32(INTERFACE_DISCARDED).u32(discard);
    else x.u32(INTERFACE_SINGLE).u32(out);
    x.u32(2);
    const sampled = x.begin(FLOW_SAMPLED_HEADER);
    // VXLAN carries the inner frame without an FCS: nothing was stripped, the frame length is the wire length.
    x.u32(HEADER_PROTOCOL_ETHERNET).u32(s.wireLength).u32(0).u32(header.length).bytes(header);
    x.end(sampled);
    const vni = x.begin(s.direction === 'to_vi' ? FLOW_EXTENDED_VNI_INGRESS : FLOW_EXTENDED_VNI_EGRESS);
    x.u32(s.vni);
    x.end(vni);
    x.end(sample);
    return Buffer.from(x.view());
  }

  private encodeCounters(p: ViPortCounters): Buffer {
    const source = this.port(p.viId);
    const seq = ((this.counterSeq.get(source) ?? 0) + 1) >>> 0;
    this.counterSeq.set(source, seq);
    const x = new Xdr(128);
    const sample = x.begin(COUNTERS_SAMPLE_EXPANDED);
    x.u32(seq).u32(SOURCE_ID_IFINDEX).u32(source).u32(1);
    const generic = x.begin(COUNTERS_GENERIC_INTERFACE);
    // ifDirection 1 = full-duplex; ifStatus 3 = admin up and operationally up.
    x.u32(source).u32(IFTYPE_PROP_VIRTUAL).u64(p.speedBps ?? 0).u32(1).u32(3);
    x.u64(p.fromVi.bytes).u32(p.fromVi.packets).u32(0).u32(0).u32(p.fromVi.drops).u32(0).u32(0);
    x.u64(p.toVi.bytes).u32(p.toVi.packets).u32(0).u32(0).u32(p.toVi.drops).u32(0);
    x.u32(0);
    x.end(generic);
    x.end(sample);
    return Buffer.from(x.view());
  }
}

function ipv6Bytes(address: string): Buffer {
  const [head = '', tail] = address.split('::') as [string, string | undefined];
  const groups = (part: string): number[] => (part === '' ? [] : part.split(':').flatMap((g) => (g.includes('.') ? ipv4Groups(g) : [parseInt(g, 16)])));
  const h = groups(head);
  const t = tail === undefined ? [] : groups(tail);
  const all = tail === undefined ? h : [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t];
  const out = Buffer.alloc(16);
  all.forEach((g, i) => out.writeUInt16BE(g, i * 2));
  return out;
}

function ipv4Groups(dotted: string): number[] {
  const [a = 0, b = 0, c = 0, d = 0] = dotted.split('.').map(Number);
  return [(a << 8) | b, (c << 8) | d];
}
