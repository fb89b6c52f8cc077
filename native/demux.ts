// Typed API of the demux fast path: rules, the flow table, batch
// classification into caller-owned typed arrays, counters, samples, and the
// frame parser. One N-API call per batch; nothing here allocates per packet.
import { parsePrefix, type Prefix } from '../main/protocol/prefix.ts';
import { loadBinding } from './loader.ts';

/** What a matching rule does with a packet. */
export type DemuxAction = 'to_vi' | 'legacy' | 'drop';

/** Codes written into ClassifyResult.actions. */
export const ActionCode = { miss: 0, to_vi: 1, legacy: 2, drop: 3, malformed: 4 } as const;
export type ActionCodeValue = (typeof ActionCode)[keyof typeof ActionCode];

export interface PortRange {
  from: number;
  to: number;
}

/** OpenFlow-style match; an absent field is a wildcard. */
export interface FlowMatch {
  inPort?: number;
  vni?: number;
  ethType?: number;
  ipProto?: number;
  /**
   * IPv4 or IPv6 prefix, e.g. '10.1.0.0/16' or '2001:db8::/32' (one host: '10.1.2.3/32').
   * Both prefixes must be one family. The grammar is main/protocol/prefix.ts's.
   */
  src?: string;
  dst?: string;
  srcPort?: number | PortRange;
  dstPort?: number | PortRange;
}

export interface FlowRule {
  /** Higher wins; among equal priorities the rule installed first wins. */
  priority: number;
  match: FlowMatch;
  action: DemuxAction;
  /** The VI that receives the packet; required with action 'to_vi'. */
  viId?: number;
  /** Sample one packet in N on average (sFlow); 0 or absent: never. */
  sampleRate?: number;
}

export type DemuxPath = 'portable' | 'avx2' | 'avx512';

interface RawTable {
  apply(add: Uint8Array, remove: Uint32Array, modifyIds: Uint32Array, modify: Uint8Array): Uint32Array;
  classify(
    buffer: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, count: number, inPort: number, direction: number,
    actions: Uint8Array, ruleIds: Uint32Array, viIds: Uint32Array, reasons: Uint8Array,
  ): number;
  lookupTuples(tuples: Uint32Array, ruleIds: Uint32Array): number;
  readCounters(ids: Uint32Array, out: Float64Array): void;
  drainSamples(out: Uint8Array): number;
  stats(out: Float64Array): void;
  handle(): number;
}

/** A record layout as the addon exports it: its size and each field's byte offset, by name. */
type Layout<F extends string> = { readonly size: number } & { readonly [K in F]: number };

type RuleField =
  | 'priority' | 'action' | 'family' | 'srcLen' | 'dstLen' | 'viId' | 'sampleRate' | 'flags' | 'ipProto' | 'ethType'
  | 'inPort' | 'vni' | 'srcPortLo' | 'srcPortHi' | 'dstPortLo' | 'dstPortHi' | 'src' | 'dst';
type SampleField = 'time' | 'ruleId' | 'viId' | 'wireLength' | 'captured' | 'direction' | 'action' | 'bytes';

interface RawDemux {
  DemuxTable: new (options?: object) => RawTable;
  setDemuxPath(path: DemuxPath): boolean;
  demuxPath(): DemuxPath;
  demuxPaths(): DemuxPath[];
  ruleLayout: Layout<RuleField>;
  sampleLayout: Layout<SampleField>;
  /** Names of the numbers stats() writes, in order; parse errors by reason follow them. */
  statsFields: string[];
}

interface RawParse {
  parseFrames(
    buffer: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, count: number, linkType: number, vxlanPort: number,
    out: Uint32Array,
  ): void;
  parseErrorNames(): string[];
  /** Names of the numbers parseFrames() writes per frame, in order. */
  frameFields: string[];
}

function raw(): RawDemux {
  return loadBinding<{ demux: RawDemux }>().demux;
}

function rawParse(): RawParse {
  return loadBinding<{ parse: RawParse }>().parse;
}

