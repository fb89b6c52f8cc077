/**
 * The scheduler daemon as a real process on loopback, with misbehaving
 * clients (test/support/abusiveClients.ts, a process of their own): a slow
 * reader asking for 10,000-row lists, one provider on 40 connections flooding
 * booked-out requests, a viewer looping over costly reads, an operator
 * looping over full audit verifications, and 30 connections of 64
 * subscriptions each that stop reading. A well-behaved provider's admission
 * and list latency is measured first alone, then under that abuse, in the
 * same run: its p99 may at most double. The daemon's resident memory
 * (VmRSS) must stay within a bound of where it started. It prints what it
 * measured (p99s, RSS, CPU shares, the slowest calls, what the abusers sent
 * and had refused); ABUSE_ONLY=flooder,slowReader,... runs only those abusers.
 */
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, test } from 'vitest';
import { RpcClient } from '../../main/protocol/client.ts';
import type { ReservationRequest } from '../../main/protocol/domain.ts';
import { schedulerApi, type SchedulerApi } from '../../main/protocol/schedulerApi.ts';
import { spawnScheduler } from '../support/schedulerProcess.ts';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'pcloud-sched-abuse-'));
const configFile = join(dir, 'scheduler.json');
const tokens = {
  good: 'provider-good-0123456789abcdef',
  seed: 'provider-seed-0123456789abcdef',
  flooder: 'provider-flooder-0123456789abcdef',
  slowReader: 'viewer-slow-reader-0123456789abcdef',
  costly: 'viewer-costly-0123456789abcdef',
  subscriber: 'viewer-subscriber-0123456789abcdef',
  fullVerifier: 'operator-verifier-0123456789abcdef',
};
const pops = ['A', 'B', 'C', 'D'];
// Default limits on purpose: the defaults are what must protect a daemon.
writeFileSync(
  configFile,
  JSON.stringify({
    listen: { host: '127.0.0.1', port: 0 },
    database: 'scheduler.sqlite',
    tokens: [
      { token: tokens.good, role: 'provider', name: 'good', providerId: 'p1' },
      { token: tokens.seed, role: 'provider', name: 'seed', providerId: 'p3' },
      { token: tokens.flooder, role: 'provider', name: 'flooder', providerId: 'p2' },
      { token: tokens.slowReader, role: 'viewer', name: 'slow-reader' },
      { token: tokens.costly, role: 'viewer', name: 'costly' },
      { token: tokens.subscriber, role: 'viewer', name: 'subscriber' },
      { token: tokens.fullVerifier, role: 'operator', name: 'verifier' },
    ],
    slotMs: 60_000,
    ispShare: 0.1,
    topology: {
      pops: pops.map((id) => ({ id })),
      links: [
        { a: 'A', b: 'B', rttMs: 4, capacityMbps: 10_000 },
        { a: 'B', b: 'C', rttMs: 6, capacityMbps: 10_000 },
        { a: 'C', b: 'D', rttMs: 3, capacityMbps: 10_000 },
      ],
      cloudlets: pops.map((p) => ({
        id: `c${p}`,
        popId: p,
        nodes: [1, 2, 3, 4].map((n) => ({ id: `${p.toLowerCase()}${n}`, capacity: { cpu: 8, memMiB: 65_536, diskGiB: 1000, netMbps: 10_000 } })),
      })),
    },
  }),
);

const children: ChildProcess[] = [];
const clients: RpcClient<SchedulerApi>[] = [];
afterAll(() => {
  for (const c of clients) c.close();
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

const hour = 3_600_000;
const base = (Math.floor(Date.now() / hour) + 3) * hour;

function requestAt(t0: number, hours: number, cpu: number): ReservationRequest {
  return {
    requestorPopId: 'A',
    t0,
    t1: t0 + hours * hour,
    profile: [{ from: t0, to: t0 + hours * hour, capacity: { cpu, memMiB: 512, diskGiB: 1, netMbps: 10 } }],
    service: { mode: 'transparent', program: 'monitor', args: {}, rules: [] },
  };
}

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m?.[1]) throw new Error(`no VmRSS for process ${pid}`);
  return Number(m[1]) / 1024;
}

/** CPU seconds a process has used (user + system). */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function p99(samples: number[]): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * 0.99) - 1)] as number;
}

/**
 * The well-behaved provider: one call at a time, a small admission every
 * tenth call and a short list otherwise, paced under its default budget.
 */
