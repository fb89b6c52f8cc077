/**
 * The cloudlet controller as a real process with real VIs: start with the
 * isolation the host gives, usage, resize, restrict, a crash that fails one
 * VI only, terminate (rules first, idempotent), node down, and a kill -9 of
 * the controller followed by a restart (adoption, clean-up, no orphans, no
 * lost rules); then the same controller run as an unprivileged user.
 * Commands come from a stand-in that speaks the scheduler's real contract;
 * controller-scheduler.test.ts runs against the real scheduler.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Ed25519AttestationVerifier, newAnchorKeys, signAttestation } from '../../main/controller/ownership.ts';
import { parsePrefix } from '../../main/protocol/prefix.ts';
import { ErrorCode } from '../../main/protocol/errors.ts';
import type { ViUsage } from '../../main/protocol/controllerApi.ts';
import {
  StandInScheduler,
  assignment,
  controllerConfig,
  hostReservation as host,
  monitorService,
  operatorClient,
  pidsWithEnv,
  profileOf,
  startController,
  tempDir,
  tokens,
  waitFor,
  type RunningController,
} from './controllerHarness.ts';
import { repoRoot } from './harness.ts';

const keys = newAnchorKeys();
const proof = (prefix: string, provider: string): string => signAttestation({ prefix, provider, notAfter: Date.now() + 3_600_000 }, keys.privateKeyPem);
const anchors = [{ name: 'isp-rpki', publicKey: keys.publicKeyPem }];
const asRoot = process.getuid?.() === 0;

const running: RunningController[] = [];
const schedulers: StandInScheduler[] = [];
afterAll(async () => {
  await Promise.all(running.map((c) => c.stop()));
  await Promise.all(schedulers.map((s) => s.close()));
});

async function scheduler(ids: string[]): Promise<StandInScheduler> {
  const s = new StandInScheduler();
  await s.start(ids);
  schedulers.push(s);
  return s;
}

async function control(c: Promise<RunningController>): Promise<RunningController> {
  const r = await c;
  running.push(r);
  return r;
}

function readIfExists(file: string): string | null {
  return existsSync(file) ? readFileSync(file, 'utf8').trim() : null;
}

describe('cloudlet controller with real VIs', () => {
  let s: StandInScheduler;
  let ctl: RunningController;
  let dir: string;

  beforeAll(async () => {
    s = await scheduler(['c1']);
    dir = tempDir('ctl');
    ctl = await control(startController(controllerConfig(dir, 'c1', s.url, 0, { trustAnchors: anchors }), dir));
    await waitFor('the controller to subscribe to commands', () => s.connected('c1'));
  });

  test('start, isolation, usage, resize and restrict; a crash fails that VI only', async () => {
    const op = await operatorClient(ctl.url);
    const info = await op.call('cloudlet.info', {});
    expect(s.hellos.at(-1)).toEqual({ cloudletId: 'c1', controllerUrl: ctl.url });

    expect(await host(s, 'c1', 'r1', { rules: [{ priority: 100, match: { dstPrefix: '10.1.0.0/16' }, action: 'to_vi', samplingRate: 0.01, ownershipProof: proof('10.1.0.0/16', 'p1') }] })).toEqual({ ok: true });
    expect(await host(s, 'c1', 'r2', { args: { 'crash-after-ms': '1500', children: '1' } })).toEqual({ ok: true });

    // Another tenant's rule overlapping r1's is refused at prepare, naming r1's rule.
    const clash = await host(s, 'c1', 'r3', { providerId: 'p2', rules: [{ priority: 10, match: { dstPrefix: '10.1.5.0/24' }, action: 'to_vi', samplingRate: 0, ownershipProof: proof('10.1.5.0/24', 'p2') }] });
    expect(clash).toEqual({ ok: false, reason: expect.stringContaining('would capture traffic already claimed by rule vi-r1#0 of provider "p1"') });

    const r1 = await op.call('vi.get', { viId: 'vi-r1' });
    expect(r1).toMatchObject({ state: 'running', providerId: 'p1', nodeId: 'c1-n1', isolation: { namespaces: info.isolation.namespaces, cgroup: info.isolation.cgroup } });
    expect(r1.isolation.rlimits).toContain('nofile=4096');
    const monitorPid = await waitFor('the monitor process', () => pidsWithEnv('PCLOUD_VI_ID=vi-r1').find((p) => p !== r1.pid));
    expect(readFileSync(`/proc/${monitorPid}/limits`, 'utf8')).toMatch(/Max open files\s+4096\s+4096/);
    if (asRoot && info.isolation.namespaces.length) {
      expect(r1.isolation.namespaces).toEqual(expect.arrayContaining(['pid', 'mount', 'net']));
      expect(readlinkSync(`/proc/${monitorPid}/ns/pid`)).not.toBe(readlinkSync('/proc/self/ns/pid'));
      expect(readlinkSync(`/proc/${monitorPid}/ns/net`)).not.toBe(readlinkSync('/proc/self/ns/net'));
      expect(readlinkSync(`/proc/${monitorPid}/ns/mnt`)).not.toBe(readlinkSync('/proc/self/ns/mnt'));
    }
    const rules = await op.call('rule.list', { viId: 'vi-r1' });
    expect(rules.rules).toEqual([expect.objectContaining({ id: 'vi-r1#0', owner: 'tenant', provenBy: 'isp-rpki', samplingRate: 0.01 })]);

    // Per-VI use arrives on the usage topic.
    const usage: ViUsage[] = [];
    const unsubscribe = await op.subscribe('vi.usage', { viId: 'vi-r1' }, (u) => usage.push(u));
    await waitFor('two usage samples', () => usage.length >= 2);
    await unsubscribe();
    expect(usage[1]).toMatchObject({ viId: 'vi-r1', source: info.isolation.cgroup === 'none' ? 'proc' : 'cgroup' });
    expect(usage[1]?.memMiB).toBeGreaterThan(5);
    expect(usage[1]?.processes).toBeGreaterThanOrEqual(1);

    // Resize (from the scheduler) and restrict (from an operator) change the kernel's limits live.
    const quotaFile = r1.isolation.cgroup === 'v1' ? '/sys/fs/cgroup/cpu/packetcloud-c1/vi-r1/cpu.cfs_quota_us' : '/sys/fs/cgroup/unified/packetcloud-c1/vi-r1/cpu.max';
    const t0 = Date.now();
    expect(await s.send('c1', { kind: 'resize', reservationId: 'r1', profile: profileOf(t0 - 1000, t0 + 600_000, 1, 512) })).toEqual({ ok: true });
    await waitFor('the new capacity', async () => (await op.call('vi.get', { viId: 'vi-r1' })).limits.cpu === 1);
    if (r1.isolation.cgroup === 'v1') expect(readIfExists(quotaFile)).toBe('100000');
    const restricted = await op.call('vi.restrict', { viId: 'vi-r1', cpu: 0.25, memMiB: 128, ppsCap: 1000, reason: 'suspected scan traffic' });
    expect(restricted.limits).toEqual({ cpu: 0.25, memMiB: 128, ppsCap: 1000, mbpsCap: null });
    expect(restricted.reason).toMatch(/^restricted by noc-alice: suspected scan traffic/);
    if (r1.isolation.cgroup === 'v1') {
      expect(readIfExists(quotaFile)).toBe('25000');
      expect(readIfExists('/sys/fs/cgroup/memory/packetcloud-c1/vi-r1/memory.limit_in_bytes')).toBe(String(128 * 1048576));
    }
    await expect(op.call('vi.restrict', { viId: 'vi-r1', cpu: 8, reason: 'more' })).rejects.toMatchObject({ code: ErrorCode.InvalidParams, message: expect.stringContaining("cpu 8 is above VI vi-r1's reserved 1") });

    // r2 crashes on purpose: it alone fails, with an alarm and a report; r1 keeps running.
    const r2 = await waitFor('r2 to fail', async () => {
      const v = await op.call('vi.get', { viId: 'vi-r2' });
      return v.state === 'failed' ? v : undefined;
    });
    expect(r2.reason).toMatch(/crashed: exited with status 3/);
    expect(await waitFor('r2 helpers gone', () => pidsWithEnv('PCLOUD_VI_ID=vi-r2').length === 0)).toBe(true);
    const alarms = await op.call('alarm.list', {});
    expect(alarms.alarms).toContainEqual(expect.objectContaining({ kind: 'vi_crashed', subject: 'vi-r2', severity: 'critical' }));
    await waitFor('the crash in a report', () => s.reports.some((r) => r.report.vis?.some((v) => v.reservationId === 'r2' && v.state === 'failed')));
    expect(await op.call('vi.get', { viId: 'vi-r1' })).toMatchObject({ state: 'running', pid: r1.pid });
    op.close();
  });

  test('a malformed command is refused with what is wrong, and changes nothing', async () => {
    const answer = await s.sendRaw('c1', { kind: 'prepare', commandId: 'bad-1', reservationId: 'rx', nodeId: 'c1-n1' });
    expect(answer).toEqual({ ok: false, reason: expect.stringMatching(/^malformed command refused: command\.providerId/) });
    const op = await operatorClient(ctl.url);
    expect((await op.call('node.list', {})).nodes.find((n) => n.id === 'c1-n1')?.vis).toBe(1);
    op.close();
  });

  test('terminate removes the rules first, then the processes; twice is harmless; the action is audited and forwarded', async () => {
    const op = await operatorClient(ctl.url);
    const events: string[] = [];
    await op.subscribe('vi.events', {}, (e) => events.push(`${e.vi.id}:${e.from}->${e.vi.state}`));
    const before = await op.call('vi.get', { viId: 'vi-r1' });
    expect(pidsWithEnv('PCLOUD_VI_ID=vi-r1').length).toBeGreaterThan(0);
    const done = await op.call('vi.terminate', { viId: 'vi-r1', reason: 'malware command and control' });
    expect(done).toMatchObject({ state: 'terminated', pid: null, reason: 'terminated by noc-alice: malware command and control' });
    expect((await op.call('rule.list', { viId: 'vi-r1' })).rules).toEqual([]);
    expect(pidsWithEnv('PCLOUD_VI_ID=vi-r1')).toEqual([]);
    expect(before.pid !== null && existsSync(`/proc/${before.pid}`)).toBe(false);
    if (before.isolation.cgroup === 'v1') expect(existsSync('/sys/fs/cgroup/cpu/packetcloud-c1/vi-r1')).toBe(false);
    expect(await op.call('vi.terminate', { viId: 'vi-r1', reason: 'again' })).toMatchObject({ state: 'terminated', endedAt: done.endedAt });
    expect(events).toEqual(['vi-r1:running->stopping', 'vi-r1:stopping->terminated']);

    const audit = await op.call('audit.list', {});
    expect(audit.entries.map((e) => [e.action, e.actor, e.target])).toEqual([
      ['vi.restrict', 'noc-alice', 'c1/c1-n1/vi-r1'],
      ['vi.terminate', 'noc-alice', 'c1/c1-n1/vi-r1'],
    ]);
    // The terminate's entry carries the sealed evidence (none sampled here: no data plane) and its SHA-256.
    await waitFor('the audit entries forwarded', () =>
      s.reports.some((r) => r.report.audit?.some((a) => a.action === 'vi.terminate' && /^malware command and control \(evidence: 0 sampled packets in \S+\.pcapng, sha256 [0-9a-f]{64}\)$/.test(a.reason))),
    );
    await waitFor('forwarded marked', async () => (await op.call('audit.list', {})).entries.every((e) => e.forwarded));

    // Viewers read but may not act.
    const viewer = await operatorClient(ctl.url, tokens.viewer);
    expect((await viewer.call('vi.list', {})).vis.length).toBeGreaterThan(0);
    await expect(viewer.call('vi.terminate', { viId: 'vi-r1', reason: 'x' })).rejects.toMatchObject({ code: ErrorCode.Forbidden });
    viewer.close();
    op.close();
  });

  test('a node marked down fails its VIs, raises an alarm, refuses new work and is reported down', async () => {
    const op = await operatorClient(ctl.url);
    expect(await host(s, 'c1', 'r4', { nodeId: 'c1-n2' })).toEqual({ ok: true });
    const down = await op.call('node.setHealth', { nodeId: 'c1-n2', health: 'down', reason: 'PSU failure' });
    expect(down).toMatchObject({ health: 'down', vis: 0, available: { cpu: 0 } });
    expect(await op.call('vi.get', { viId: 'vi-r4' })).toMatchObject({ state: 'failed', reason: 'node c1-n2 went down: PSU failure' });
    expect(pidsWithEnv('PCLOUD_VI_ID=vi-r4')).toEqual([]);
    expect((await op.call('alarm.list', {})).alarms).toContainEqual(expect.objectContaining({ kind: 'node_down', subject: 'c1-n2' }));
    expect(await host(s, 'c1', 'r5', { nodeId: 'c1-n2' })).toEqual({ ok: false, reason: 'node c1-n2 is down (PSU failure)' });
    await waitFor('a report with the node down', () => s.reports.at(-1)?.report.nodes.some((n) => n.nodeId === 'c1-n2' && n.health === 'down'));
    expect(await op.call('node.setHealth', { nodeId: 'c1-n2', health: 'up', reason: 'PSU replaced' })).toMatchObject({ health: 'up' });
    op.close();
  });

  test('when the scheduler goes away and comes back on the same address, the controller reconnects, says hello, reports and resyncs', async () => {
    const port = s.port;
    await s.close();
    await new Promise((r) => setTimeout(r, 300));
    const again = new StandInScheduler();
    again.assignments = [];
    await again.start(['c1'], port);
    schedulers.push(again);
    await waitFor('the controller back', () => again.connected('c1') && again.reports.length > 0);
    expect(again.hellos).toEqual([{ cloudletId: 'c1', controllerUrl: ctl.url }]);
    expect(again.reports[0]?.report.nodes.map((n) => n.nodeId)).toEqual(['c1-n1', 'c1-n2']);
    s = again;
  });

  test('after kill -9 and a restart: running VIs are adopted with their rules, ended ones cleaned up, no orphans', async () => {
    const rule = { priority: 10, match: { dstPrefix: '10.6.0.0/16' }, action: 'to_vi' as const, samplingRate: 0, ownershipProof: proof('10.6.0.0/16', 'p1') };
    expect(await host(s, 'c1', 'r6', { rules: [rule], args: { children: '2' } })).toEqual({ ok: true });
    // What the scheduler will list after the restart: r6 still active (r7 and r8 too, the scheduler does not know yet).
    const now = Date.now();
    s.assignments = [
      assignment('r6', 'c1', 'c1-n1', now, now + 600_000, monitorService({ children: '2' }, [rule])),
      assignment('r7', 'c1', 'c1-n1', now, now + 4000, monitorService()),
      assignment('r8', 'c1', 'c1-n1', now, now + 600_000, monitorService()),
    ];
    const r7t1 = Date.now() + 4000;
    expect(await host(s, 'c1', 'r7', { t1: r7t1 })).toEqual({ ok: true });
    expect(await host(s, 'c1', 'r8')).toEqual({ ok: true });
    let op = await operatorClient(ctl.url);
    const r6 = await op.call('vi.get', { viId: 'vi-r6' });
    const r8 = await op.call('vi.get', { viId: 'vi-r8' });
    op.close();

    await ctl.crash();
    // While the controller is down: r7 reaches t1, and r8's processes die.
    expect(r8.pid).not.toBeNull();
    process.kill(-(r8.pid as number), 'SIGKILL');
    await waitFor('r8 gone', () => pidsWithEnv('PCLOUD_VI_ID=vi-r8').length === 0);
    expect(pidsWithEnv('PCLOUD_VI_ID=vi-r7').length).toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, Math.max(0, r7t1 + 300 - Date.now())));

    ctl = await control(startController(JSON.parse(readFileSync(ctl.configFile, 'utf8')), dir));
    op = await operatorClient(ctl.url);
    expect(await op.call('vi.get', { viId: 'vi-r6' })).toMatchObject({ state: 'running', pid: r6.pid });
    expect((await op.call('rule.list', { viId: 'vi-r6' })).rules.map((r) => r.id)).toEqual(['vi-r6#0']);
    expect(await op.call('vi.get', { viId: 'vi-r7' })).toMatchObject({ state: 'stopped', reason: 'reached its end time t1 while the controller was down' });
    expect(await op.call('vi.get', { viId: 'vi-r8' })).toMatchObject({ state: 'failed', reason: 'its process was gone when the controller restarted' });
    expect((await op.call('alarm.list', {})).alarms).toContainEqual(expect.objectContaining({ kind: 'vi_lost', subject: 'vi-r8' }));
    // No orphans: every process of this controller's VIs belongs to a VI that runs.
    const vis = (await op.call('vi.list', {})).vis;
    for (const vi of vis) {
      const pids = pidsWithEnv(`PCLOUD_VI_ID=${vi.id}`);
      if (vi.state === 'running') expect(pids.length).toBeGreaterThan(0);
      else expect(pids, `${vi.id} is ${vi.state} but has processes`).toEqual([]);
    }

    // The adopted VI is still under control: it can be terminated, and its crash would be noticed.
    expect(await op.call('vi.terminate', { viId: 'vi-r6', reason: 'end of test' })).toMatchObject({ state: 'terminated' });
    expect(pidsWithEnv('PCLOUD_VI_ID=vi-r6')).toEqual([]);
    expect(pidsWithEnv(`PCLOUD_VI_DIR=${join(dir, 'state-c1')}`, false)).toEqual([]);
    op.close();
  });

  test('pcctl: attest keygen and sign make proofs the verifier accepts; cloudlet reads and acts on a running controller', () => {
    const pcctl = (...args: string[]) => spawnSync(process.execPath, ['--disable-warning=ExperimentalWarning', join(repoRoot, 'main/cli/pcctl.ts'), ...args], { encoding: 'utf8', env: { ...process.env, PCLOUD_TOKEN: tokens.operator } });
    const keyFile = join(dir, 'anchor.pem');
    const keygen = pcctl('attest', 'keygen', '--out', keyFile);
    expect(keygen.status).toBe(0);
    const signed = pcctl('attest', 'sign', '--key', keyFile, '--prefix', '10.20.0.0/16', '--provider', 'p1', '--days', '1');
    expect(signed.status).toBe(0);
    const verdict = new Ed25519AttestationVerifier([{ name: 'cli', publicKey: keygen.stdout }]).verify(signed.stdout.trim(), { prefix: parsePrefix('10.20.1.0/24'), providerId: 'p1' }, Date.now());
    expect(verdict).toMatchObject({ ok: true, anchor: 'cli' });

    const vis = pcctl('cloudlet', 'vis', '--url', ctl.url);
    expect(vis.status, vis.stderr).toBe(0);
    expect((JSON.parse(vis.stdout) as { vis: { id: string }[] }).vis.map((v) => v.id)).toContain('vi-r8');
    const again = pcctl('cloudlet', 'terminate', '--url', ctl.url, '--vi', 'vi-r8', '--reason', 'already gone');
    expect(again.status, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ id: 'vi-r8', state: 'failed' });
    const noReason = pcctl('cloudlet', 'terminate', '--url', ctl.url, '--vi', 'vi-r8');
    expect(noReason.status).not.toBe(0);
    expect(noReason.stderr).toContain('--reason is required');
  });
});

/**
 * Can uid 65534 run the controller here? Needs root (to switch), setpriv, and a checkout and Node
 * that uid may read. Where not, the case is skipped and says why; a non-root run of this file is
 * itself the unprivileged case (the suite above).
 */
