/**
 * pcapng (draft-ietf-opsawg-pcapng) from packet samples, for the evidence an
 * operator exports or a terminate seals. One section; one Ethernet interface
 * per VI and direction (`vi-r-12/to_vi`, snaplen 256, if_tsresol 9 so that
 * timestamps keep the sample's nanoseconds); an Enhanced Packet Block per
 * sample whose comment says VI, rule, verdict, VNI and sampling rate (the
 * interface alone cannot: several rules share it); and an Interface
 * Statistics Block per interface at the end with the sFlow sample pool as
 * isb_ifrecv and the sampler's drops as isb_ifdrop.
 *
 * Blocks are written in host-independent little-endian (the byte-order magic
 * tells readers), built in memory: an export is bounded by the evidence ring,
 * a few MiB at most.
 */
import { MAX_CAPTURED_BYTES, SAMPLE_DIRECTIONS, capturedBytes, checkPacketSample, sampleTimeNs, type PacketSample, type SampleDirection } from './packetSample.ts';

export const LINKTYPE_ETHERNET = 1;

const BLOCK_SHB = 0x0a0d0d0a;
const BLOCK_IDB = 0x00000001;
const BLOCK_ISB = 0x00000005;
const BLOCK_EPB = 0x00000006;
const BYTE_ORDER_MAGIC = 0x1a2b3c4d;

const OPT_COMMENT = 1;
const SHB_USERAPPL = 4;
const IF_NAME = 2;
const IF_DESCRIPTION = 3;
const IF_TSRESOL = 9;
const ISB_STARTTIME = 2;
const ISB_ENDTIME = 3;
const ISB_IFRECV = 4;
const ISB_IFDROP = 5;

/** Every interface counts time in nanoseconds (if_tsresol 9: 10^-9 s). */
const TSRESOL_NANOSECONDS = 9;

interface BlockOption {
  code: number;
  /** Text is written as UTF-8 without a copy. */
  value: Buffer | string;
}

const pad4 = (n: number): number => (n + 3) & ~3;
const optionBytes = (o: BlockOption): number => (typeof o.value === 'string' ? Buffer.byteLength(o.value, 'utf8') : o.value.length);

function u64Option(code: number, n: bigint): BlockOption {
  const value = Buffer.alloc(8);
  value.writeBigUInt64LE(n);
  return { code, value };
}

/** A pcapng timestamp: upper then lower 32 bits, each in the section's byte order. */
function timestampOption(code: number, ns: bigint): BlockOption {
  const value = Buffer.alloc(8);
  writeTimestamp(value, 0, ns);
  return { code, value };
}

function writeTimestamp(buf: Buffer, offset: number, ns: bigint): void {
  buf.writeUInt32LE(Number(ns >> 32n), offset);
  buf.writeUInt32LE(Number(ns & 0xffff_ffffn), offset + 4);
}

export interface PcapngInterface {
  name: string;
  description?: string;
  linktype?: number;
  snaplen?: number;
}

export interface InterfaceStatistics {
  /** Time the statistics were taken (ns since the epoch). */
  atNs: bigint;
  startNs?: bigint;
  endNs?: bigint;
  received?: bigint;
  dropped?: bigint;
}

/**
 * The block-level writer: a section header, then interfaces, packets and
 * statistics in any order the format allows (an interface before its packets).
 */
export class PcapngWriter {
  // One growing buffer: an export writes tens of thousands of small blocks, and a buffer per block
  // (allocation, zeroing, then a concat) cost most of the time.
  private out = Buffer.allocUnsafe(1 << 16);
  private length = 0;
  private readonly snaplens: number[] = [];

  constructor(section: { application: string; comment?: string }) {
    const options: BlockOption[] = [{ code: SHB_USERAPPL, value: section.application }];
    if (section.comment) options.unshift({ code: OPT_COMMENT, value: section.comment });
    this.block(BLOCK_SHB, 16, options, (buf, at) => {
      buf.writeUInt32LE(BYTE_ORDER_MAGIC, at);
      buf.writeUInt16LE(1, at + 4);
      buf.writeUInt16LE(0, at + 6);
      // Section length unknown (-1): readers walk the blocks.
      buf.writeBigInt64LE(-1n, at + 8);
    });
  }

