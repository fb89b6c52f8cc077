// Typed API of the data plane (native/src/dataplane/): the VXLAN uplink and
// forwarding threads, VI ports (ring, tap), per-VI policing and egress checks,
// counters by name, and drained samples and alarms. JavaScript configures and
// reads; packets never pass through it. The VI side of a ring port is
// RingClient (a VI process's batch loop).
import { loadBinding } from './loader.ts';
import { parseErrorNames } from './demux.ts';
import type { FlowTable } from './demux.ts';

interface RawDataPlane {
  port(): number;
  threads(): number;
  addRingPort(viId: number, socketPath: string, slots: number, slotBytes: number, egress?: EgressPolicy): void;
  addTapPort(viId: number, name: string, netns: string, bump: boolean, egress?: EgressPolicy): string;
  closePort(viId: number): boolean;
  setLimits(viId: number, bitsPerSecond: number, packetsPerSecond: number): boolean;
  setEgress(viId: number, egress: EgressPolicy): boolean;
  setQuarantined(viId: number, quarantined: boolean): boolean;
  viCounters(viId: number, out: Float64Array): boolean;
  totals(out: Float64Array): void;
  drainSamples(out: Uint8Array): number;
  drainAlarms(out: Uint8Array): number;
  stop(): void;
}

interface RawRingClient {
  receive(buffer: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, meta: Uint32Array, max: number, spins: number, timeoutMs: number): number;
  send(buffer: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, meta: Uint32Array, count: number, timeoutMs: number): number;
  geometry(): RingGeometry;
  close(): void;
}

interface RawBinding {
  DataPlane: new (config: object) => RawDataPlane;
  runLoad(options: object): LoadResult;
  RingClient: new (socketPath: string, timeoutMs: number) => RawRingClient;
  viDropNames: string[];
  uplinkDropNames: string[];
  totalsFixedFields: number;
  sampleRecordSize: number;
  alarmRecordSize: number;
}

function raw(): RawBinding {
  return loadBinding<{ dataplane: RawBinding }>().dataplane;
}

/** Why a VI port dropped a packet. */
export type ViDropReason = 'ring_full' | 'policed' | 'spoofing' | 'too_big' | 'port_error' | 'quarantined';
/** Why the uplink refused a datagram before parsing its inner frame. */
export type UplinkDropReason = 'short_vxlan' | 'vxlan_flag_not_set' | 'truncated_inner' | 'oversize' | 'unknown_vni' | 'unknown_vtep';

export interface DataPlaneConfig {
  /** The flow table whose rules classify the traffic (rules change there while traffic flows). */
  table: FlowTable;
  /** Router VTEP addresses (IPv4): the only senders accepted, and where frames go back. */
  routers: readonly string[];
  /** VNIs served; empty or absent: every VNI. */
  vnis?: readonly number[];
  /**
   * Network namespace for the uplink sockets, as a path (/var/run/netns/NAME); default: this
   * process's. Needs root. The threads run in this process either way.
   */
  netns?: string;
  /** Local address to bind (default 0.0.0.0). */
  bind?: string;
  /** Local UDP port (default 4789; 0: an ephemeral port, see DataPlane.port). */
  port?: number;
  /** UDP port of the routers' VTEPs (default 4789). */
  routerPort?: number;
  /** Data-plane threads, one uplink socket each (SO_REUSEPORT; default 1). */
  threads?: number;
  /** Datagrams per recvmmsg/sendmmsg (default 64). */
  batch?: number;
  /** Never block: lowest delay, a core per thread (default false). */
  busyPoll?: boolean;
  /** Empty polls before a thread blocks (default 64). */
  idleSpins?: number;
  /** Samples held until drained (default 4096); more are lost and counted. */
  sampleCapacity?: number;
  /** Alarm packets held until drained (default 1024). */
  alarmCapacity?: number;
  /** Offending packets kept as evidence per VI (default 8); later ones are only counted. */
  alarmPacketsPerVi?: number;
}

/**
 * What a VI may emit. transparent: only packets its own rules (to_vi, this VI)
 * capture, as sent or with source and destination swapped; visible: only from
 * one of `addresses`; unchecked: anything (trusted services, tests).
 */