function nobodyCanRun(): string | null {
  if (!asRoot) return 'not root: cannot switch to uid 65534 (this run is already unprivileged)';
  const probe = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--', process.execPath, '-e', `require('fs').accessSync(${JSON.stringify(join(repoRoot, 'main/cli/pcctl.ts'))})`], { encoding: 'utf8', timeout: 10_000 });
  if (probe.error) return `setpriv is not available: ${probe.error.message}`;
  if (probe.status !== 0) return `uid 65534 cannot read the checkout or run Node: ${probe.stderr.trim().split('\n')[0] ?? ''}`;
  return null;
}
const nobodyBlocked = nobodyCanRun();

describe(`controller as an unprivileged user${nobodyBlocked ? ` (skipped: ${nobodyBlocked})` : ' (uid 65534 via setpriv)'}`, () => {
  const nobody = 65534;
  test.skipIf(nobodyBlocked !== null)('gets rlimits only, says why, and still supervises and terminates its VIs', async () => {
    const s = await scheduler(['u1']);
    const dir = tempDir('ctl-nobody', true);
    const ctl = await control(startController(controllerConfig(dir, 'u1', s.url, 0, { onExit: 'stop' }), dir, nobody));
    await waitFor('the controller to subscribe to commands', () => s.connected('u1'));
    const op = await operatorClient(ctl.url);
    const info = await op.call('cloudlet.info', {});
    expect(info.isolation).toMatchObject({ namespaces: [], cgroup: 'none' });
    expect(info.isolation.notes).toContain(`not root (uid ${nobody}): no namespaces or cgroups, rlimits only`);
    expect(await host(s, 'u1', 'q1', { args: { children: '1' } })).toEqual({ ok: true });
    const vi = await op.call('vi.get', { viId: 'vi-q1' });
    expect(vi.isolation).toMatchObject({ namespaces: [], cgroup: 'none', rlimits: expect.arrayContaining(['nofile=4096', 'core=0']) });
    const status = readFileSync(`/proc/${vi.pid}/status`, 'utf8');
    expect(status).toMatch(new RegExp(`Uid:\\s+${nobody}\\s`));
    // The VI's pid is its launcher until prlimit has exec'd the program: wait for the limits to be in force.
    await expect.poll(() => readFileSync(`/proc/${vi.pid}/limits`, 'utf8'), { timeout: 10_000 }).toMatch(/Max core file size\s+0\s+0/);
    await waitFor('usage from /proc', async () => (await op.call('vi.get', { viId: 'vi-q1' })).usage?.source === 'proc');
    await op.call('vi.terminate', { viId: 'vi-q1', reason: 'end of test' });
    expect(pidsWithEnv('PCLOUD_VI_ID=vi-q1')).toEqual([]);
    op.close();
    await ctl.stop();
  });
});
