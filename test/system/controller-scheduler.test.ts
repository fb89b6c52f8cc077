/**
 * A real scheduler (`pcctl scheduler`) and two real controllers
 * (`pcctl controller`) on loopback. PoP A is the requestor's; cloudlet cA
 * sits at A (closest), cB at B.
 *  - A request for a program only cB has: cA refuses the prepare, the
 *    scheduler moves on to cB, which confirms (prepare/commit), starts the VI
 *    at t0 and stops it at t1.
 *  - A request while cA hangs (SIGSTOP): the scheduler's hold timeout passes
 *    and it confirms with cB instead.
 */
import type { ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { RpcClient } from '../../main/protocol/client.ts';
import type { Reservation } from '../../main/protocol/domain.ts';
import { schedulerApi } from '../../main/protocol/schedulerApi.ts';
import { controllerConfig, monitorService, operatorClient, pidsWithEnv, startController, tempDir, tokens, waitFor, type RunningController } from './controllerHarness.ts';
import { repoRoot } from './harness.ts';
import { spawnScheduler } from '../support/schedulerProcess.ts';

const dir = tempDir('ctl-sched');
const providerToken = 'provider-p1-0123456789abcdef';
const holdTimeoutMs = 1500;
let scheduler: ChildProcess | undefined;
let schedulerUrl = '';
const controllers: Record<string, RunningController> = {};
let provider: RpcClient<typeof schedulerApi>;

beforeAll(async () => {
  const configFile = join(dir, 'scheduler.json');
  writeFileSync(
    configFile,
    JSON.stringify({
      listen: { host: '127.0.0.1', port: 0 },
      tokens: [
        { token: tokens.operator, role: 'operator', name: 'noc' },
        { token: providerToken, role: 'provider', name: 'alice', providerId: 'p1' },
        { token: `${tokens.controller}-0`, role: 'controller', name: 'ctl-a', cloudletId: 'cA' },
        { token: `${tokens.controller}-1`, role: 'controller', name: 'ctl-b', cloudletId: 'cB' },
      ],
      slotMs: 1000,
      holdTimeoutMs,
      reportIntervalMs: 500,
      staleAfterMs: 60_000,
      approval: { autoApproveAll: true },
      topology: {
        pops: [{ id: 'A' }, { id: 'B' }],
        links: [{ a: 'A', b: 'B', rttMs: 5, capacityMbps: 1000 }],
        cloudlets: [
          { id: 'cA', popId: 'A', nodes: [{ id: 'cA-n1', capacity: { cpu: 2, memMiB: 2048, diskGiB: 10, netMbps: 1000 } }] },
          { id: 'cB', popId: 'B', nodes: [{ id: 'cB-n1', capacity: { cpu: 2, memMiB: 2048, diskGiB: 10, netMbps: 1000 } }] },
        ],
      },
    }),
  );
  const started = await spawnScheduler(configFile);
  scheduler = started.child;
  schedulerUrl = started.url;
  const nodeCommand = [process.execPath, '--disable-warning=ExperimentalWarning', join(repoRoot, 'main/services/monitor.ts')];
  controllers.cA = await startController(controllerConfig(dir, 'cA', schedulerUrl, 0, { nodes: [{ id: 'cA-n1', capacity: { cpu: 2, memMiB: 2048, diskGiB: 10, netMbps: 1000 } }], onExit: 'stop' }), dir);
  // Only cB has the "probe" program installed (here: the monitor under another name).
  controllers.cB = await startController(
    controllerConfig(dir, 'cB', schedulerUrl, 1, { nodes: [{ id: 'cB-n1', capacity: { cpu: 2, memMiB: 2048, diskGiB: 10, netMbps: 1000 } }], programs: { probe: { command: nodeCommand } }, onExit: 'stop' }),
    dir,
  );
  provider = new RpcClient(schedulerApi, { url: schedulerUrl, token: providerToken, timeoutMs: 30_000 });
  await provider.connect();
  await waitFor('both cloudlets connected and reporting', async () => {
    const topology = await provider.call('topology.get', {});
    return topology.cloudlets.every((c) => c.connected && c.status === 'healthy');
  });
});

afterAll(async () => {
  provider?.close();
  for (const c of Object.values(controllers)) {
    if (c.child.signalCode === null && c.child.exitCode === null) c.child.kill('SIGCONT');
    await c.stop();
  }
  if (scheduler && scheduler.exitCode === null) {
    const exited = new Promise((r) => scheduler?.once('exit', r));
    scheduler.kill('SIGTERM');
    await exited;
  }
});

function slotAfter(ms: number): number {
  return Math.ceil((Date.now() + ms) / 1000) * 1000;
}

async function request(program: string, t0: number, t1: number): Promise<Reservation> {
  return provider.call('reservation.request', {
    requestorPopId: 'A',
    t0,
    t1,
    profile: [{ from: t0, to: t1, capacity: { cpu: 0.5, memMiB: 256, diskGiB: 1, netMbps: 10 } }],
    service: { ...monitorService(), program },
  });
}

async function settled(id: string, states: Reservation['state'][], timeoutMs = 20_000): Promise<Reservation> {
  return waitFor(`reservation ${id} in ${states.join('|')}`, async () => {
    const r = await provider.call('reservation.get', { id });
    return states.includes(r.state) ? r : undefined;
  }, timeoutMs);
}

describe('controllers with the real scheduler', () => {
  test('a refusing controller sends the scheduler to the next cloudlet, which confirms, starts at t0 and stops at t1', async () => {
    const t0 = slotAfter(4000);
    const t1 = t0 + 3000;
    const r = await request('probe', t0, t1);
    const scheduled = await settled(r.id, ['scheduled', 'active', 'failed', 'declined']);
    expect(scheduled).toMatchObject({ state: 'scheduled', cloudletId: 'cB', nodeId: 'cB-n1' });
    // cA cannot run probe: once its controller has reported its programs, admission passes it over;
    // before that, cA refuses the prepare and the scheduler moves on. Either way cB confirms.
    const reasons = scheduled.transitions?.map((t) => t.reason) ?? [];
    expect(reasons.some((why) => (why.startsWith('cA: program "probe" is not installed on cloudlet cA (installed: monitor, forward, ') && why.endsWith('); trying node cB-n1 of cB')) || why.startsWith('admitted: cB is the closest cloudlet that fits')), reasons.join('\n')).toBe(true);
    const op = await operatorClient(controllers.cB?.url as string);
    const viId = `vi-${r.id}`;
    await expect(op.call('vi.get', { viId })).rejects.toThrow(/no VI/);

    const active = await settled(r.id, ['active', 'failed'], 15_000);
    expect(active.state).toBe('active');
    const vi = await op.call('vi.get', { viId });
    expect(vi).toMatchObject({ state: 'running', program: 'probe', providerId: 'p1' });
    expect(vi.startedAt).toBeGreaterThanOrEqual(t0);
    expect(pidsWithEnv(`PCLOUD_VI_ID=${viId}`).length).toBeGreaterThan(0);

    const expired = await settled(r.id, ['expired', 'failed'], 15_000);
    expect(expired.state).toBe('expired');
    const stopped = await waitFor('the VI stopped', async () => {
      const v = await op.call('vi.get', { viId });
      return v.state === 'stopped' ? v : undefined;
    });
    expect(stopped.endedAt).toBeGreaterThanOrEqual(t1);
    expect(pidsWithEnv(`PCLOUD_VI_ID=${viId}`)).toEqual([]);
    op.close();
  });

  test('a hanging controller (SIGSTOP) times out and the scheduler confirms with the next cloudlet', async () => {
    const cA = controllers.cA as RunningController;
    const t0 = slotAfter(60_000);
    cA.child.kill('SIGSTOP');
    try {
      const started = Date.now();
      const r = await request('monitor', t0, t0 + 5000);
      const placed = await settled(r.id, ['scheduled', 'failed', 'declined']);
      expect(placed).toMatchObject({ state: 'scheduled', cloudletId: 'cB' });
      expect(placed.transitions?.map((t) => t.reason)).toContain(`cA: the controller of cA did not answer prepare within ${holdTimeoutMs} ms; trying node cB-n1 of cB`);
      expect(Date.now() - started).toBeGreaterThanOrEqual(holdTimeoutMs);
      // Without the hang, the same request goes to the closer cA.
      cA.child.kill('SIGCONT');
      await new Promise((res) => setTimeout(res, 500));
      const r2 = await request('monitor', t0, t0 + 5000);
      expect(await settled(r2.id, ['scheduled', 'failed', 'declined'])).toMatchObject({ state: 'scheduled', cloudletId: 'cA' });
      await provider.call('reservation.cancel', { id: r.id, reason: 'end of test' });
      await provider.call('reservation.cancel', { id: r2.id, reason: 'end of test' });
    } finally {
      cA.child.kill('SIGCONT');
    }
  });
});