export type EgressPolicy = { mode: 'unchecked' } | { mode: 'transparent' } | { mode: 'visible'; addresses: readonly string[] };

export interface RingPortOptions {
  /** Unix socket path the VI connects to for the ring fds (created here, removed at close). */
  socketPath: string;
  /** Slots per direction, a power of two (default 1024). */
  slots?: number;
  /** Bytes per slot including a 16-byte header (default 2048: frames up to 2032 bytes). */
  slotBytes?: number;
  egress?: EgressPolicy;
}

export interface TapPortOptions {
  /**
   * 'single' (default): one interface, `name` (default eth0 when netns is given, else tapN by the
   * kernel). 'bump': a bump in the wire, `<name>in0` receives the VI's packets and whatever the VI
   * sends out of `<name>out0` (or in0) goes back to the router.
   */
  layout?: 'single' | 'bump';
  name?: string;
  /**
   * Create the device directly in this network namespace (a path, /var/run/netns/NAME), e.g. the
   * VI's; default: this process's, then move it with `ip link set <name> netns <ns>`.
   */
  netns?: string;
  egress?: EgressPolicy;
}

export interface Limits {
  /** Bits per second of inner frames, each direction; 0 or absent: no limit. */
  bitsPerSecond?: number;
  packetsPerSecond?: number;
}

export interface DirectionCounters {
  packets: number;
  bytes: number;
  drops: Record<ViDropReason, number>;
}

export interface ViCounters {
  to_vi: DirectionCounters;
  from_vi: DirectionCounters;
}

export interface UplinkCounters {
  rxPackets: number;
  rxBytes: number;
  txPackets: number;
  txBytes: number;
  txErrors: number;
  /** Datagrams the kernel dropped because a socket's receive buffer was full. */
  socketDrops: number;
  /** Sent back to the router: rule action legacy, no rule matched, or a to_vi rule whose VI has no port. */
  legacy: number;
  /** Dropped by a rule whose action is drop. */
  ruleDrops: number;
  /** Matched no rule (and went to legacy). */
  missed: number;
  /** Matched a to_vi rule whose VI has no port (and went to legacy). */
  noPort: number;
  /** Sent for VIs (what their ports emitted and passed the checks). */
  fromVi: number;
  /** Refused datagrams by reason: the uplink's reasons and the inner frame's parse errors. */
  malformed: Record<string, number>;
  samplesTaken: number;
  samplesLost: number;
  alarmsLost: number;
}

/**
 * One sampled packet (sFlow semantics). viId and ruleId are the data plane's
 * numeric ids in decimal ('0': none), the ids the caller gave the VI's port
 * and the flow table gave the rule; the controller maps them to its own.
 */
export interface PacketSample {
  /** ms since epoch, integer */
  at: number;
  /** ns within that ms */
  ns: number;
  viId: string;
  ruleId: string;
  direction: 'to_vi' | 'from_vi';
  verdict: 'to_vi' | 'legacy' | 'drop' | 'forward' | 'spoofing' | 'policed';
  vni: number;
  wireLength: number;
  /** 1-in-N */
  samplingRate: number;
  /** Packets the rule (to_vi) or the VI's egress (from_vi) had seen when this one was sampled. */
  samplePool: number;
  /** Samples lost so far because nobody drained them in time. */
  drops: number;
  /** <= 256 bytes from the inner Ethernet header */
  bytes: Uint8Array;
}

/** One offending packet a VI emitted; the first few per VI are kept as evidence. */
export interface SpoofingAlarm {
  kind: 'spoofing';
  viId: number;
  at: number;
  ns: number;
  wireLength: number;
  bytes: Uint8Array;
}

const VERDICTS: readonly PacketSample['verdict'][] = ['to_vi', 'legacy', 'drop', 'forward', 'spoofing', 'policed'];

export class DataPlane {
  readonly #raw: RawDataPlane;
  readonly #totals: Float64Array;
  readonly #vi: Float64Array;

  /** Opens the uplink and starts the data-plane threads. Throws with the reason (bind failure, bad address...). */
  constructor(config: DataPlaneConfig) {
    const { table, ...rest } = config;
    this.#raw = new (raw().DataPlane)({ ...rest, table: table.handle });
    const b = raw();
    this.#totals = new Float64Array(b.totalsFixedFields + b.uplinkDropNames.length + parseErrorNames().length);
    this.#vi = new Float64Array(2 * (2 + b.viDropNames.length));
  }

