/**
 * The lab's links' RTT and loss: pcloud-delayline (native/delayline/), a
 * userspace delay line, because this kernel has no netem (NETWORK-NOTES.md).
 * A delayed link is two veth pairs whose inner ends sit in the lab's wire
 * namespace; the program joins each pair both ways, holding every frame for
 * half the link's RTT, dropping the link's loss (seeded) and tail-dropping
 * past a queue bound, and counts all of it in a stats file.
 *
 * Who calls: labNetwork (start after the links exist, stop before the
 * namespaces go) and the delay line's own tests. What it trusts: the spec
 * recorded in the lab's network.json before the program starts; the running
 * program is found again by its command line, which names that spec's unique
 * stats file, so `lab down` and the next `up` stop it even when the `up` that
 * started it was killed before it could note a pid. The program also exits
 * by itself when one of its devices disappears.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { z } from 'zod';
import { nativeBuildPath } from '../../native/loader.ts';
import { readJsonFile } from './jsonFile.ts';

export const DelayLineSpecSchema = z.object({
  /** The namespace that holds the wire devices (and the program). */
  ns: z.string(),
  /** Counters (JSON, rewritten every 500 ms); unique per lab, so it also identifies the program. */
  stats: z.string(),
  log: z.string(),
  seed: z.number().int().nonnegative(),
});
export type DelayLineSpec = z.output<typeof DelayLineSpecSchema>;

/** One link through the delay line: its two wire devices and what happens between them, each way. */
export const DelayLineLinkSchema = z.object({ wireA: z.string(), wireB: z.string(), oneWayUs: z.number().int().nonnegative(), lossPpm: z.number().int().min(0).max(1_000_000), queueBytes: z.number().int().positive() });
export type DelayLineLink = z.output<typeof DelayLineLinkSchema>;

const DirectionStatsSchema = z.object({
  frames: z.number(),
  bytes: z.number(),
  forwarded: z.number(),
  forwardedBytes: z.number(),
  lossDrops: z.number(),
  queueDrops: z.number(),
  sendErrors: z.number(),
  truncated: z.number(),
  socketDrops: z.number(),
  maxQueuedBytes: z.number(),
  queuedFrames: z.number(),
});
export const DelayLineStatsSchema = z.object({
  pid: z.number().int(),
  final: z.boolean(),
  links: z.array(z.object({ a: z.string(), b: z.string(), oneWayUs: z.number(), lossPpm: z.number(), queueBytes: z.number(), aToB: DirectionStatsSchema, bToA: DirectionStatsSchema })),
});
export type DelayLineStats = z.output<typeof DelayLineStatsSchema>;

/**
 * Smallest queue bound. Frames leave when due whatever the queue holds (no service rate, so no
 * queueing delay), so the bound only has to absorb the process being descheduled: on a shared
 * 2-vCPU machine that is milliseconds, and bench:lab-link saw 256 KiB tail-drop TCP at 0.4 ms.
 */
const minQueueBytes = 1024 * 1024;
/** Largest: memory follows the bytes in flight, but dozens of long links share one process. */
const maxQueueBytes = 16 * 1024 * 1024;

/**
 * What a link's delay line does, each way: half the RTT, the link's loss,
 * and a queue of twice the link's one-way bandwidth-delay product (the
 * capacity is shaped before the delay line, so only bursts can reach it).
 */
export function delayLineLink(wireA: string, wireB: string, link: { rttMs: number; capacityMbps: number; lossPercent: number }): DelayLineLink {
  const oneWayUs = Math.round((link.rttMs * 1000) / 2);
  const bdpBytes = (link.capacityMbps * 1e6 / 8) * (oneWayUs / 1e6);
  return {
    wireA,
    wireB,
    oneWayUs,
    lossPpm: Math.round(link.lossPercent * 10_000),
    queueBytes: Math.round(Math.min(maxQueueBytes, Math.max(minQueueBytes, 2 * bdpBytes))),
  };
}

export function delayLineArgs(spec: DelayLineSpec, links: DelayLineLink[]): string[] {
  return ['--stats', spec.stats, '--seed', String(spec.seed), ...links.flatMap((l) => ['--link', `${l.wireA},${l.wireB},${l.oneWayUs},${l.lossPpm},${l.queueBytes}`])];
}

/** Pids of delay lines of this spec that still run, found by the stats file on their command line. */
export function delayLinePids(spec: DelayLineSpec): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let argv: string[];
    try {
      argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
    } catch {
      continue; // exited meanwhile
    }
    const at = argv.indexOf('--stats');
    // `ip netns exec` replaces itself with the program, so the pid is the program's whichever was seen.
    if (at > 0 && argv[at + 1] === spec.stats && argv.some((a) => a.endsWith('pcloud-delayline'))) pids.push(Number(entry));
  }
  return pids;
}

export function readDelayLineStats(spec: DelayLineSpec): DelayLineStats | undefined {
  return readJsonFile(spec.stats, DelayLineStatsSchema.nullable(), null) ?? undefined;
}

/**
 * Starts the delay line in its namespace, detached (it outlives `pcctl lab
 * up`, like the routers' OVS daemons) with `ip` (a full path: root's PATH may lack
 * /usr/sbin), and waits until it has bound every
 * device: its first stats file. Rejects with the program's own words if it
 * exits first.
 */
export async function startDelayLine(spec: DelayLineSpec, links: DelayLineLink[], options: { ip?: string; timeoutMs?: number } = {}): Promise<number> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  rmSync(spec.stats, { force: true });
  const log = openSync(spec.log, 'w', 0o600);
  let exit: string | null = null;
  const child = spawn(options.ip ?? 'ip', ['netns', 'exec', spec.ns, nativeBuildPath('pcloud-delayline'), ...delayLineArgs(spec, links)], { detached: true, stdio: ['ignore', log, log] });
  closeSync(log);
  child.once('exit', (code, signal) => (exit = `exited with ${code ?? signal}`));
  child.once('error', (e) => (exit = e.message));
  child.unref();
  const deadline = Date.now() + timeoutMs;
  while (!existsSync(spec.stats)) {
    if (exit !== null || Date.now() > deadline) {
      if (exit === null) child.kill('SIGKILL');
      const words = existsSync(spec.log) ? readFileSync(spec.log, 'utf8').trim() : '';
      throw new Error(`the lab's delay line in ${spec.ns} ${exit ?? `was not ready after ${timeoutMs} ms`}${words ? `: ${words}` : ''} (log ${spec.log})`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return child.pid as number;
}

/** Stops every delay line of this spec (SIGTERM, then SIGKILL if it lingers); returns their pids. */
export async function stopDelayLine(spec: DelayLineSpec): Promise<number[]> {
  const pids = delayLinePids(spec);
  const signal = (pid: number, name: NodeJS.Signals): void => {
    try {
      process.kill(pid, name);
    } catch {
      // exited meanwhile
    }
  };
  for (const pid of pids) signal(pid, 'SIGTERM');
  const deadline = Date.now() + 3000;
  while (Date.now() < deadline && delayLinePids(spec).length) await new Promise((r) => setTimeout(r, 20));
  for (const pid of delayLinePids(spec)) signal(pid, 'SIGKILL');
  return pids;
}
