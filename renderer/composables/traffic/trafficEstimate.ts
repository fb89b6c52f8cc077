/**
 * What the samples say about all the traffic: totals estimated from the
 * sampling rate, with a 95 % error bar, and the top talkers, flows and ports.
 *
 * Each sample stands for `rate` packets (sFlow's 1-in-N random sampling, so
 * each packet was kept with probability p = 1/N). The Horvitz-Thompson
 * estimate of the packet count is the sum of the rates, and of the bytes the
 * sum of rate x wire length. Their variance is estimated without bias by
 * sum(N (N - 1)) and sum(N (N - 1) L^2) over the samples (a packet sampled
 * 1-in-1 adds no uncertainty); the error bar is 1.96 standard deviations.
 * For a single rate N and n samples this is sFlow's familiar relative error
 * of about 196 / sqrt(n) percent.
 */
import type { FlowKey } from './packetDecode.ts';

export interface Estimate {
  /** Samples the estimate rests on. */
  samples: number;
  packets: number;
  /** Half-width of the 95 % interval around `packets`. */
  packetsError: number;
  bytes: number;
  bytesError: number;
}

export interface WeightedSample {
  samplingRate: number;
  wireLength: number;
}

const z95 = 1.96;

export class EstimateAccumulator {
  private n = 0;
  private packets = 0;
  private packetsVar = 0;
  private bytes = 0;
  private bytesVar = 0;

  add(s: WeightedSample): void {
    // A rate of 0 means "not sampled by rate" (every packet): it counts as 1.
    const rate = Math.max(1, s.samplingRate);
    const v = rate * (rate - 1);
    this.n += 1;
    this.packets += rate;
    this.packetsVar += v;
    this.bytes += rate * s.wireLength;
    this.bytesVar += v * s.wireLength * s.wireLength;
  }

  result(): Estimate {
    return { samples: this.n, packets: this.packets, packetsError: z95 * Math.sqrt(this.packetsVar), bytes: this.bytes, bytesError: z95 * Math.sqrt(this.bytesVar) };
  }
}

export function estimate(samples: Iterable<WeightedSample>): Estimate {
  const acc = new EstimateAccumulator();
  for (const s of samples) acc.add(s);
  return acc.result();
}

export interface RankedEstimate extends Estimate {
  key: string;
}

/**
 * The `n` largest groups by estimated bytes (then packets), each with its
 * error bar, and what the rest add up to. `keysOf` may put a sample in
 * several groups (a talker is both ends of a packet) or in none.
 */
export function topN<S extends WeightedSample>(samples: Iterable<S>, keysOf: (s: S) => readonly string[], n: number): { top: RankedEstimate[]; others: Estimate; groups: number } {
  const groups = new Map<string, EstimateAccumulator>();
  for (const s of samples) {
    for (const key of keysOf(s)) {
      let acc = groups.get(key);
      if (!acc) groups.set(key, (acc = new EstimateAccumulator()));
      acc.add(s);
    }
  }
  const ranked = [...groups].map(([key, acc]) => ({ key, ...acc.result() })).sort((a, b) => b.bytes - a.bytes || b.packets - a.packets || a.key.localeCompare(b.key));
  const rest = ranked.slice(n);
  const others: Estimate = {
    samples: rest.reduce((t, r) => t + r.samples, 0),
    packets: rest.reduce((t, r) => t + r.packets, 0),
    packetsError: Math.sqrt(rest.reduce((t, r) => t + r.packetsError ** 2, 0)),
    bytes: rest.reduce((t, r) => t + r.bytes, 0),
    bytesError: Math.sqrt(rest.reduce((t, r) => t + r.bytesError ** 2, 0)),
  };
  return { top: ranked.slice(0, n), others, groups: ranked.length };
}

/** A flow regardless of direction: both directions of one conversation share it. */
export function conversationKey(f: FlowKey): string {
  const a = f.srcPort === null ? f.src : `${f.src}:${f.srcPort}`;
  const b = f.dstPort === null ? f.dst : `${f.dst}:${f.dstPort}`;
  const [lo, hi] = a < b ? [a, b] : [b, a];
  return `${f.protoName} ${lo} ⇄ ${hi}`;
}

/** The display filter that shows one conversation, both directions (Wireshark's "Follow"). */
export function conversationFilter(f: FlowKey): string {
  const ip = f.version === 4 ? 'ip.addr' : 'ipv6.addr';
  const parts = [`${ip} == ${f.src}`, `${ip} == ${f.dst}`];
  const transport = f.proto === 6 ? 'tcp' : f.proto === 17 ? 'udp' : null;
  if (transport && f.srcPort !== null && f.dstPort !== null) parts.push(`${transport}.port == ${f.srcPort}`, `${transport}.port == ${f.dstPort}`);
  else parts.push(f.version === 4 ? `ip.proto == ${f.proto}` : `ipv6.nxt == ${f.proto}`);
  return parts.join(' && ');
}

/** Bytes and packets in words an operator reads at a glance ("1.2 MB ± 0.3"). */
export function formatCount(value: number, unit: '' | 'B'): string {
  const steps = unit === 'B' ? ['B', 'kB', 'MB', 'GB', 'TB'] : ['', 'k', 'M', 'G', 'T'];
  let v = value;
  let i = 0;
  while (Math.abs(v) >= 1000 && i < steps.length - 1) {
    v /= 1000;
    i++;
  }
  const text = i === 0 ? String(Math.round(v)) : v.toFixed(v < 10 ? 2 : 1);
  return `${text}${steps[i] ? (unit === 'B' ? ` ${steps[i]}` : steps[i]) : ''}`;
}

export function formatEstimate(value: number, error: number, unit: '' | 'B'): string {
  return error > 0 ? `${formatCount(value, unit)} ± ${formatCount(error, unit)}` : formatCount(value, unit);
}
