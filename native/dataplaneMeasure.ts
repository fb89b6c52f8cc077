// Measurements on the data-plane lab (main/console/dataplaneLab.ts), shared by
// bench/dataplane.ts and the paper's experiments (main/console/experiments/):
// the router's frames, one run of the VXLAN load generator in a child
// process (its CPU time is not the data plane's, and the caller's event loop
// keeps running), and the MLFFR binary search.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { CLOUDLET, H1, H2, ROUTER_VTEP, VNI, type DataPlaneLab } from '../main/console/dataplaneLab.ts';
import { ipv4Frame } from '../main/console/labTrafficSource.ts';
import type { LoadResult } from './index.ts';

/** Where the generator listens, in the router namespace: the data plane under test sends back here (routerPort). */
export const GENERATOR_PORT = 4791;

const loadScript = fileURLToPath(new URL('./dataplaneLoad.ts', import.meta.url));

/**
 * An h1 -> h2 UDP frame of `bytes` bytes, addressed to the MAC the router's next hop uses, with a
 * valid IPv4 header checksum (the kernel path and a bridge with bridge netfilter drop bad ones).
 * `srcPort` tells flows apart. `stampInIpOptions`: 40 bytes of IPv4 options (NOPs) hold the bytes
 * 42..57 where the generator writes its marker and send time, so that a service rewriting the
 * transport payload (aes-encrypt) leaves them intact; the header checksum is then stale once the
 * generator stamps it (nothing on the data plane's path checks it, the kernel would).
 */
export function frameOf(lab: DataPlaneLab, bytes: number, options: { srcPort?: number; stampInIpOptions?: boolean } = {}): Uint8Array {
  const room = options.stampInIpOptions ? 40 : 0;
  const udp = Buffer.alloc(bytes - 42 - room);
  udp.writeUInt16BE(options.srcPort ?? 40000, 0);
  udp.writeUInt16BE(5001, 2);
  udp.writeUInt16BE(udp.length, 4); // checksum 0: none, which IPv4 allows (the generator's stamp would make any other wrong)
  // Any source MAC but the router's own: its vxlan device drops frames coming back with its own (loop protection).
  const plain = ipv4Frame({ address: H1, mac: '02:00:00:00:00:02' }, { address: H2, mac: lab.routerMac }, 17, udp, null);
  const f = new Uint8Array(plain.length + room);
  f.set(plain.subarray(0, 34));
  f.fill(1, 34, 34 + room); // IPv4 option NOP
  f.set(plain.subarray(34), 34 + room);
  f[14] = 0x40 | ((20 + room) / 4);
  f[16] = ((f.length - 14) >> 8) & 0xff;
  f[17] = (f.length - 14) & 0xff;
  f[14 + 10] = 0;
  f[14 + 11] = 0;
  let sum = 0;
  for (let i = 14; i < 34 + room; i += 2) sum += ((f[i] ?? 0) << 8) | (f[i + 1] ?? 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  f[14 + 10] = (~sum >> 8) & 0xff;
  f[14 + 11] = ~sum & 0xff;
  return f;
}

export interface LoadTarget {
  /** The generator's port in the router namespace (the data plane's routerPort). */
  port?: number;
  /** The data plane's uplink port. */
  targetPort?: number;
}

function loadOptions(lab: DataPlaneLab, frame: Uint8Array, pps: number, seconds: number, target: LoadTarget) {
  return { netns: lab.nsPath(lab.ns.r), bind: ROUTER_VTEP, port: target.port ?? GENERATOR_PORT, target: CLOUDLET, targetPort: target.targetPort ?? 4789, vni: VNI, frame: Array.from(frame), pps, seconds };
}

/**
 * A generator process kept for many runs (dataplaneLoad.ts --serve): a
 * short run then costs its own seconds, not a process start. One run at a
 * time per process; runs in parallel need one each.
 */
export class LoadGeneratorProcess {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly waiting: { resolve: (r: LoadResult) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }[] = [];
  private stderr = '';

  constructor() {
    this.child = spawn(process.execPath, [loadScript, '--serve']);
    this.child.stderr.on('data', (d: Buffer) => (this.stderr = (this.stderr + d.toString()).slice(-2000)));
    createInterface({ input: this.child.stdout }).on('line', (line) => {
      const w = this.waiting.shift();
      if (!w) return;
      clearTimeout(w.timer);
      const answer = JSON.parse(line) as LoadResult | { error: string };
      if ('error' in answer) w.reject(new Error(`load generator: ${answer.error}`));
      else w.resolve(answer);
    });
    this.child.once('exit', (code, signal) => {
      for (const w of this.waiting.splice(0)) {
        clearTimeout(w.timer);
        w.reject(new Error(`load generator exited (${signal ?? `exit ${code}`}): ${this.stderr.trim()}`));
      }
    });
  }

  run(lab: DataPlaneLab, frame: Uint8Array, pps: number, seconds: number, target: LoadTarget = {}): Promise<LoadResult> {
    return new Promise((resolve, reject) => {
      // Bounded: a run is its seconds plus the drain; a generator stuck beyond that is killed.
      const timer = setTimeout(() => this.child.kill('SIGKILL'), (seconds + 30) * 1000);
      this.waiting.push({ resolve, reject, timer });
      this.child.stdin.write(`${JSON.stringify(loadOptions(lab, frame, pps, seconds, target))}\n`);
    });
  }

  close(): void {
    this.child.stdin.end();
    if (this.child.exitCode === null) this.child.kill('SIGKILL');
  }
}

/** One run of the generator from the router namespace, in a process of its own: `pps` for `seconds`, counting what comes back. */
export function runLoad(lab: DataPlaneLab, frame: Uint8Array, pps: number, seconds: number, target: LoadTarget = {}): Promise<LoadResult> {
  const options = loadOptions(lab, frame, pps, seconds, target);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [loadScript, JSON.stringify(options)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), (seconds + 30) * 1000);
    child.once('error', reject);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (code !== 0) reject(new Error(`load generator failed (${signal ?? `exit ${code}`}): ${err.trim()}`));
      else resolve(JSON.parse(out) as LoadResult);
    });
  });
}

