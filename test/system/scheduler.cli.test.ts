/**
 * pcctl against a real scheduler daemon: providers reserve, list, resize and
 * cancel; operators see pending requests, explain, approve and decline; every
 * command answers in JSON with --json, and refusals come back as clear
 * errors with a non-zero exit.
 */
import { spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { repoRoot } from './harness.ts';
import { spawnScheduler } from '../support/schedulerProcess.ts';

const dir = mkdtempSync(join(tmpdir(), 'pcloud-sched-cli-'));
const configFile = join(dir, 'scheduler.json');
const tokens = { operator: 'operator-token-0123456789abcdef', p1: 'provider-p1-0123456789abcdef' };
writeFileSync(
  configFile,
  JSON.stringify({
    listen: { host: '127.0.0.1', port: 0 },
    tokens: [
      { token: tokens.operator, role: 'operator', name: 'noc' },
      { token: tokens.p1, role: 'provider', name: 'alice', providerId: 'p1' },
    ],
    ispShare: 0.25,
    topology: {
      pops: [{ id: 'A' }, { id: 'B' }],
      links: [{ a: 'A', b: 'B', rttMs: 5, capacityMbps: 1000 }],
      cloudlets: [{ id: 'cB', popId: 'B', nodes: [{ id: 'b1', capacity: { cpu: 8, memMiB: 16384, diskGiB: 2000, netMbps: 10000 } }] }],
    },
  }),
);

let daemon: ChildProcess | undefined;
let url = '';

beforeAll(async () => {
  const started = await spawnScheduler(configFile);
  daemon = started.child;
  url = started.url;
});

afterAll(async () => {
  if (daemon && daemon.exitCode === null) {
    const exited = new Promise((r) => daemon?.once('exit', r));
    daemon.kill('SIGTERM');
    await exited;
  }
});

function pcctlWith(env: Record<string, string | undefined>, ...args: string[]): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, ['--disable-warning=ExperimentalWarning', 'main/cli/pcctl.ts', ...args], {
    cwd: repoRoot,
    env: { ...process.env, PCLOUD_SCHEDULER_URL: undefined, PCLOUD_TOKEN: undefined, ...env },
    encoding: 'utf8',
    timeout: 30_000,
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

function pcctl(token: string, ...args: string[]): { code: number | null; out: string; err: string } {
  return pcctlWith({ PCLOUD_SCHEDULER_URL: url, PCLOUD_TOKEN: token }, ...args);
}

const hourFromNow = (n: number): string => new Date((Math.floor(Date.now() / 3_600_000) + n) * 3_600_000).toISOString();

describe('pcctl and the scheduler', () => {
  test('a provider reserves and an operator approves, declines and explains', () => {
    const reserve = (cpu: string) => pcctl(tokens.p1, 'reserve', '--json', '--pop', 'A', '--from', hourFromNow(2), '--to', hourFromNow(4), '--cpu', cpu, '--mem', '1024', '--disk', '10', '--net', '100');
    const first = reserve('4');
    expect(first.code, first.err).toBe(0);
    const made = JSON.parse(first.out) as { id: string; state: string; cloudletId: string };
    expect(made).toMatchObject({ state: 'pending_approval', cloudletId: 'cB' });

    const declined = reserve('4');
    expect(declined.code).toBe(1);
    expect(JSON.parse(declined.out)).toMatchObject({ state: 'declined', reason: expect.stringContaining('cpu does not fit') });
    // A refusal is counted, not kept as a reservation: operators see it with `pcctl refusals`.
    const refusals = pcctl(tokens.operator, 'refusals', '--json');
    expect(refusals.code, refusals.err).toBe(0);
    expect(JSON.parse(refusals.out)).toMatchObject([{ id: JSON.parse(declined.out).id, providerId: 'p1', kind: 'booked-out:cpu', count: 1 }]);
    expect(pcctl(tokens.operator, 'refusals').out).toMatch(/^\s+1x booked-out:cpu/);

    const pending = pcctl(tokens.operator, 'pending', '--json');
    expect(JSON.parse(pending.out).map((r: { id: string }) => r.id)).toEqual([made.id]);

    const explain = pcctl(tokens.operator, 'explain', made.id);
    expect(explain.code, explain.err).toBe(0);
    expect(explain.out).toContain('admitted: cB is the closest cloudlet that fits (5 ms from A)');
    expect(explain.out).toContain('headroom on b1');

    const approve = pcctl(tokens.operator, 'approve', made.id, '--json');
    // No controller runs for cB here: the two-phase confirm fails, and says why.
    expect(approve.code).toBe(1);
    expect(JSON.parse(approve.out)).toMatchObject({ state: 'failed', reason: expect.stringContaining('the controller of cB is not connected') });
  });

  test('providers list, resize and cancel their own reservations', () => {
    const made = JSON.parse(pcctl(tokens.p1, 'reserve', '--json', '--pop', 'B', '--from', '+3h', '--to', '+5h', '--cpu', '2', '--mem', '512', '--disk', '1', '--net', '10').out) as { id: string };
    const grown = pcctl(tokens.p1, 'resize', made.id, '--cpu', '3', '--json');
    expect(grown.code, grown.err).toBe(0);
    expect(JSON.parse(grown.out).reservation.profile.at(-1).capacity.cpu).toBe(3);
    const list = pcctl(tokens.p1, 'list', '--state', 'pending_approval');
    expect(list.out).toContain(made.id);
    const cancel = pcctl(tokens.p1, 'cancel', made.id, '--reason', 'not needed', '--json');
    expect(JSON.parse(cancel.out)).toMatchObject({ reservation: { state: 'cancelled' }, refund: 0 });
  });

  test('refusals and mistakes are clear errors', () => {
    const badTime = pcctl(tokens.p1, 'reserve', '--pop', 'A', '--from', hourFromNow(5), '--to', hourFromNow(4), '--cpu', '1', '--mem', '1', '--disk', '1', '--net', '1');
    expect(badTime.code).toBe(1);
    expect(badTime.err).toMatch(/pcctl reserve: params\.t1: .* must be after t0 .* \(InvalidParams\)/);
    const forbidden = pcctl(tokens.p1, 'approve', 'r-1');
    expect(forbidden.code).toBe(1);
    expect(forbidden.err).toMatch(/role "provider" may not call reservation\.approve .*\(Forbidden\)/);
    const usage = pcctl(tokens.operator, 'decline', 'r-1');
    expect(usage.code).toBe(2);
    expect(usage.err).toContain('--reason is required');
    const missing = pcctl(tokens.operator, 'decline', 'r-999', '--reason', 'x');
    expect(missing.err).toContain('no reservation "r-999" (NotFound)');
  });

  test('times are readable, the profile file is documented with the paper\'s Table 2, and prices carry their currency', () => {
    const help = pcctl(tokens.p1, 'reserve', '--help');
    expect(help.code).toBe(0);
    expect(help.out).toContain('--profile FILE: a JSON array of contiguous sub-slots');
    expect(help.out).toContain('{"from":"+40m","to":"+100m","capacity":{"cpu":2,"memMiB":1024,"diskGiB":900,"netMbps":5000}}');
    // The example in the help, used as it is: --from and --to come from the profile.
    const example = help.out.slice(help.out.indexOf('    ['), help.out.indexOf('    ]') + 5);
    const profileFile = join(dir, 'table2.json');
    writeFileSync(profileFile, example);
    const made = pcctl(tokens.p1, 'reserve', '--pop', 'B', '--profile', profileFile, '--json');
    expect(made.code, made.err).toBe(0);
    const r = JSON.parse(made.out) as { state: string; t0: number; t1: number; profile: { from: number; to: number; capacity: { cpu: number; netMbps: number } }[] };
    expect(r.state).toBe('pending_approval');
    expect(r.profile.map((s) => [s.capacity.cpu, s.capacity.netMbps])).toEqual([[1, 1000], [2, 5000]]);
    expect(r.profile[0]?.to).toBe(r.profile[1]?.from);
    expect(r.t1 - r.t0).toBe(90 * 60_000);
    const now = pcctl(tokens.p1, 'reserve', '--pop', 'B', '--from', 'now', '--to', '+20m', '--cpu', '1', '--mem', '64', '--disk', '1', '--net', '1');
    expect(now.code, now.err).toBe(0);
    // One time format, and money with its currency.
    expect(now.out).toMatch(/^r-\d+ +pending_approval +p1 +\d{4}-\d{2}-\d{2} \d{2}:\d{2}Z \.\. \d{4}-\d{2}-\d{2} \d{2}:\d{2}Z .* price [\d.]+ EUR paid 0 EUR$/m);
    const bad = pcctl(tokens.p1, 'reserve', '--pop', 'B', '--from', 'tomorrow', '--to', '+20m', '--cpu', '1', '--mem', '64', '--disk', '1', '--net', '1');
    expect(bad.code).toBe(2);
    expect(bad.err).toContain('pcctl reserve: --from "tomorrow": expected now, +N[s|m|h|d] from now, ISO 8601');
  });

  test('usage mistakes name the missing flag, exit 2, and help exits 0', () => {
    expect(pcctlWith({}, '--help').code).toBe(0);
    expect(pcctlWith({}, 'help').code).toBe(0);
    expect(pcctlWith({}).code).toBe(2);
    // Only the URL is missing: say so, not just ECONNREFUSED.
    const noUrl = pcctlWith({ PCLOUD_TOKEN: tokens.p1 }, 'list', '--url', 'ws://127.0.0.1:1');
    expect(noUrl.code).toBe(1);
    const guessed = pcctlWith({ PCLOUD_TOKEN: tokens.p1 }, 'list');
    if (guessed.code !== 0) expect(guessed.err).toContain('--url is missing (or set PCLOUD_SCHEDULER_URL)');
    const cloudlet = pcctlWith({ PCLOUD_TOKEN: 'x' }, 'cloudlet', 'vis');
    expect(cloudlet.code).toBe(2);
    expect(cloudlet.err).toMatch(/^pcctl cloudlet: --url \(the controller's ws:\/\/ or wss:\/\/ address\) is missing/);
    expect(cloudlet.err).not.toContain('pcctl: pcctl');
    const explain = pcctl(tokens.operator, 'explain', '--pop', 'A', '--from', '+1h', '--to', '+2h', '--cpu', '1', '--mem', '1', '--disk', '1', '--net', '1');
    expect(explain.code).toBe(2);
    expect(explain.err).toContain('--provider P is required when an operator explains a request');
    const forProvider = pcctl(tokens.operator, 'explain', '--provider', 'p1', '--pop', 'A', '--from', '+1h', '--to', '+2h', '--cpu', '1', '--mem', '1', '--disk', '1', '--net', '1');
    expect(forProvider.code, forProvider.err).toBe(0);
    expect(forProvider.out).toMatch(/^admitted: .*\nprice: [\d.]+ EUR/);
  });
});