  /** Adds an interface; returns its id for packets and statistics. */
  addInterface(i: PcapngInterface): number {
    const snaplen = i.snaplen ?? MAX_CAPTURED_BYTES;
    const options: BlockOption[] = [{ code: IF_NAME, value: i.name }];
    if (i.description) options.push({ code: IF_DESCRIPTION, value: i.description });
    options.push({ code: IF_TSRESOL, value: Buffer.from([TSRESOL_NANOSECONDS]) });
    this.block(BLOCK_IDB, 8, options, (buf, at) => {
      buf.writeUInt16LE(i.linktype ?? LINKTYPE_ETHERNET, at);
      buf.writeUInt32LE(snaplen, at + 4);
    });
    this.snaplens.push(snaplen);
    return this.snaplens.length - 1;
  }

  addPacket(interfaceId: number, timestampNs: bigint, data: Uint8Array, originalLength: number, comment?: string): void {
    const snaplen = this.snaplen(interfaceId);
    if (data.length > snaplen) throw new RangeError(`pcapng packet of ${data.length} bytes exceeds interface ${interfaceId}'s snaplen ${snaplen}`);
    if (originalLength < data.length) throw new RangeError(`pcapng packet: original length ${originalLength} is less than the ${data.length} bytes captured`);
    this.block(BLOCK_EPB, 20 + pad4(data.length), comment ? [{ code: OPT_COMMENT, value: comment }] : [], (buf, at) => {
      buf.writeUInt32LE(interfaceId, at);
      writeTimestamp(buf, at + 4, timestampNs);
      buf.writeUInt32LE(data.length, at + 12);
      buf.writeUInt32LE(originalLength, at + 16);
      buf.set(data, at + 20);
    });
  }

  addStatistics(interfaceId: number, s: InterfaceStatistics): void {
    this.snaplen(interfaceId);
    const options: BlockOption[] = [];
    if (s.startNs !== undefined) options.push(timestampOption(ISB_STARTTIME, s.startNs));
    if (s.endNs !== undefined) options.push(timestampOption(ISB_ENDTIME, s.endNs));
    if (s.received !== undefined) options.push(u64Option(ISB_IFRECV, s.received));
    if (s.dropped !== undefined) options.push(u64Option(ISB_IFDROP, s.dropped));
    this.block(BLOCK_ISB, 12, options, (buf, at) => {
      buf.writeUInt32LE(interfaceId, at);
      writeTimestamp(buf, at + 4, s.atNs);
    });
  }

  toBuffer(): Buffer {
    return Buffer.from(this.out.subarray(0, this.length));
  }

  /** A block: type, total length, body (bodyLength, a multiple of 4), options, total length again. */
  private block(type: number, bodyLength: number, options: readonly BlockOption[], writeBody: (buf: Buffer, at: number) => void): void {
    const lengths = options.map(optionBytes);
    const optionsLength = options.length === 0 ? 0 : lengths.reduce((n, l) => n + 4 + pad4(l), 4);
    const total = 8 + bodyLength + optionsLength + 4;
    this.reserve(total);
    const buf = this.out;
    const start = this.length;
    // Zero first: padding after data and option values must be zero.
    buf.fill(0, start, start + total);
    buf.writeUInt32LE(type, start);
    buf.writeUInt32LE(total, start + 4);
    writeBody(buf, start + 8);
    let at = start + 8 + bodyLength;
    options.forEach((o, k) => {
      const len = lengths[k]!;
      if (len > 0xffff) throw new RangeError(`pcapng option ${o.code} holds ${len} bytes, more than 65535`);
      buf.writeUInt16LE(o.code, at);
      buf.writeUInt16LE(len, at + 2);
      if (typeof o.value === 'string') buf.write(o.value, at + 4, 'utf8');
      else o.value.copy(buf, at + 4);
      at += 4 + pad4(len);
    });
    // opt_endofopt (code 0, length 0) is the zeroed word after the last option.
    buf.writeUInt32LE(total, start + total - 4);
    this.length += total;
  }

