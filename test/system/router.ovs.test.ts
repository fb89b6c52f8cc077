/**
 * The controller programs its front-end router (needs root and Open vSwitch):
 * a real controller daemon with its data plane in a cloudlet namespace, an
 * Open vSwitch bridge as the router (test/support/ovsRouterLab.ts), hosts A
 * and B on it, and a forward VI run by the controller on a ring port.
 * Checked: a VI's rule appears as an OpenFlow flow with its priority and
 * match; traffic from A matching it goes through the VI and continues to B,
 * traffic not matching never reaches the cloudlet; a router that crashed is
 * alarmed, its VI reported as not serving, and after a restart it gets the
 * same flows back; terminating the VI removes its flow and the traffic goes
 * straight through; a foreign flow is never touched.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, chmodSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { isRoot, run } from '../../main/console/dataplaneLab.ts';
import { RpcClient } from '../../main/protocol/client.ts';
import { controllerApi } from '../../main/protocol/controllerApi.ts';
import type { ControllerCommand, ServiceSpec } from '../../main/protocol/domain.ts';
import { parseControllerConfig } from '../../main/controller/config.ts';
import { ControllerDaemon } from '../../main/controller/daemon.ts';
import { controllerCookie, formatCookie } from '../../main/controller/frontRouter.ts';
import { OvsRouter } from '../../main/controller/ovsRouter.ts';
import type { OwnershipVerifier } from '../../main/controller/ownership.ts';
import { repoRoot } from './harness.ts';
import { BRIDGE, CLOUDLET, FOREIGN_FLOW, HOST_A, HOST_B, OvsRouterLab, ROUTER_VTEP, VNI, VXLAN_PORT } from '../support/ovsRouterLab.ts';

const operatorToken = 'operator-token-router-0123456789';
const verifier: OwnershipVerifier = { verify: (proof, c) => (proof === `owns:${c.providerId}` ? { ok: true, anchor: 'test', notAfter: 0 } : { ok: false, reason: 'not the owner' }) };
/** ICMP to B: pings from A are captured, B's replies (to A) are not. */
const rule: ServiceSpec['rules'][number] = { priority: 10, match: { dstPrefix: `${HOST_B}/32`, ipProto: 1 }, action: 'to_vi', samplingRate: 0, ownershipProof: 'owns:p1' };
const ruleFlow = `priority=10,icmp,nw_dst=${HOST_B} actions=set_field:0x${VNI.toString(16)}->tun_id,output:`;

function hasOvs(): boolean {
  try {
    run(['ovs-vswitchd', '--version']);
    return true;
  } catch {
    return false;
  }
}