/** Forces one leaf-scan implementation (tests and benchmarks); false when this CPU lacks it. */
export function setDemuxPath(path: DemuxPath): boolean {
  return raw().setDemuxPath(path);
}
/** The implementation in use: chosen at load from the CPU, or PCLOUD_DEMUX_PATH, or setDemuxPath. */
export function demuxPath(): DemuxPath {
  return raw().demuxPath();
}
/** Implementations this CPU can run, portable first. */
export function demuxPaths(): DemuxPath[] {
  return raw().demuxPaths();
}
/** Names of malformed-frame reasons, indexed by the codes in ClassifyResult.reasons (0 is 'none'). */
export function parseErrorNames(): readonly string[] {
  return rawParse().parseErrorNames();
}

// ---------------------------------------------------------------- encoding

/**
 * A prefix's network as the record carries it: 16 bytes, IPv4 in the first 4.
 * The text was parsed by the one prefix parser (main/protocol/prefix.ts), so
 * the flow table speaks the rule book's grammar: address/length, host bits zero.
 */
export function prefixBytes(prefix: Prefix): Uint8Array {
  const width = prefix.family === 4 ? 4 : 16;
  const out = new Uint8Array(16);
  for (let i = 0; i < width; i++) out[i] = Number((prefix.bits >> BigInt(8 * (width - 1 - i))) & 0xffn);
  return out;
}

function portRange(value: number | PortRange | undefined, what: string): [number, number] {
  if (value === undefined) return [0, 0xffff];
  const [from, to] = typeof value === 'number' ? [value, value] : [value.from, value.to];
  for (const v of [from, to]) {
    if (!Number.isInteger(v) || v < 0 || v > 0xffff) throw new Error(`${what} ${v} is not a port number 0..65535`);
  }
  return [from, to];
}

function u32(value: number, what: string): number {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) throw new Error(`${what} ${value} is not an integer 0..2^32-1`);
  return value;
}

/** Encodes rules into the binary records the addon decodes (layout: native/src/demux/ruleCodec.h). */
export function encodeRules(rules: readonly FlowRule[]): Uint8Array {
  const at = raw().ruleLayout;
  const out = new Uint8Array(rules.length * at.size);
  const view = new DataView(out.buffer);
  rules.forEach((rule, i) => {
    const o = i * at.size;
    const where = `rule ${i}`;
    const m = rule.match;
    view.setUint32(o + at.priority, u32(rule.priority, `${where}: priority`), true);
    out[o + at.action] = ActionCode[rule.action];
    if (rule.action === 'to_vi' && rule.viId === undefined) throw new Error(`${where}: action to_vi needs a viId`);
    const prefix = (text: string | undefined, what: string): Prefix | undefined => {
      if (text === undefined) return undefined;
      try {
        return parsePrefix(text);
      } catch (e) {
        throw new Error(`${where}: ${what} ${(e as Error).message}`, { cause: e });
      }
    };
    const src = prefix(m.src, 'source');
    const dst = prefix(m.dst, 'destination');
    if (src && dst && src.family !== dst.family) throw new Error(`${where}: source is IPv${src.family} but destination is IPv${dst.family}`);
    out[o + at.family] = src?.family ?? dst?.family ?? 0;
    out[o + at.srcLen] = src?.length ?? 0;
    out[o + at.dstLen] = dst?.length ?? 0;
    view.setUint32(o + at.viId, rule.action === 'to_vi' ? u32(rule.viId ?? 0, `${where}: viId`) : 0, true);
    view.setUint32(o + at.sampleRate, u32(rule.sampleRate ?? 0, `${where}: sampleRate`), true);
    let flags = 0;
    if (m.inPort !== undefined) {
      flags |= 1;
      view.setUint32(o + at.inPort, u32(m.inPort, `${where}: inPort`), true);
    }
    if (m.vni !== undefined) {
      flags |= 2;
      view.setUint32(o + at.vni, u32(m.vni, `${where}: vni`), true);
    }
    if (m.ethType !== undefined) {
      flags |= 4;
      if (!Number.isInteger(m.ethType) || m.ethType < 0 || m.ethType > 0xffff) throw new Error(`${where}: ethType ${m.ethType} is not 0..0xffff`);
      view.setUint16(o + at.ethType, m.ethType, true);
    }
    if (m.ipProto !== undefined) {
      flags |= 8;
      if (!Number.isInteger(m.ipProto) || m.ipProto < 0 || m.ipProto > 255) throw new Error(`${where}: ipProto ${m.ipProto} is not 0..255`);
      out[o + at.ipProto] = m.ipProto;
    }
    out[o + at.flags] = flags;
    const [sl, sh] = portRange(m.srcPort, `${where}: srcPort`);
    const [dl, dh] = portRange(m.dstPort, `${where}: dstPort`);
    view.setUint16(o + at.srcPortLo, sl, true);
    view.setUint16(o + at.srcPortHi, sh, true);
    view.setUint16(o + at.dstPortLo, dl, true);
    view.setUint16(o + at.dstPortHi, dh, true);
    if (src) out.set(prefixBytes(src), o + at.src);
    if (dst) out.set(prefixBytes(dst), o + at.dst);
  });
  return out;
}

