/**
 * What a VI may not do to its cloudlet, and what a controller leaves behind
 * when it refuses to start, with the real controller process and real VIs:
 * a fork bomb is held to the VI's process limit while the rest of the
 * cloudlet carries on; VI programs run as a user of their own, never root; a
 * VI killed for exceeding its memory cap is reported as such; a refused
 * start-up (plain non-loopback listen, a stateDir under /proc, a busy port)
 * ends promptly, says why, and leaves no cgroup directory.
 *
 * The VI cases need root (users of their own, cgroups): CI runs as root;
 * elsewhere they are skipped and say so. The start-up cases run as anyone.
 */
import { once } from 'node:events';
import { existsSync, readFileSync, readlinkSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import type { ServiceSpec } from '../../main/protocol/domain.ts';
import {
  StandInScheduler,
  cgroupDirsOf,
  controllerConfig,
  hostReservation,
  operatorClient,
  pidsWithEnv,
  startController,
  tempDir,
  waitFor,
  type RunningController,
} from './controllerHarness.ts';

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

/** Real, effective, saved and filesystem uid of a process (the Uid: line of /proc/PID/status). */
function uidsOf(pid: number): number[] {
  const m = /^Uid:\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? m.slice(1, 5).map(Number) : [];
}

/** Tries to make 300 processes (each a sleep), then prints how many it got and stays. */
const FORK_BOMB = `
const { spawn } = require('node:child_process');
let ok = 0, failed = 0;
const report = () => { if (ok + failed === 300) console.log(JSON.stringify({ forks: { ok, failed } })); };
for (let i = 0; i < 300; i++) {
  const child = spawn('sleep', ['600'], { stdio: 'ignore' });
  child.once('spawn', () => { ok++; report(); });
  child.once('error', () => { failed++; report(); });
}
setInterval(() => undefined, 60_000);
`;

describe(`VI limits${asRoot ? '' : ' (skipped: needs root, to give VIs users and cgroups of their own)'}`, () => {
  // "auto" gets a pids cgroup here; "rlimits" has no cgroups, so the limit is RLIMIT_NPROC on the VI's own user.
  test.skipIf(!asRoot).each([
    { mode: 'auto' as const, cloudletId: 'vlb1', by: 'pids-cgroup' },
    { mode: 'rlimits' as const, cloudletId: 'vlb2', by: 'rlimit-nproc' },
  ])('sandbox mode $mode: a fork bomb is held to its process limit ($by), runs as a user of its own, and the rest of the cloudlet carries on', async ({ mode, cloudletId, by }) => {
    const s = await scheduler([cloudletId]);
    const dir = tempDir('ctl-vl-bomb');
    const ctl = await startController(
      controllerConfig(dir, cloudletId, s.url, 0, {
        programs: { forkbomb: { command: [process.execPath, '-e', FORK_BOMB] } },
        sandbox: { mode, graceMs: 1500, maxProcesses: 64 },
        onExit: 'stop',
      }),
      dir,
    );
    running.push(ctl);
    await waitFor('the controller to subscribe to commands', () => s.connected(cloudletId));
    const op = await operatorClient(ctl.url);
    expect(await hostReservation(s, cloudletId, `${cloudletId}a`, { args: { children: '1' } })).toEqual({ ok: true });
    const bombService: ServiceSpec = { mode: 'visible', program: 'forkbomb', args: {}, rules: [] };
    expect(await hostReservation(s, cloudletId, `${cloudletId}b`, { service: bombService })).toEqual({ ok: true });

    const log = join(dir, `state-${cloudletId}`, 'vis', `vi-${cloudletId}b.log`);
    const forks = await waitFor('the fork bomb to report', () => {
      const m = existsSync(log) ? /\{"forks":\{"ok":(\d+),"failed":(\d+)\}\}/.exec(readFileSync(log, 'utf8')) : null;
      return m ? { ok: Number(m[1]), failed: Number(m[2]) } : undefined;
    }, 30_000);
    const bomb = await op.call('vi.get', { viId: `vi-${cloudletId}b` });
    const processes = pidsWithEnv(`PCLOUD_VI_ID=vi-${cloudletId}b`);
    // 64 tasks: the launcher, the bomb's Node (several threads) and what sleeps fit beside them.
    expect(forks.failed).toBeGreaterThan(200);
    expect(forks.ok).toBeLessThan(64);
    expect(processes.length).toBeLessThanOrEqual(64);
    expect(bomb.state).toBe('running');
    expect(bomb.isolation.processLimit).toEqual({ max: 64, by });

    // Never root: every process of the VI but our own launcher (with namespaces, the unshare that waits for pid 1) runs as the VI's user.
    const uid = bomb.isolation.user?.uid;
    expect(uid).toBeGreaterThan(0);
    const programs = bomb.isolation.namespaces.length ? processes.filter((p) => p !== bomb.pid) : processes;
    // The bomb's Node and each sleep it got.
    expect(programs.length).toBe(forks.ok + 1);
    // Capabilities, if any, only inside a user namespace of the VI's own (root there is uid U here).
    const ownUserNamespace = bomb.isolation.namespaces.includes('user');
    const host = (await op.call('cloudlet.info', {})).isolation;
    expect(ownUserNamespace).toBe(mode === 'auto' && host.namespaces.includes('user'));
    for (const pid of programs) {
      expect(uidsOf(pid), `process ${pid} of the fork bomb`).toEqual([uid, uid, uid, uid]);
      if (ownUserNamespace) expect(readlinkSync(`/proc/${pid}/ns/user`)).not.toBe(readlinkSync('/proc/self/ns/user'));
      else expect(readFileSync(`/proc/${pid}/status`, 'utf8')).toMatch(/^CapEff:\s+0+$/m);
    }

    // The rest of the cloudlet carries on: the other VI, its own user, the console API, new VIs.
    const other = await op.call('vi.get', { viId: `vi-${cloudletId}a` });
    expect(other).toMatchObject({ state: 'running' });
    expect(other.isolation.user?.uid).toBeGreaterThan(0);
    expect(other.isolation.user?.uid).not.toBe(uid);
    const monitor = await waitFor('the monitor of the other VI', () => pidsWithEnv(`PCLOUD_VI_ID=vi-${cloudletId}a`).find((p) => p !== other.pid));
    expect(uidsOf(monitor)[0]).toBe(other.isolation.user?.uid);
    expect(await hostReservation(s, cloudletId, `${cloudletId}c`)).toEqual({ ok: true });
    await waitFor('the new VI to report usage', async () => (await op.call('vi.get', { viId: `vi-${cloudletId}c` })).usage !== null);

    expect(await op.call('vi.terminate', { viId: `vi-${cloudletId}b`, reason: 'fork bomb' })).toMatchObject({ state: 'terminated' });
    expect(pidsWithEnv(`PCLOUD_VI_ID=vi-${cloudletId}b`)).toEqual([]);
    expect(await op.call('vi.get', { viId: `vi-${cloudletId}a` })).toMatchObject({ state: 'running', pid: other.pid });
    op.close();
    await ctl.stop();
    expect(pidsWithEnv(`PCLOUD_VI_DIR=${join(dir, `state-${cloudletId}`)}`, false)).toEqual([]);
    expect(cgroupDirsOf(cloudletId)).toEqual([]);
  });

  test.skipIf(!asRoot)('a VI killed by the kernel for exceeding its memory cap is reported as that, not as a crash', async () => {
    const s = await scheduler(['vlo1']);
    const dir = tempDir('ctl-vl-oom');
    const ctl = await startController(controllerConfig(dir, 'vlo1', s.url, 0, { onExit: 'stop' }), dir);
    running.push(ctl);
    await waitFor('the controller to subscribe to commands', () => s.connected('vlo1'));
    const op = await operatorClient(ctl.url);
    const info = await op.call('cloudlet.info', {});
    expect(info.isolation.cgroup).not.toBe('none');
    // 64 MiB reserved; the monitor holds 256 MiB.
    expect(await hostReservation(s, 'vlo1', 'vlo1m', { args: { 'alloc-mib': '256' }, memMiB: 64 })).toEqual({ ok: true });
    const vi = await waitFor('the VI to end', async () => {
      const v = await op.call('vi.get', { viId: 'vi-vlo1m' });
      return v.state === 'failed' ? v : undefined;
    });
    expect(vi.reason).toMatch(/^killed for exceeding its memory limit of 64 MiB: the kernel's out-of-memory killer ended [1-9]\d* of its processes/);
    expect((await op.call('alarm.list', {})).alarms).toContainEqual(expect.objectContaining({ kind: 'vi_crashed', subject: 'vi-vlo1m', message: expect.stringContaining('killed for exceeding its memory limit') }));
    expect(await waitFor('its processes gone', () => pidsWithEnv('PCLOUD_VI_ID=vi-vlo1m').length === 0)).toBe(true);
    op.close();
    await ctl.stop();
    expect(cgroupDirsOf('vlo1')).toEqual([]);
  });
});

describe('a controller that cannot start ends promptly, says why, and leaves nothing behind', () => {
  test('a non-loopback listen without TLS is refused before any cgroup is made', async () => {
    const dir = tempDir('ctl-vl-tls');
    const config = controllerConfig(dir, 'vll1', 'ws://127.0.0.1:1', 0, { listen: { host: '0.0.0.0', port: 0 } });
    await expect(startController(config, dir)).rejects.toThrow(/exited \(2\) before listening:[\s\S]*config\.listen\.host: refusing to listen on 0\.0\.0\.0 without TLS/);
    expect(cgroupDirsOf('vll1')).toEqual([]);
    expect(existsSync(config.stateDir)).toBe(false);
  });

  test('a stateDir under /proc fails at once, naming the path, instead of hanging', async () => {
    const dir = tempDir('ctl-vl-proc');
    const stateDir = '/proc/pcloud-vl-state/controller';
    await expect(startController(controllerConfig(dir, 'vlp1', 'ws://127.0.0.1:1', 0, { stateDir }), dir)).rejects.toThrow(
      /exited \(1\) before listening:[\s\S]*stateDir \/proc\/pcloud-vl-state\/controller cannot be used: \/proc is on the kernel's proc filesystem/,
    );
    expect(cgroupDirsOf('vlp1')).toEqual([]);
  });

  test('a listen port already taken fails start-up after the cgroups were made, and they are removed again', async () => {
    const taken = createServer();
    taken.listen(0, '127.0.0.1');
    await once(taken, 'listening');
    try {
      const dir = tempDir('ctl-vl-port');
      const config = controllerConfig(dir, 'vlq1', 'ws://127.0.0.1:1', 0, { listen: { host: '127.0.0.1', port: (taken.address() as AddressInfo).port } });
      await expect(startController(config, dir)).rejects.toThrow(/exited \(1\) before listening:[\s\S]*EADDRINUSE/);
      expect(cgroupDirsOf('vlq1')).toEqual([]);
    } finally {
      taken.close();
    }
  });
});