async function wellBehaved(client: RpcClient<SchedulerApi>, ops: number, offset: number): Promise<number[]> {
  const latencies: number[] = [];
  for (let i = 0; i < ops; i++) {
    const started = performance.now();
    if (i % 10 === 0) await client.call('reservation.request', requestAt(base + (24 + ((offset + i) % 400)) * hour, 1, 0.1));
    else await client.call('reservation.list', { limit: 20 });
    latencies.push(performance.now() - started);
    // Paced under the default budget (200 per second), as a well-behaved client is.
    await new Promise((r) => setTimeout(r, 20));
  }
  return latencies;
}

test('misbehaving clients do not raise a well-behaved client p99 more than 2x, and memory stays bounded', { timeout: 120_000 }, async () => {
  const daemon = await spawnScheduler(configFile);
  children.push(daemon.child);
  const pid = daemon.child.pid as number;
  const connect = async (token: string) => {
    const c = new RpcClient(schedulerApi, { url: daemon.url, token, timeoutMs: 30_000 });
    clients.push(c);
    await c.connect();
    return c;
  };

  // Book out the hour at `base` on every node (7 of the 7.2 cores providers may have), so a
  // request there walks every node and is declined: the flood's requests.
  const seed = await connect(tokens.seed);
  for (let n = 0; n < 16; n++) expect((await seed.call('reservation.request', requestAt(base, 1, 7))).state).toBe('pending_approval');
  const bookedOut = requestAt(base, 1, 1);
  expect((await seed.call('reservation.request', bookedOut)).state).toBe('declined');

  const good = await connect(tokens.good);
  await wellBehaved(good, 40, 0); // warm-up: JIT, SQLite page cache
  const rssBefore = rssMiB(pid);
  const baseline = await wellBehaved(good, 600, 100);

  const abusers = spawn(
    process.execPath,
    ['--disable-warning=ExperimentalWarning', 'test/support/abusiveClients.ts', daemon.url, JSON.stringify({ tokens, bookedOut, durationMs: 35_000, ...(process.env.ABUSE_ONLY ? { only: process.env.ABUSE_ONLY.split(',') } : {}) })],
    { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  children.push(abusers);
  let abuseOut = '';
  abusers.stdout?.on('data', (d: Buffer) => (abuseOut += d.toString()));
  abusers.stderr?.on('data', (d: Buffer) => (abuseOut += d.toString()));
  const abusersDone = new Promise<number | null>((resolve) => abusers.once('exit', resolve));
  let rssMax = rssBefore;
  const sampler = setInterval(() => (rssMax = Math.max(rssMax, rssMiB(pid))), 100);
  try {
    await new Promise((r) => setTimeout(r, 5000)); // let every abuser reach its steady state
    const cpuAtStart = [cpuSeconds(pid), cpuSeconds(abusers.pid as number)];
    const startedAt = performance.now();
    const underAbuse = await wellBehaved(good, 600, 1000);
    const wall = (performance.now() - startedAt) / 1000;
    const cpuShare = { daemon: (cpuSeconds(pid) - (cpuAtStart[0] as number)) / wall, abusers: (cpuSeconds(abusers.pid as number) - (cpuAtStart[1] as number)) / wall };
    expect(await abusersDone).toBe(0);
    const counts = JSON.parse(abuseOut.trim().split('\n').at(-1) ?? '{}') as Record<string, number>;
    const summary = {
      baselineP99Ms: Number(p99(baseline).toFixed(2)),
      underAbuseP99Ms: Number(p99(underAbuse).toFixed(2)),
      rssBeforeMiB: Math.round(rssBefore),
      rssMaxMiB: Math.round(rssMax),
      cpuShare: { daemon: Number(cpuShare.daemon.toFixed(2)), abusers: Number(cpuShare.abusers.toFixed(2)) },
      loadavg: readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' '),
      // [index, ms] of the slowest well-behaved calls under abuse: where the tail comes from.
      slowest: underAbuse.map((ms, i) => [i, Math.round(ms)]).sort((a, b) => (b[1] as number) - (a[1] as number)).slice(0, 8),
      abusers: counts,
    };
    process.stdout.write(`abuse: ${JSON.stringify(summary)}\n`);
    // The abuse happened and was refused, not merely absent.
    expect(counts.sent).toBeGreaterThan(10_000);
    expect(counts.refused).toBeGreaterThan(1000);
    expect(counts.refusedConnections).toBeGreaterThan(0);
    expect(p99(underAbuse)).toBeLessThanOrEqual(2 * p99(baseline));
    // Before the fix one slow reader grew a daemon by 540 MiB; now every connection is bounded.
    expect(rssMax - rssBefore).toBeLessThan(256);
    await expect(good.call('scheduler.info', {})).resolves.toMatchObject({ slotMs: 60_000 });
  } finally {
    clearInterval(sampler);
    if (abusers.exitCode === null) abusers.kill('SIGKILL');
  }
});