export interface TrialOutcome {
  sent: number;
  received: number;
  seconds: number;
}

export interface MlffrSearch {
  /** First rate tried (pps); the search halves from there or climbs towards `ceiling`. */
  start?: number;
  ceiling?: number;
  maxTrials?: number;
  /** Stop when the bracket is this narrow (pps). */
  resolution?: number;
  /**
   * Until the first loss, multiply the rate by this instead of bisecting towards the ceiling: a
   * slow machine finds its bracket in a few trials rather than spending them far above it.
   */
  growth?: number;
  onTrial?: (rate: number, ok: boolean, trial: number) => void;
}

/**
 * Maximum loss-free forwarding rate: binary search on the offered rate, a
 * trial passing when everything sent came back. Stops early at the
 * generator's own ceiling (it could not offer the rate asked). Returns the
 * best achieved rate and that trial's outcome.
 */
export async function findMlffr<T extends TrialOutcome>(trial: (pps: number) => Promise<T>, search: MlffrSearch = {}): Promise<{ pps: number; best: T | null }> {
  let lo = 0;
  let hi = search.ceiling ?? 2_000_000;
  let best = 0;
  let bestTrial: T | null = null;
  const maxTrials = search.maxTrials ?? 9;
  const ceiling = hi;
  for (let i = 0; i < maxTrials && hi - lo > (search.resolution ?? 2000); i++) {
    const climbing = search.growth !== undefined && hi === ceiling && lo > 0;
    const rate = i === 0 ? Math.min(search.start ?? 50_000, hi) : climbing ? Math.min(hi, Math.round(lo * (search.growth ?? 2))) : Math.round((lo + hi) / 2);
    const r = await trial(rate);
    const achieved = r.sent / r.seconds;
    const ok = r.received === r.sent && r.sent > 0;
    search.onTrial?.(rate, ok, i);
    if (ok) {
      if (achieved > best) {
        best = achieved;
        bestTrial = r;
      }
      if (achieved < rate * 0.95) break; // the generator's own ceiling
      lo = rate;
    } else {
      hi = rate;
    }
  }
  return { pps: best, best: bestTrial };
}