/** Byte offsets of the rule record's fields, by name (native/src/demux/ruleCodec.h). */
export function ruleLayout(): Layout<RuleField> {
  return raw().ruleLayout;
}

// ---------------------------------------------------------------- table

/** Caller-owned result arrays for one batch; reuse them across batches. */
export class ClassifyResult {
  readonly actions: Uint8Array;
  readonly ruleIds: Uint32Array;
  readonly viIds: Uint32Array;
  /** Malformed-frame reason per packet (index into parseErrorNames()), 0 when parsed. */
  readonly reasons: Uint8Array;
  constructor(capacity = 256) {
    this.actions = new Uint8Array(capacity);
    this.ruleIds = new Uint32Array(capacity);
    this.viIds = new Uint32Array(capacity);
    this.reasons = new Uint8Array(capacity);
  }
}

export interface ClassifyOptions {
  /** Frames to classify (default: offsets.length). */
  count?: number;
  /** Ingress port of the whole batch (default 0). */
  inPort?: number;
  /** Recorded in samples (default 'to_vi'). */
  direction?: 'to_vi' | 'from_vi';
}

export interface RuleCounters {
  packets: number;
  bytes: number;
  sampled: number;
}

export interface Sample {
  /** Milliseconds since the Unix epoch. */
  time: number;
  ruleId: number;
  viId: number;
  direction: 'to_vi' | 'from_vi';
  action: DemuxAction;
  wireLength: number;
  /** The first (at most 128) bytes of the frame. */
  bytes: Uint8Array;
}

export interface DemuxStats {
  version: number;
  rules: number;
  packets: number;
  matched: number;
  missed: number;
  malformed: number;
  /** Malformed frames by reason (only reasons seen). */
  parseErrors: Record<string, number>;
  rebuilds: number;
  sampler: { sampled: number; skipped: number; lost: number; queued: number; capacity: number };
  /** unmatchable: rules of the base index that no packet can match (a port on a protocol without ports), left out of its trees. */
  index: { trees: number; nodes: number; leaves: number; leafEntries: number; maxLeaf: number; maxDepth: number; bytes: number; overlayRules: number; unmatchable: number };
}

export interface FlowTableOptions {
  /** Samples held until drained (default 4096). */
  sampleCapacity?: number;
  /** UDP port whose datagrams are decapsulated as VXLAN (default 4789, 0: never). */
  vxlanPort?: number;
  /** Changes absorbed before the index is rebuilt (default 64). */
  overlayLimit?: number;
}

export interface ChangeSet {
  add?: readonly FlowRule[];
  remove?: ArrayLike<number>;
  modify?: readonly { id: number; rule: FlowRule }[];
}

const EMPTY_U8 = new Uint8Array(0);
const EMPTY_U32 = new Uint32Array(0);
const ACTION_NAMES: readonly DemuxAction[] = ['legacy', 'to_vi', 'legacy', 'drop'];