describe.skipIf(!isRoot())('the controller programs an Open vSwitch front-end router (root)', () => {
  let lab: OvsRouterLab;
  let dir: string;
  let daemon: ControllerDaemon;
  let client: RpcClient<typeof controllerApi>;
  const logs: string[] = [];
  let stopped = false;

  beforeAll(async () => {
    if (!hasOvs()) throw new Error('Open vSwitch (ovs-vswitchd) is not installed: this root test needs it (apt-get install openvswitch-switch)');
    lab = await new OvsRouterLab().create();
    // Left by an earlier run of this controller for a VI that is gone: the start must remove it.
    lab.ofctl('add-flow', lab.openflow, `table=0,cookie=${formatCookie(controllerCookie('ovsc') | 0x1234n)},priority=20,ip,nw_dst=${HOST_B},actions=drop`);
    dir = mkdtempSync(join(tmpdir(), 'pcloud-router-'));
    chmodSync(dir, 0o711);
    const config = parseControllerConfig({
      cloudletId: 'ovsc',
      scheduler: { url: 'ws://127.0.0.1:1', token: 'controller-token-0123456789', backoffMs: 1000, maxBackoffMs: 1000 },
      listen: { host: '127.0.0.1', port: 0 },
      tokens: [{ token: operatorToken, role: 'operator', name: 'noc-alice' }],
      nodes: [{ id: 'n1', capacity: { cpu: 2, memMiB: 2048, diskGiB: 10, netMbps: 1000 } }],
      stateDir: join(dir, 'state'),
      onExit: 'stop',
      dataPlane: { netns: lab.nsPath(lab.ns.c), bind: CLOUDLET, port: 4789, routerPort: 4789, routers: [ROUTER_VTEP], vnis: [VNI], drainIntervalMs: 50 },
      router: { kind: 'ovs', bridge: BRIDGE, vxlanPort: VXLAN_PORT, ovsdb: lab.dbRemote, vni: VNI, checkIntervalMs: 300 },
      sandbox: { usageIntervalMs: 200 },
    });
    daemon = new ControllerDaemon(config, { verifier, log: (line) => logs.push(line) });
    const { url } = await daemon.start();
    client = new RpcClient(controllerApi, { url, token: operatorToken, timeoutMs: 10_000 });
    await client.connect();
  });

  afterEach((context) => {
    // What the controller said about the router, to read when a check fails in CI.
    if (context.task.result?.state === 'fail') process.stderr.write(logs.filter((l) => l.includes('router')).map((l) => `controller: ${l}\n`).join(''));
  });

  afterAll(async () => {
    client?.close();
    if (!stopped) await daemon?.stop();
    await lab?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** Whether `count` pings from A to B are all answered. */
  const pings = (count: number): boolean => {
    try {
      lab.exec(lab.ns.a, 'ping', '-c', String(count), '-i', '0.2', '-W', '1', HOST_B);
      return true;
    } catch {
      return false;
    }
  };
  const uplinkRx = (): number => daemon.dataPath?.plane.uplinkCounters().rxPackets ?? 0;

  function pcctl(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
      execFile(process.execPath, ['--disable-warning=ExperimentalWarning', join(repoRoot, 'main/cli/pcctl.ts'), ...args], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, PCLOUD_TOKEN: operatorToken } }, (error, stdout, stderr) =>
        resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
      );
    });
  }

  let n = 0;
  async function startVi(reservationId: string, viRule = rule): Promise<string> {
    const now = Date.now();
    const profile = [{ from: now - 1000, to: now + 600_000, capacity: { cpu: 0.5, memMiB: 256, diskGiB: 1, netMbps: 100 } }];
    const service: ServiceSpec = { mode: 'transparent', program: 'forward', args: {}, rules: [viRule] };
    const base = { reservationId, commandId: `c${n++}` };
    const run = (c: ControllerCommand) => daemon.cloudlet.agent.command(c);
    expect(await run({ ...base, kind: 'prepare', providerId: 'p1', nodeId: 'n1', t0: now - 1000, t1: now + 600_000, profile, service, holdMs: 5000 })).toEqual({ ok: true });
    expect(await run({ ...base, commandId: `c${n++}`, kind: 'commit' })).toEqual({ ok: true });
    const started = await run({ ...base, commandId: `c${n++}`, kind: 'start', nodeId: 'n1', profile, service, t1: now + 600_000 });
    expect(started, started.reason).toMatchObject({ ok: true });
    return `vi-${reservationId}`;
  }

  test('on start, stale flows of the controller are removed and the fixed ones installed; traffic goes straight through, never to the cloudlet', async () => {
    const table = await client.call('router.flows', {});
    expect(table).toMatchObject({ ok: true, problem: '', missing: [] });
    expect(table.flows.map((f) => [f.priority, f.flow])).toEqual([
      [65535, expect.stringMatching(/^in_port=\d+ actions=goto_table:1$/)],
      [0, 'actions=goto_table:1'],
    ]);
    const before = uplinkRx();
    expect(pings(3)).toBe(true);
    expect(uplinkRx() - before).toBe(0);
    expect(await lab.table0()).toContain(`cookie=${FOREIGN_FLOW.cookie}`);
  });

  test('a VI\'s rule becomes a flow at its priority; A\'s matching traffic goes through the VI to B, the rest never reaches the cloudlet', async () => {
    const started = performance.now();
    const viId = await startVi('r1');
    const startedVi = performance.now();
    await expect.poll(() => lab.table0(), { timeout: 10_000, interval: 50 }).toContain(ruleFlow);
    const installMs = performance.now() - startedVi;
    const table = await client.call('router.flows', {});
    const flow = table.flows.find((f) => f.ruleId === `${viId}#0`);
    expect(flow, JSON.stringify(table)).toMatchObject({ priority: 10, flow: expect.stringContaining(`icmp,nw_dst=${HOST_B} actions=set_field:0x64->tun_id,output:`) });
    expect(flow?.rule).toContain('dst 198.18.60.2/32');
    await expect.poll(async () => (await client.call('vi.get', { viId })).routerFlows, { timeout: 5000 }).toMatchObject({ installed: true });
    // Asynchronously: the controller answering pcctl runs in this process.
    const cli = await pcctl('router', 'flows', 'ovsc', '--url', daemon.url);
    expect(cli.code, cli.stderr).toBe(0);
    expect(cli.stdout).toMatch(new RegExp(`^10 +\\d+ +icmp,nw_dst=198\\.18\\.60\\.2 actions=set_field:0x64->tun_id,output:\\d+ +${viId}#0 priority 10 to_vi \\(ip_proto 1 dst 198\\.18\\.60\\.2/32\\)$`, 'm'));
    const wrong = await pcctl('router', 'flows', 'other', '--url', daemon.url);
    expect(wrong).toMatchObject({ code: 1, stderr: expect.stringContaining('is the controller of cloudlet ovsc, not other') });
    // The forward service is a Node process: the first pings may wait for it.
    await expect.poll(() => pings(1), { timeout: 30_000, interval: 200 }).toBe(true);
    const rx = uplinkRx();
    const toVi = daemon.dataPath?.sampleTraffic(viId)?.to_vi.packets ?? 0;
    expect(pings(5)).toBe(true);
    // Exactly the five requests reached the cloudlet (B's replies went straight to A), all through the VI.
    await expect.poll(() => (daemon.dataPath?.sampleTraffic(viId)?.to_vi.packets ?? 0) - toVi, { timeout: 5000 }).toBe(5);
    expect(uplinkRx() - rx).toBe(5);
    // Open vSwitch updates a flow's statistics from its datapath periodically, not per packet.
    await expect.poll(async () => (await client.call('router.flows', {})).flows.find((f) => f.ruleId === `${viId}#0`)?.packets ?? 0, { timeout: 10_000 }).toBeGreaterThanOrEqual(5);
    expect(await lab.table0()).toContain(`cookie=${FOREIGN_FLOW.cookie}`);
    process.stdout.write(`router test: VI start ${(startedVi - started).toFixed(0)} ms, its flow in the router ${installMs.toFixed(1)} ms after\n`);
  });

  test('a router that crashed raises an alarm and its VI is not reported as serving; restarted, it gets the same flows back', async () => {
    const viId = 'vi-r1';
    const flowsBefore = (await client.call('router.flows', {})).flows.map((f) => [f.cookie, f.priority, f.flow.replace(/output:\d+/, 'output:N')]);
    const reported = daemon.cloudlet.vis.unreported;
    await lab.killSwitch();
    await expect.poll(async () => (await client.call('vi.get', { viId })).routerFlows?.installed, { timeout: 10_000 }).toBe(false);
    const alarm = (await client.call('alarm.list', { includeAcknowledged: true, limit: 50 })).alarms.find((a) => a.kind === 'router');
    expect(alarm?.message).toMatch(/^router flows missing: .*(ovs-vswitchd|brr\.mgmt|datapath)/);
    expect((await client.call('vi.get', { viId })).state).toBe('running');
    expect(reported.get('r1')?.reason ?? '').toMatch(/running, but not serving traffic: .*flows of vi-r1#0 not installed/);
    await expect(client.call('router.flows', {})).rejects.toThrow(/cannot read the flows of ovs bridge brr/);
    await lab.startSwitch();
    const restarted = performance.now();
    lab.configureRouter();
    await expect.poll(() => lab.table0(), { timeout: 10_000, interval: 50 }).toContain(ruleFlow);
    const backMs = performance.now() - restarted;
    const flowsAfter = (await client.call('router.flows', {})).flows.map((f) => [f.cookie, f.priority, f.flow.replace(/output:\d+/, 'output:N')]);
    expect(flowsAfter).toEqual(flowsBefore);
    await expect.poll(async () => (await client.call('vi.get', { viId })).routerFlows?.installed, { timeout: 5000 }).toBe(true);
    await expect.poll(() => pings(1), { timeout: 10_000, interval: 200 }).toBe(true);
    const toVi = daemon.dataPath?.sampleTraffic(viId)?.to_vi.packets ?? 0;
    expect(pings(3)).toBe(true);
    await expect.poll(() => (daemon.dataPath?.sampleTraffic(viId)?.to_vi.packets ?? 0) - toVi, { timeout: 5000 }).toBe(3);
    process.stdout.write(`router test: flows back ${backMs.toFixed(0)} ms after ovs-vswitchd restarted (check every 300 ms)\n`);
  });

  test('a flow the router refuses (its table full) raises an alarm; that VI is not reported as serving, the others still are', async () => {
    // Room for the two fixed flows, the foreign one and vi-r1's: nothing more.
    lab.vsctl('--', '--id=@ft', 'create', 'Flow_Table', 'flow_limit=4', 'overflow_policy=refuse', '--', 'set', 'Bridge', BRIDGE, 'flow_tables:0=@ft');
    const viId = await startVi('r3', { ...rule, match: { dstPrefix: `${HOST_A}/32`, ipProto: 1 } });
    await expect.poll(async () => (await client.call('vi.get', { viId })).routerFlows, { timeout: 10_000 }).toMatchObject({ installed: false, detail: expect.stringContaining(`flows of ${viId}#0 not installed: router flows missing: ovs bridge brr at ${lab.openflow} refused 1 flow(s): ${viId}#0 (priority 10 ip,nw_proto=1,nw_dst=${HOST_A}/32)`) });
    expect((await client.call('vi.get', { viId: 'vi-r1' })).routerFlows).toMatchObject({ installed: true });
    expect(daemon.cloudlet.vis.unreported.get('r3')?.reason).toMatch(/^running, but not serving traffic: /);
    const alarm = (await client.call('alarm.list', { includeAcknowledged: true, limit: 50 })).alarms.find((a) => a.kind === 'router');
    expect(alarm?.message).toContain(`refused 1 flow(s): ${viId}#0`);
    const table = await client.call('router.flows', {});
    expect(table).toMatchObject({ ok: false, missing: [{ ruleId: `${viId}#0`, priority: 10 }] });
    // The limit lifted, the flow goes in at the next check.
    lab.vsctl('clear', 'Bridge', BRIDGE, 'flow_tables');
    await expect.poll(async () => (await client.call('vi.get', { viId })).routerFlows?.installed, { timeout: 10_000 }).toBe(true);
    expect((await client.call('router.flows', {})).ok).toBe(true);
    await client.call('vi.terminate', { viId, reason: 'end of the refusal test' });
    await expect.poll(async () => (await client.call('router.flows', {})).flows.some((f) => f.ruleId === `${viId}#0`), { timeout: 10_000 }).toBe(false);
  });

  test('terminating the VI removes its flow (the foreign flow stays) and the traffic goes straight through', async () => {
    const viId = 'vi-r1';
    const asked = performance.now();
    await client.call('vi.terminate', { viId, reason: 'end of the router test' });
    await expect.poll(() => lab.table0(), { timeout: 10_000, interval: 50 }).not.toContain(ruleFlow);
    const removedMs = performance.now() - asked;
    const table = await client.call('router.flows', {});
    expect(table.flows.map((f) => f.priority)).toEqual([65535, 0]);
    expect(await lab.table0()).toContain(`cookie=${FOREIGN_FLOW.cookie}`);
    const rx = uplinkRx();
    expect(pings(3)).toBe(true);
    expect(uplinkRx() - rx).toBe(0);
    process.stdout.write(`router test: flow gone ${removedMs.toFixed(1)} ms after vi.terminate was asked\n`);
  });

  test('a controller that stops withdraws its VI flows (their traffic goes straight through), keeping the fixed and the foreign ones', async () => {
    await startVi('r4');
    await expect.poll(() => lab.table0(), { timeout: 10_000, interval: 50 }).toContain(ruleFlow);
    client.close();
    stopped = true;
    await daemon.stop();
    const table = await lab.table0();
    expect(table).not.toContain(ruleFlow);
    expect(table).toContain(`cookie=${FOREIGN_FLOW.cookie}`);
    expect(table).toContain('priority=0 actions=goto_table:1');
    expect(pings(3)).toBe(true);
  });

  test('a router that is not there is a clear error', async () => {
    const missing = new OvsRouter({ kind: 'ovs', bridge: 'nobridge', vxlanPort: VXLAN_PORT, ovsdb: lab.dbRemote, vni: VNI, checkIntervalMs: 1000, commandTimeoutMs: 3000 });
    await expect(missing.identity()).rejects.toThrow(/no row "nobridge" in table Bridge/);
    const notRunning = new OvsRouter({ kind: 'ovs', bridge: BRIDGE, vxlanPort: VXLAN_PORT, ovsdb: `unix:${join(dir, 'no-such-db.sock')}`, vni: VNI, checkIntervalMs: 1000, commandTimeoutMs: 3000 });
    await expect(notRunning.identity()).rejects.toThrow(/database connection failed/);
    const wrongPort = new OvsRouter({ kind: 'ovs', bridge: BRIDGE, vxlanPort: BRIDGE, ovsdb: lab.dbRemote, vni: VNI, checkIntervalMs: 1000, commandTimeoutMs: 3000 });
    await expect(wrongPort.identity()).rejects.toThrow(/port brr is of type "internal": expected an OVS vxlan port or a kernel vxlan device/);
  });
});