  /** The local UDP port (the one the kernel chose when configured with port 0). */
  get port(): number {
    return this.#raw.port();
  }

  get threads(): number {
    return this.#raw.threads();
  }

  /** A ring port for VI `viId`; the VI connects with RingClient.connect(options.socketPath). */
  addRingPort(viId: number, options: RingPortOptions): void {
    this.#raw.addRingPort(viId, options.socketPath, options.slots ?? 1024, options.slotBytes ?? 2048, options.egress);
  }

  /**
   * A TAP port (needs root or CAP_NET_ADMIN). Returns the interface names; unless created in the
   * VI's namespace (options.netns), move them there with `ip link set <name> netns <ns>` (the data
   * plane keeps the fds, which keep working after the move).
   */
  addTapPort(viId: number, options: TapPortOptions = {}): string[] {
    const bump = options.layout === 'bump';
    const name = options.name ?? (bump ? '' : options.netns ? 'eth0' : '');
    return this.#raw.addTapPort(viId, name, options.netns ?? '', bump, options.egress).split(',');
  }

  /**
   * Closes a VI's port. New batches stop using it at once; remove the VI's rules first so its
   * traffic goes to legacy rather than being counted as no_port. False if it had no port.
   */
  closePort(viId: number): boolean {
    return this.#raw.closePort(viId);
  }

