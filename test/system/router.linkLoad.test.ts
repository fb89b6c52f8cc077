/**
 * Link loads from the front-end router's ports, end to end (needs root and
 * Open vSwitch): the Open vSwitch router of test/support/ovsRouterLab.ts is
 * router R between hosts A (port pa) and B (port pb); a real scheduler knows
 * the topology A - R - B with cloudlet cR at R; a real controller daemon
 * programs the router and names its link ports. One-way UDP from A to B at a
 * bounded rate must show in topology.get as load on both links in the
 * direction it flows (A→R, R→B) and hardly any the other way, with the link
 * named by the topology's own ends whichever way round the controller names
 * it; a link no router counts has no load (null), never zero. When the
 * controller stops, its loads go stale (after the scheduler's staleAfterMs)
 * and stay shown as the history they are, never as the present.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { isRoot } from '../../main/console/dataplaneLab.ts';
import { parseControllerConfig } from '../../main/controller/config.ts';
import { ControllerDaemon } from '../../main/controller/daemon.ts';
import { RpcClient } from '../../main/protocol/client.ts';
import type { Link } from '../../main/protocol/domain.ts';
import { schedulerApi } from '../../main/protocol/schedulerApi.ts';
import { spawnScheduler } from '../support/schedulerProcess.ts';
import { BRIDGE, CLOUDLET, HOST_B, OvsRouterLab, ROUTER_VTEP, VNI, VXLAN_PORT } from '../support/ovsRouterLab.ts';

const operatorToken = 'operator-token-linkload-0123456789';
const controllerToken = 'controller-token-linkload-0123456789';
const capacity = { cpu: 2, memMiB: 2048, diskGiB: 10, netMbps: 1000 };

describe.skipIf(!isRoot())("link loads from the router's ports reach topology.get (root, Open vSwitch)", () => {
  let lab: OvsRouterLab;
  let dir: string;
  let scheduler: ChildProcess | undefined;
  let daemon: ControllerDaemon | undefined;
  let operator: RpcClient<typeof schedulerApi>;
  const logs: string[] = [];

  beforeAll(async () => {
    lab = await new OvsRouterLab().create();
    dir = mkdtempSync(join(tmpdir(), 'pcloud-linkload-'));
    chmodSync(dir, 0o711);
    const schedulerConfig = join(dir, 'scheduler.json');
    writeFileSync(
      schedulerConfig,
      JSON.stringify({
        listen: { host: '127.0.0.1', port: 0 },
        database: join(dir, 'scheduler.db'),
        tokens: [
          { token: operatorToken, role: 'operator', name: 'noc-alice' },
          { token: controllerToken, role: 'controller', name: 'ctl-r', cloudletId: 'cR' },
        ],
        slotMs: 1000,
        reportIntervalMs: 500,
        // Short, so that a stopped controller's link loads go stale within the last test.
        staleAfterMs: 4000,
        topology: {
          pops: [{ id: 'A' }, { id: 'R' }, { id: 'B' }, { id: 'Z' }],
          links: [
            { a: 'A', b: 'R', rttMs: 1, capacityMbps: 100 },
            { a: 'R', b: 'B', rttMs: 1, capacityMbps: 100 },
            { a: 'B', b: 'Z', rttMs: 1, capacityMbps: 100 },
          ],
          cloudlets: [{ id: 'cR', popId: 'R', nodes: [{ id: 'rn1', capacity }] }],
        },
      }),
    );
    const started = await spawnScheduler(schedulerConfig);
    scheduler = started.child;
    daemon = new ControllerDaemon(
      parseControllerConfig({
        cloudletId: 'cR',
        scheduler: { url: started.url, token: controllerToken, reportIntervalMs: 500 },
        listen: { host: '127.0.0.1', port: 0 },
        tokens: [{ token: operatorToken, role: 'operator', name: 'noc-alice' }],
        nodes: [{ id: 'rn1', capacity }],
        stateDir: join(dir, 'state'),
        onExit: 'stop',
        dataPlane: { netns: lab.nsPath(lab.ns.c), bind: CLOUDLET, port: 4789, routerPort: 4789, routers: [ROUTER_VTEP], vnis: [VNI], drainIntervalMs: 50 },
        // pa is named from R (the topology says A-R: the scheduler turns it round), pb as the topology does.
        router: { kind: 'ovs', bridge: BRIDGE, vxlanPort: VXLAN_PORT, ovsdb: lab.dbRemote, vni: VNI, checkIntervalMs: 500, links: [{ port: 'pa', from: 'R', to: 'A' }, { port: 'pb', from: 'R', to: 'B' }] },
      }),
      { log: (line) => logs.push(line) },
    );
    await daemon.start();
    operator = new RpcClient(schedulerApi, { url: started.url, token: operatorToken, timeoutMs: 10_000 });
    await operator.connect();
  }, 60_000);

  afterAll(async () => {
    operator?.close();
    await daemon?.stop();
    scheduler?.kill('SIGTERM');
    await lab?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const links = async (): Promise<Map<string, Link>> => new Map((await operator.call('topology.get', {})).links.map((l) => [`${l.a}-${l.b}`, l]));

  test('one-way UDP from A to B loads A→R and R→B, hardly the other way; a link without a router has no data', async () => {
    // Before any traffic: the ports are counted (a load, near zero), the link without a router is not.
    await expect.poll(async () => (await links()).get('R-B')?.load ?? null, { timeout: 20_000, interval: 250 }).not.toBeNull();
    expect((await links()).get('B-Z')?.load).toBeNull();
    // 1000-byte UDP datagrams from A to B, 400 a second, for at most 15 s (bounded in count and time); B has no
    // listener and answers only with port-unreachables, which the kernel rate-limits.
    const sender = spawn('ip', ['netns', 'exec', lab.ns.a, 'timeout', '15', 'hping3', '--udp', '-p', '9999', '-d', '1000', '-i', 'u2500', '-c', '6000', '-q', HOST_B], { stdio: 'ignore' });
    try {
      const loaded = (l: Link | undefined): boolean => (l?.load?.abBps ?? 0) > 1e6;
      await expect.poll(async () => { const now = await links(); return loaded(now.get('A-R')) && loaded(now.get('R-B')); }, { timeout: 20_000, interval: 250 }).toBe(true);
      const now = await links();
      for (const name of ['A-R', 'R-B']) {
        const load = now.get(name)?.load;
        // Named by the topology's ends, measured at R, the way the datagrams flow many times the way back.
        expect(load, name).toMatchObject({ a: name.split('-')[0], b: name.split('-')[1], measuredAt: 'R' });
        expect(load?.abBps, name).toBeGreaterThan(10 * (load?.baBps ?? 0));
        // No more than the sender can send (400 datagrams of 1042 bytes on the wire a second), with room for a short read period.
        expect(load?.abBps, name).toBeLessThan(400 * 1042 * 8 * 2);
      }
      expect(now.get('B-Z')?.load).toBeNull();
    } finally {
      sender.kill('SIGKILL');
    }
  });

  test("a stopped controller's link loads go stale after staleAfterMs, kept as its last count (not dropped, not current)", async () => {
    const before = (await links()).get('A-R')?.load;
    expect(before?.stale).toBe(false);
    await daemon?.stop();
    daemon = undefined;
    await expect.poll(async () => (await links()).get('A-R')?.load?.stale, { timeout: 20_000, interval: 250 }).toBe(true);
    const after = (await links()).get('A-R')?.load;
    // The last count, as it was: a stale load is history, not a fresh zero.
    expect(after?.at).toBeGreaterThanOrEqual(before?.at ?? Infinity);
    expect(after).toMatchObject({ a: 'A', b: 'R', measuredAt: 'R' });
    expect((await links()).get('B-Z')?.load).toBeNull();
  });
});