  private reserve(n: number): void {
    if (this.length + n <= this.out.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.out.length * 2, this.length + n));
    this.out.copy(bigger, 0, 0, this.length);
    this.out = bigger;
  }

  private snaplen(interfaceId: number): number {
    const snaplen = this.snaplens[interfaceId];
    if (snaplen === undefined) throw new RangeError(`pcapng: no interface ${interfaceId} (${this.snaplens.length} defined)`);
    return snaplen;
  }
}

/** The interface name of a VI and direction, as Wireshark shows it. */
export function sampleInterfaceName(viId: string, direction: SampleDirection): string {
  return `${viId}/${direction}`;
}

export function sampleComment(s: PacketSample): string {
  return `VI ${s.viId}, rule ${s.ruleId}, verdict ${s.verdict}, VNI ${s.vni}, sampled 1-in-${s.samplingRate}`;
}

export interface SamplesPcapngOptions {
  /** VIs that get their two interfaces even without samples (an export of an empty ring still names its VI). */
  vis?: readonly string[];
  /** Section comment, e.g. what the file is evidence of. */
  comment?: string;
  /** When the statistics were taken (ms since the epoch); default now. */
  exportedAt?: number;
}

interface InterfaceTally {
  id: number;
  firstNs: bigint | null;
  lastNs: bigint | null;
  /** Latest cumulative sample pool and drops per rule: the interface's totals are their sums. */
  byRule: Map<string, { pool: number; drops: number }>;
}

/**
 * A pcapng file of samples, in the order given. Each VI gets a to_vi and a
 * from_vi interface; the statistics at the end sum, over the rules seen on an
 * interface, each rule's latest sample pool and drops (cumulative counters,
 * as sFlow reports them), between the interface's first and last sample.
 */
export function samplesToPcapng(samples: readonly PacketSample[], options: SamplesPcapngOptions = {}): Buffer {
  const writer = new PcapngWriter({ application: 'PacketCloud controller', ...(options.comment ? { comment: options.comment } : {}) });
  const interfaces = new Map<string, InterfaceTally>();
  const addVi = (viId: string): void => {
    for (const direction of SAMPLE_DIRECTIONS) {
      const description = `VI ${viId}: sampled packets ${direction === 'to_vi' ? 'to' : 'from'} the VI`;
      const id = writer.addInterface({ name: sampleInterfaceName(viId, direction), description });
      interfaces.set(sampleInterfaceName(viId, direction), { id, firstNs: null, lastNs: null, byRule: new Map() });
    }
  };
  for (const viId of options.vis ?? []) if (!interfaces.has(sampleInterfaceName(viId, 'to_vi'))) addVi(viId);

  samples.forEach((s, i) => {
    checkPacketSample(s, `sample ${i}`);
    const name = sampleInterfaceName(s.viId, s.direction);
    if (!interfaces.has(name)) addVi(s.viId);
    const tally = interfaces.get(name)!;
    const ns = sampleTimeNs(s);
    const data = capturedBytes(s);
    writer.addPacket(tally.id, ns, data, s.wireLength, sampleComment(s));
    if (tally.firstNs === null || ns < tally.firstNs) tally.firstNs = ns;
    if (tally.lastNs === null || ns > tally.lastNs) tally.lastNs = ns;
    tally.byRule.set(s.ruleId, { pool: s.samplePool, drops: s.drops });
  });

  const atNs = BigInt(options.exportedAt ?? Date.now()) * 1_000_000n;
  for (const tally of interfaces.values()) {
    let received = 0n;
    let dropped = 0n;
    for (const r of tally.byRule.values()) {
      received += BigInt(r.pool);
      dropped += BigInt(r.drops);
    }
    writer.addStatistics(tally.id, {
      atNs,
      ...(tally.firstNs !== null ? { startNs: tally.firstNs } : {}),
      ...(tally.lastNs !== null ? { endNs: tally.lastNs } : {}),
      received,
      dropped,
    });
  }
  return writer.toBuffer();
}