  /** Sets the VI's token buckets (both directions) at runtime, e.g. for restrict. */
  setLimits(viId: number, limits: Limits): void {
    if (!this.#raw.setLimits(viId, limits.bitsPerSecond ?? 0, limits.packetsPerSecond ?? 0)) throw new Error(`VI ${viId} has no data-plane port`);
  }

  setEgress(viId: number, egress: EgressPolicy): void {
    if (!this.#raw.setEgress(viId, egress)) throw new Error(`VI ${viId} has no data-plane port`);
  }

  /**
   * Quarantines a VI's port (or releases it): while quarantined its to_vi traffic goes legacy as
   * if it had no port, and everything it emits is dropped and counted as `quarantined`.
   */
  setQuarantined(viId: number, quarantined: boolean): void {
    if (!this.#raw.setQuarantined(viId, quarantined)) throw new Error(`VI ${viId} has no data-plane port`);
  }

  /** Per-direction counters of a VI's port, or undefined if it has none. */
  viCounters(viId: number): ViCounters | undefined {
    const v = this.#vi;
    if (!this.#raw.viCounters(viId, v)) return undefined;
    const names = raw().viDropNames as ViDropReason[];
    const direction = (at: number): DirectionCounters => ({
      packets: v[at] ?? 0,
      bytes: v[at + 1] ?? 0,
      drops: Object.fromEntries(names.map((n, i) => [n, v[at + 2 + i] ?? 0])) as Record<ViDropReason, number>,
    });
    return { to_vi: direction(0), from_vi: direction(2 + names.length) };
  }

  uplinkCounters(): UplinkCounters {
    const t = this.#totals;
    this.#raw.totals(t);
    const b = raw();
    const malformed: Record<string, number> = {};
    b.uplinkDropNames.forEach((n, i) => (malformed[n] = t[b.totalsFixedFields + i] ?? 0));
    const inner = parseErrorNames();
    const at = b.totalsFixedFields + b.uplinkDropNames.length;
    // Both layers have a vxlan_flag_not_set; one name, one sum.
    for (let e = 1; e < inner.length; e++) {
      const name = inner[e] ?? `reason_${e}`;
      malformed[name] = (malformed[name] ?? 0) + (t[at + e] ?? 0);
    }
    const f = (i: number): number => t[i] ?? 0;
    return {
      rxPackets: f(0), rxBytes: f(1), txPackets: f(2), txBytes: f(3), txErrors: f(4), socketDrops: f(5), legacy: f(6),
      ruleDrops: f(7), missed: f(8), noPort: f(9), fromVi: f(10), malformed, samplesTaken: f(11), samplesLost: f(12), alarmsLost: f(13),
    };
  }

  /** Takes up to `max` samples, oldest first. */
  drainSamples(max = 256): PacketSample[] {
    const size = raw().sampleRecordSize;
    const buf = new Uint8Array(size * max);
    const n = this.#raw.drainSamples(buf);
    const view = new DataView(buf.buffer);
    const out: PacketSample[] = [];
    for (let i = 0; i < n; i++) {
      const o = i * size;
      const time = view.getBigUint64(o, true);
      const captured = view.getUint16(o + 42, true);
      out.push({
        at: Number(time / 1_000_000n),
        ns: Number(time % 1_000_000n),
        viId: String(view.getUint32(o + 8, true)),
        ruleId: String(view.getUint32(o + 12, true)),
        vni: view.getUint32(o + 16, true),
        wireLength: view.getUint32(o + 20, true),
        samplingRate: view.getUint32(o + 24, true),
        drops: view.getUint32(o + 28, true),
        samplePool: Number(view.getBigUint64(o + 32, true)),
        direction: buf[o + 40] === 1 ? 'from_vi' : 'to_vi',
        verdict: VERDICTS[buf[o + 41] ?? 2] ?? 'drop',
        bytes: buf.slice(o + 48, o + 48 + captured),
      });
    }
    return out;
  }

  /** Takes up to `max` alarm packets, oldest first. */
  drainAlarms(max = 64): SpoofingAlarm[] {
    const size = raw().alarmRecordSize;
    const buf = new Uint8Array(size * max);
    const n = this.#raw.drainAlarms(buf);
    const view = new DataView(buf.buffer);
    const out: SpoofingAlarm[] = [];
    for (let i = 0; i < n; i++) {
      const o = i * size;
      const time = view.getBigUint64(o, true);
      const captured = view.getUint16(o + 20, true);
      out.push({
        kind: 'spoofing', viId: view.getUint32(o + 8, true), at: Number(time / 1_000_000n), ns: Number(time % 1_000_000n),
        wireLength: view.getUint32(o + 16, true), bytes: buf.slice(o + 24, o + 24 + captured),
      });
    }
    return out;
  }

  /** Stops the threads and closes the uplink and every port. Idempotent. */
  close(): void {
    this.#raw.stop();
  }
}

// ---------------------------------------------------------------- load

export interface LoadOptions {
  /** Namespace path for the generator's socket (default: this process's). */
  netns?: string;
  /** Local address and port: the "router" VTEP the cloudlet must list and send back to. */
  bind: string;
  port: number;
  /** The cloudlet's VTEP. */
  target: string;
  targetPort?: number;
  vni: number;
  /** Inner Ethernet frame (untagged IPv4/UDP), at least 58 bytes; bytes 42..57 carry a marker and the send time. */
  frame: Uint8Array;
  pps: number;
  seconds: number;
}

export interface LoadResult {
  sent: number;
  received: number;
  /** Send to return, as the router sees it: the per-hop delay. */
  p50Us: number;
  p99Us: number;
  seconds: number;
}

/**
 * Benchmark tool: plays the front-end router, sending `frame` VXLAN-encapsulated at a paced rate
 * (sendmmsg batches) to a cloudlet and counting what comes back. Blocks for the run.
 */
export function runVxlanLoad(options: LoadOptions): LoadResult {
  return raw().runLoad({ targetPort: 4789, ...options });
}

// ---------------------------------------------------------------- VI side

export interface RingGeometry {
  viId: number;
  slots: number;
  slotBytes: number;
  maxFrame: number;
}

/**
 * A batch of frames on the VI side of a ring port, reused across rounds.
 * After RingClient.receive, frames 0..count-1 are in `buffer` at
 * offsets/lengths. The service then builds its output with forward(),
 * replace() and emit(), and RingClient.send() sends the output.
 */
export class RingBatch {
  readonly capacity: number;
  readonly buffer: Uint8Array;
  /** The half of `buffer` that receive fills. */
  readonly received: Uint8Array;
  readonly offsets: Uint32Array;
  readonly lengths: Uint32Array;
  /** Per frame: VNI, rule id, router VTEP index | flags << 16 (kept for forwarded frames). */
  readonly meta: Uint32Array;
  count = 0;
  /** Output under construction: frames to send back to the router. */
  readonly outOffsets: Uint32Array;
  readonly outLengths: Uint32Array;
  readonly outMeta: Uint32Array;
  outCount = 0;
  #scratch: number;

  constructor(capacity = 64, maxFrame = 2032) {
    this.capacity = capacity;
    // Received frames in the first half, replaced or new frames in the second.
    this.buffer = new Uint8Array(2 * capacity * maxFrame);
    this.received = this.buffer.subarray(0, capacity * maxFrame);
    this.offsets = new Uint32Array(capacity);
    this.lengths = new Uint32Array(capacity);
    this.meta = new Uint32Array(3 * capacity);
    this.outOffsets = new Uint32Array(2 * capacity);
    this.outLengths = new Uint32Array(2 * capacity);
    this.outMeta = new Uint32Array(6 * capacity);
    this.#scratch = capacity * maxFrame;
  }

  /** Received frame i (a view, valid until the next receive). */
  frame(i: number): Uint8Array {
    const o = this.offsets[i] ?? 0;
    return this.buffer.subarray(o, o + (this.lengths[i] ?? 0));
  }

  /** Verdict forward: frame i goes back unchanged. */
  forward(i: number): void {
    this.#out(this.offsets[i] ?? 0, this.lengths[i] ?? 0, i);
  }

  /** Verdict forward modified: `bytes` replaces frame i and keeps its origin. */
  replace(i: number, bytes: Uint8Array): void {
    this.#out(this.#copy(bytes), bytes.length, i);
  }

  /** A new frame from the VI, sent towards the router it last heard from. */
  emit(bytes: Uint8Array): void {
    this.#out(this.#copy(bytes), bytes.length, -1);
  }

  /** Forwards every received frame unchanged (the `forward` service). */
  forwardAll(): void {
    for (let i = 0; i < this.count; i++) this.forward(i);
  }

  /** Starts a new round (receive does this). */
  reset(): void {
    this.count = 0;
    this.outCount = 0;
    this.#scratch = this.buffer.length / 2;
  }

  #copy(bytes: Uint8Array): number {
    const at = this.#scratch;
    if (at + bytes.length > this.buffer.length) throw new Error(`ring batch output is full (${this.buffer.length / 2} bytes of new frames per round)`);
    this.buffer.set(bytes, at);
    this.#scratch += bytes.length;
    return at;
  }

  #out(offset: number, length: number, from: number): void {
    const k = this.outCount;
    if (k >= this.outOffsets.length) throw new Error(`ring batch holds at most ${this.outOffsets.length} output frames per round`);
    this.outOffsets[k] = offset;
    this.outLengths[k] = length;
    for (let f = 0; f < 3; f++) this.outMeta[3 * k + f] = from >= 0 ? (this.meta[3 * from + f] ?? 0) : 0;
    this.outCount = k + 1;
  }
}

/** The VI side of a ring port: maps the rings handed over the port's Unix socket. */
export class RingClient {
  readonly #raw: RawRingClient;
  readonly geometry: RingGeometry;

  private constructor(rawClient: RawRingClient) {
    this.#raw = rawClient;
    this.geometry = rawClient.geometry();
  }

  /** Connects to a ring port's socket (retrying until timeoutMs) and maps its rings. */
  static connect(socketPath: string, timeoutMs = 5000): RingClient {
    return new RingClient(new (raw().RingClient)(socketPath, timeoutMs));
  }

  /** A batch sized for this port. */
  newBatch(capacity = 64): RingBatch {
    return new RingBatch(capacity, this.geometry.maxFrame);
  }

  /**
   * Receives up to batch.capacity frames: spins briefly, then blocks up to timeoutMs (blocking
   * this thread; run a VI's loop in its own process or worker). Returns the count (0 on timeout).
   */
  receive(batch: RingBatch, timeoutMs = 100, spins = 2000): number {
    batch.reset();
    batch.count = this.#raw.receive(batch.received, batch.offsets, batch.lengths, batch.meta, batch.capacity, spins, timeoutMs);
    return batch.count;
  }

  /** Sends the batch's output; waits up to timeoutMs for ring space. Returns the frames accepted. */
  send(batch: RingBatch, timeoutMs = 100): number {
    return this.#raw.send(batch.buffer, batch.outOffsets, batch.outLengths, batch.outMeta, batch.outCount, timeoutMs);
  }

  close(): void {
    this.#raw.close();
  }
}