/**
 * The demux flow table. Classification may run on other threads (see
 * `handle` / `FlowTable.attach`) while this one changes rules: every change
 * set is published atomically, and each batch sees exactly one version.
 */
export class FlowTable {
  readonly #raw: RawTable;
  readonly #stats: Float64Array;

  /** A new empty table, or with `{ attach: handle }` another handle on a table made elsewhere in this process. */
  constructor(options: FlowTableOptions | { attach: number } = {}) {
    this.#raw = new (raw().DemuxTable)(options);
    this.#stats = new Float64Array(raw().statsFields.length + parseErrorNames().length);
  }

  /** A second handle on a table created elsewhere in this process (e.g. in another worker thread). */
  static attach(handle: number): FlowTable {
    return new FlowTable({ attach: handle });
  }

  /** A number that FlowTable.attach() accepts in any thread of this process. */
  get handle(): number {
    return this.#raw.handle();
  }

  /** Applies adds, modifications and deletions as one atomic change; returns the new rules' ids. */
  apply(changes: ChangeSet): Uint32Array {
    const modify = changes.modify ?? [];
    return this.#raw.apply(
      changes.add && changes.add.length > 0 ? encodeRules(changes.add) : EMPTY_U8,
      changes.remove ? Uint32Array.from(changes.remove) : EMPTY_U32,
      modify.length > 0 ? Uint32Array.from(modify, (m) => m.id) : EMPTY_U32,
      modify.length > 0 ? encodeRules(modify.map((m) => m.rule)) : EMPTY_U8,
    );
  }

  /** Installs rules (one atomic change); returns their ids in order. */
  add(rules: readonly FlowRule[]): Uint32Array {
    return this.apply({ add: rules });
  }

  /** Installs rules already encoded with encodeRules(). */
  addEncoded(records: Uint8Array): Uint32Array {
    return this.#raw.apply(records, EMPTY_U32, EMPTY_U32, EMPTY_U8);
  }

  remove(ids: ArrayLike<number>): void {
    this.apply({ remove: ids });
  }

  /** Replaces a rule's match, priority, action or sampling; it keeps its id, counters and installation order. */
  modify(id: number, rule: FlowRule): void {
    this.apply({ modify: [{ id, rule }] });
  }

  /**
   * Parses and classifies the frames buffer[offsets[i] .. offsets[i] + lengths[i]) in one call,
   * writing into `result`. Returns the number of frames classified.
   */
  classify(buffer: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, result: ClassifyResult, options: ClassifyOptions = {}): number {
    return this.#raw.classify(
      buffer, offsets, lengths, options.count ?? offsets.length, options.inPort ?? 0,
      options.direction === 'from_vi' ? 1 : 0, result.actions, result.ruleIds, result.viIds, result.reasons,
    );
  }

  /**
   * Which rule each IPv4 5-tuple would match: `tuples` holds source, destination, source port,
   * destination port and protocol per packet (addresses as 32-bit numbers); writes the rule id, or 0
   * for none, into `ruleIds` and returns the number of tuples. Answers as classify() would for an
   * Ethernet frame carrying the tuple (ports count on TCP and UDP only), without counting or sampling.
   */
  lookupTuples(tuples: Uint32Array, ruleIds: Uint32Array): number {
    return this.#raw.lookupTuples(tuples, ruleIds);
  }

  /** Fills `out` with packets, bytes, sampled for each id (3 numbers per id), without stopping traffic. */
  readCounters(ids: Uint32Array, out: Float64Array): void {
    this.#raw.readCounters(ids, out);
  }

  counters(id: number): RuleCounters {
    const out = new Float64Array(3);
    this.#raw.readCounters(Uint32Array.of(id), out);
    return { packets: out[0] ?? 0, bytes: out[1] ?? 0, sampled: out[2] ?? 0 };
  }

  /** Takes up to `max` queued samples, oldest first. */
  drainSamples(max = 256): Sample[] {
    const at = raw().sampleLayout;
    const buf = new Uint8Array(at.size * max);
    const n = this.#raw.drainSamples(buf);
    const view = new DataView(buf.buffer);
    const samples: Sample[] = [];
    for (let i = 0; i < n; i++) {
      const o = i * at.size;
      const captured = view.getUint16(o + at.captured, true);
      samples.push({
        time: view.getFloat64(o + at.time, true),
        ruleId: view.getUint32(o + at.ruleId, true),
        viId: view.getUint32(o + at.viId, true),
        wireLength: view.getUint32(o + at.wireLength, true),
        direction: buf[o + at.direction] === 1 ? 'from_vi' : 'to_vi',
        action: ACTION_NAMES[buf[o + at.action] ?? 2] ?? 'legacy',
        bytes: buf.slice(o + at.bytes, o + at.bytes + captured),
      });
    }
    return samples;
  }

  stats(): DemuxStats {
    const s = this.#stats;
    this.#raw.stats(s);
    const fields = raw().statsFields;
    const f = (name: string): number => s[fields.indexOf(name)] ?? 0;
    const names = parseErrorNames();
    const parseErrors: Record<string, number> = {};
    for (let e = 1; e < names.length; e++) {
      const n = s[fields.length + e] ?? 0;
      if (n > 0) parseErrors[names[e] ?? `reason_${e}`] = n;
    }
    return {
      version: f('version'), rules: f('rules'), packets: f('packets'), matched: f('matched'), missed: f('missed'),
      malformed: f('malformed'), parseErrors, rebuilds: f('rebuilds'),
      sampler: {
        sampled: f('samplerSampled'), skipped: f('samplerSkipped'), lost: f('samplerLost'), queued: f('samplerQueued'),
        capacity: f('samplerCapacity'),
      },
      index: {
        trees: f('indexTrees'), nodes: f('indexNodes'), leaves: f('indexLeaves'), leafEntries: f('indexLeafEntries'),
        maxLeaf: f('indexMaxLeaf'), maxDepth: f('indexMaxDepth'), bytes: f('indexBytes'), overlayRules: f('overlayRules'),
        unmatchable: f('indexUnmatchable'),
      },
    };
  }
}

// ---------------------------------------------------------------- parser

/** Field indexes of parseFrames() output, checked on first use against the names the addon gives them. */
export const FrameField = {
  reason: 0, family: 1, ethType: 2, ipProto: 3, srcPort: 4, dstPort: 5, src32: 6, dst32: 7, vni: 8, fragment: 9,
  vlanCount: 10, l3Offset: 11, l4Offset: 12, icmpType: 13, icmpCode: 14, inPort: 15,
} as const;
export const FRAME_FIELDS = Object.keys(FrameField).length;
/** Values the parser uses for absent fields. */
export const NO_PORT = 0x10000;
export const NO_PROTO = 0x100;
export const NO_VNI = 0x1000000;

let frameLayoutChecked = false;

/** Refuses an addon whose frame layout is not the one FrameField names (a stale build). */
function checkFrameLayout(names: readonly string[]): void {
  if (frameLayoutChecked) return;
  const ours = Object.keys(FrameField);
  if (names.length !== ours.length || names.some((name, i) => FrameField[name as keyof typeof FrameField] !== i)) {
    throw new Error(`the addon writes frame fields [${names.join(', ')}] but native/demux.ts reads [${ours.join(', ')}]: rebuild the addon (npm run install)`);
  }
  frameLayoutChecked = true;
}

/** Parses frames without classifying them (diagnostics and tests). linkType 1: Ethernet, 12: raw IP. */
export function parseFrames(
  buffer: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, options: { linkType?: 1 | 12; vxlanPort?: number; count?: number } = {},
): Uint32Array {
  const parse = rawParse();
  checkFrameLayout(parse.frameFields);
  const count = options.count ?? offsets.length;
  const out = new Uint32Array(count * FRAME_FIELDS);
  parse.parseFrames(buffer, offsets, lengths, count, options.linkType ?? 1, options.vxlanPort ?? 4789, out);
  return out;
}
