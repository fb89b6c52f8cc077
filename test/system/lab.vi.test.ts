/**
 * A VI on the path in the DeterLab lab (Fig. 4), as root (needs root, Open
 * vSwitch, iproute2, iperf3, socat): the lab up in namespaces mode through a
 * lab session (main/console/labSession.ts); a VI running `forward` reserved
 * with the real pcctl as the lab's provider at C1, with a rule for B's
 * prefix, gets its OpenFlow flow at R1 (pcctl router flows); ping and a
 * bounded iperf3 from A to B cross it (its port counters and the flow's
 * rise) and reach B; traffic to A (not matching) never reaches the cloudlet
 * (C1's uplink counters stay put); terminating the VI removes the flow and
 * ping goes straight through. Then the same through the session's
 * reserveVi/endVi. Last, "not serving": R1's ovs-vswitchd killed under a
 * running VI, the controller raises the router alarm and says the VI's flows
 * are not installed, the scheduler repeats it with the reservation (pcctl
 * list, pcctl show); OVS restarted, the same flow is back and it serves again.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startLabSession, type LabSession } from '../../main/console/labSession.ts';
import { RpcClient } from '../../main/protocol/client.ts';
import { controllerApi, type RouterTable } from '../../main/protocol/controllerApi.ts';
import { schedulerApi } from '../../main/protocol/schedulerApi.ts';
import { pcctlWith } from './harness.ts';

const isRoot = process.getuid?.() === 0;
// Short: the OVS sockets live under it (108-byte socket paths).
const dataDir = isRoot ? mkdtempSync('/tmp/pcl14v-') : '';
const pcctl = pcctlWith(dataDir);

let lab: LabSession;
let controller: RpcClient<typeof controllerApi>;
let tag = '';

/** B's network, which the VI's rule steers. */
const bNet = '198.18.2.0/24';

beforeAll(async () => {
  if (!isRoot) return;
  lab = await startLabSession({ topology: 'deterlab', dataDir, onStep: (s) => console.log(new Date().toISOString(), s) });
  tag = lab.plan.tag;
  controller = new RpcClient(controllerApi, { url: lab.controllerUrl('C1'), token: lab.operatorToken, client: 'lab.vi.test' });
  await controller.connect();
});

afterAll(async () => {
  if (!isRoot) return;
  controller?.close();
  await lab?.stop();
  // Whatever a failed stop left: only names with this lab's tag.
  for (const ns of execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).split('\n').map((l) => l.split(' ')[0] ?? '')) {
    if (tag && ns.startsWith(`${tag}-`)) execFileSync('ip', ['netns', 'del', ns]);
  }
  rmSync(dataDir, { recursive: true, force: true });
});

/** Packets C1's data plane received from its router (its uplink), from its metrics endpoint. */
async function uplinkRx(): Promise<number> {
  const config = JSON.parse(readFileSync(join(lab.state.dir, 'controller-C1.json'), 'utf8')) as { metrics: { port: number } };
  const text = await (await fetch(`http://127.0.0.1:${config.metrics.port}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('pcloud_dataplane_uplink_packets{what="rx"'));
  if (!line) throw new Error(`C1's metrics have no uplink rx counter:\n${text.slice(0, 2000)}`);
  return Number(line.split(' ').pop());
}

/** R1's flows of C1's controller (polled through the API: a pcctl per poll is slow on a busy machine). */
function routerTable(): Promise<RouterTable> {
  return controller.call('router.flows', {});
}

/** The flows of a VI's rules at R1. */
async function viFlows(viId: string): Promise<RouterTable['flows']> {
  const rules = new Set((await controller.call('rule.list', { viId })).rules.map((r) => r.id));
  return (await routerTable()).flows.filter((f) => f.ruleId !== null && rules.has(f.ruleId));
}

/** Packets the VI's port delivered to it (sampled by the controller every few seconds). */
async function toVi(viId: string): Promise<number> {
  return (await controller.call('vi.get', { viId })).usage?.traffic?.to_vi.packets ?? 0;
}

async function pingAB(): Promise<string> {
  const ping = await pcctl('lab', 'exec', 'A', '--', 'ping', '-c', '3', '-i', '0.2', '-W', '2', 'B');
  return ping.stdout + ping.stderr;
}

/** A counter's value once two reads a second apart agree (at most 15 s). */
async function settled(read: () => Promise<number>): Promise<number> {
  let last = await read();
  for (const end = Date.now() + 15_000; Date.now() < end; ) {
    await new Promise((r) => setTimeout(r, 1000));
    const now = await read();
    if (now === last) return now;
    last = now;
  }
  return last;
}

describe.skipIf(!isRoot)('a VI on the path from A to B in the DeterLab lab (root)', () => {
  let reservationId = '';
  let viId = '';

  test('pcctl reserve (provider), approved by the operator: the VI at C1 runs and its rule is an OpenFlow flow at R1', async () => {
    const schedulerUrl = lab.state.schedulerUrl;
    const key = lab.state.attestationKeyFile as string;
    const proof = await pcctl('attest', 'sign', '--key', key, '--prefix', bNet, '--provider', 'demo', '--days', '1');
    expect(proof.code).toBe(0);
    const rules = join(dataDir, 'rules.json');
    writeFileSync(rules, JSON.stringify([{ priority: 1234, match: { dstPrefix: bNet }, action: 'to_vi', ownershipProof: proof.stdout.trim() }]));
    const reserve = await pcctl('reserve', '--url', schedulerUrl, '--token', lab.providerToken, '--pop', 'R1', '--cloudlet', 'C1', '--from', '+10s', '--to', '+1h',
      '--cpu', '1', '--mem', '256', '--disk', '1', '--net', '500', '--program', 'forward', '--rules', rules, '--json');
    expect(reserve.stderr).toBe('');
    const reservation = JSON.parse(reserve.stdout) as { id: string; state: string };
    expect(reservation.state).toBe('pending_approval');
    reservationId = reservation.id;
    viId = `vi-${reservationId}`;
    // Approved at once through the API: a second pcctl can take longer than the ten seconds to t0 on a
    // busy machine, and a request still pending at t0 is declined.
    const operator = new RpcClient(schedulerApi, { url: schedulerUrl, token: lab.operatorToken, client: 'lab.vi.test' });
    await operator.connect();
    try {
      await operator.call('reservation.approve', { id: reservationId, reason: 'lab.vi.test' });
    } finally {
      operator.close();
    }
    await expect.poll(async () => (await controller.call('vi.get', { viId }).catch(() => undefined))?.routerFlows?.installed, { timeout: 60_000, interval: 250 }).toBe(true);
    const table = JSON.parse((await pcctl('router', 'flows', 'C1', '--url', lab.controllerUrl('C1'), '--token', lab.operatorToken, '--json')).stdout) as RouterTable;
    const flows = table.flows.filter((f) => f.ruleId?.startsWith(`${viId}#`));
    // At the rule's priority, matching B's network, out of C1's VXLAN port with C1's VNI.
    expect(flows).toEqual([expect.objectContaining({ priority: 1234, flow: expect.stringMatching(/^ip,nw_dst=198\.18\.2\.0\/24 actions=set_field:0x3e8->tun_id,output:1000$/) })]);
    const text = await pcctl('router', 'flows', 'C1', '--url', lab.controllerUrl('C1'), '--token', lab.operatorToken);
    expect(text.stdout).toContain('programmed as the rule book says');
    expect(text.stdout).toMatch(/1234 +\d+ +ip,nw_dst=198\.18\.2\.0\/24 .* priority 1234 to_vi/);
  });

  test('ping and iperf3 from A to B cross the VI (its counters rise) and reach B', async () => {
    const viBefore = await toVi(viId);
    const flowBefore = (await viFlows(viId))[0]?.packets ?? 0;
    const ping = await pingAB();
    expect(ping).toContain('3 received');
    expect(ping).toContain('ttl=62');
    const server = lab.spawn('B', ['iperf3', '--server', '--one-off', '--bind', lab.addressOf('B')]);
    try {
      await new Promise((r) => setTimeout(r, 500));
      const client = await pcctl('lab', 'exec', 'A', '--timeout', '30', '--', 'iperf3', '--client', 'B', '--time', '2', '--json', '--connect-timeout', '5000');
      expect(client.code, client.stderr).toBe(0);
      const result = JSON.parse(client.stdout) as { end: { sum_received: { bytes: number; bits_per_second: number } } };
      console.log(`iperf3 A -> B through the VI at C1: ${(result.end.sum_received.bits_per_second / 1e6).toFixed(0)} Mb/s`);
      expect(result.end.sum_received.bytes).toBeGreaterThan(1_000_000);
    } finally {
      server.kill('SIGKILL');
    }
    // Every ping request and every iperf3 segment to B went through the flow and the VI's port.
    expect((await viFlows(viId))[0]?.packets ?? 0).toBeGreaterThan(flowBefore + 1000);
    await expect.poll(async () => (await toVi(viId)) - viBefore, { timeout: 15_000, interval: 500 }).toBeGreaterThan(1000);
  });

  test("each packet to B visits the VI once: N pings raise the VI's flow, the way back from the cloudlet and the VI's port by N each; the VI's memory stays bounded", async () => {
    // The console's lab e2e saw its page stall and a 256 MiB forward VI killed: a loop between R1 and
    // the cloudlet would multiply every packet. Counted exactly, each request crosses once each way.
    const n = 200;
    const returning = async () => (await routerTable()).flows.find((f) => f.ruleId === null && f.flow.startsWith('in_port='))?.packets ?? 0;
    const port = async () => {
      const t = (await controller.call('vi.get', { viId })).usage?.traffic;
      return { to: t?.to_vi.packets ?? 0, from: t?.from_vi.packets ?? 0 };
    };
    // Open vSwitch updates flow statistics a moment after the packets (and the run before may still
    // be draining): the counts before are taken once they stand still.
    const flowBefore = await settled(async () => (await viFlows(viId))[0]?.packets ?? 0);
    const backBefore = await settled(returning);
    const portBefore = await port();
    const ping = await lab.exec('A', ['ping', '-q', '-c', String(n), '-i', '0.005', '-W', '2', lab.addressOf('B')], { timeoutMs: 30_000 });
    expect(ping.stdout).toContain(`${n} received`);
    await expect.poll(async () => (await viFlows(viId))[0]?.packets ?? 0, { timeout: 10_000, interval: 250 }).toBe(flowBefore + n);
    await expect.poll(returning, { timeout: 10_000, interval: 250 }).toBe(backBefore + n);
    // The port's counters come with the controller's usage sample (every few seconds).
    await expect.poll(async () => {
      const p = await port();
      return { to: p.to - portBefore.to, from: p.from - portBefore.from };
    }, { timeout: 20_000, interval: 500 }).toEqual({ to: n, from: n });
    const vi = await controller.call('vi.get', { viId });
    // Some 45 MiB measured (Node and its port's rings) after the iperf3 run before: far under the 256 MiB reserved.
    expect(vi.usage?.memMiB ?? Infinity).toBeLessThan(vi.limits.memMiB / 2);
    expect(vi.state).toBe('running');
  });

  test('traffic to A (not matching the rule) never reaches the cloudlet', async () => {
    const receiver = lab.spawn('A', ['socat', '-u', `UDP4-RECV:9000,bind=${lab.addressOf('A')}`, 'STDOUT']);
    let received = '';
    receiver.stdout?.on('data', (d: Buffer) => (received += d.toString()));
    try {
      await new Promise((r) => setTimeout(r, 300));
      const rxBefore = await uplinkRx();
      const flowBefore = (await viFlows(viId))[0]?.packets ?? 0;
      await lab.exec('B', ['sh', '-c', `for i in 1 2 3 4 5; do echo datagram$i; sleep 0.1; done | socat -u STDIN UDP4-SENDTO:${lab.addressOf('A')}:9000`], { timeoutMs: 10_000 });
      await expect.poll(() => received, { timeout: 5000 }).toContain('datagram5');
      expect(await uplinkRx()).toBe(rxBefore);
      expect((await viFlows(viId))[0]?.packets).toBe(flowBefore);
    } finally {
      receiver.kill('SIGKILL');
    }
  });

  test('terminating the VI removes its flow; A reaches B straight through, past the cloudlet', async () => {
    const rules = (await controller.call('rule.list', { viId })).rules.map((r) => r.id);
    expect(rules.length).toBe(1);
    const terminate = await pcctl('cloudlet', 'terminate', '--vi', viId, '--reason', 'lab.vi.test: done', '--url', lab.controllerUrl('C1'), '--token', lab.operatorToken);
    expect(terminate.code, terminate.stderr).toBe(0);
    await expect.poll(async () => (await routerTable()).flows.filter((f) => f.ruleId !== null && rules.includes(f.ruleId)), { timeout: 30_000, interval: 250 }).toEqual([]);
    const rxBefore = await uplinkRx();
    expect(await pingAB()).toContain('3 received');
    expect(await uplinkRx()).toBe(rxBefore);
    // The scheduler hears of it from the controller's report.
    await expect.poll(async () => (await pcctl('list', '--url', lab.state.schedulerUrl, '--token', lab.operatorToken)).stdout, { timeout: 60_000, interval: 1000 }).toMatch(new RegExp(`^${reservationId} +terminated `, 'm'));
  });

  test('the same through the lab session: reserveVi returns once the VI serves, endVi once its flow is gone', async () => {
    const vi = await lab.reserveVi({ cloudletId: 'C1', program: 'forward', rules: [{ priority: 900, match: { dstPrefix: bNet }, action: 'to_vi' }], name: 'lab.vi.test-session' });
    const view = await controller.call('vi.get', { viId: vi.viId });
    expect(view.state).toBe('running');
    expect(view.routerFlows?.installed).toBe(true);
    const flowBefore = (await viFlows(vi.viId))[0]?.packets ?? 0;
    const rxBefore = await uplinkRx();
    expect(await pingAB()).toContain('3 received');
    await expect.poll(async () => (await viFlows(vi.viId))[0]?.packets ?? 0, { timeout: 10_000, interval: 250 }).toBeGreaterThanOrEqual(flowBefore + 3);
    expect((await uplinkRx()) - rxBefore).toBeGreaterThanOrEqual(3);
    const rules = (await controller.call('rule.list', { viId: vi.viId })).rules.map((r) => r.id);
    await lab.endVi(vi.reservationId);
    expect((await routerTable()).flows.filter((f) => f.ruleId !== null && rules.includes(f.ruleId))).toEqual([]);
    const rxAfter = await uplinkRx();
    expect(await pingAB()).toContain('3 received');
    expect(await uplinkRx()).toBe(rxAfter);
  });
  // Last: a restarted ovs-vswitchd comes back without the lab's own forwarding (table 1).
  test("a VI whose router flows are gone (R1's ovs-vswitchd killed) is not serving: router alarm, its view, the scheduler, pcctl list and show; serving again with the same flow once OVS is back", async () => {
    const vi = await lab.reserveVi({ cloudletId: 'C1', program: 'forward', rules: [{ priority: 800, match: { dstPrefix: bNet }, action: 'to_vi' }], name: 'lab.vi.test-not-serving' });
    const before = await viFlows(vi.viId);
    expect(before).toHaveLength(1);
    const router = lab.plan.routers.find((r) => r.id === 'R1');
    if (!router) throw new Error('no router R1 in the plan');
    const pid = Number(readFileSync(join(router.runDir, 'ovs-vswitchd.pid'), 'utf8').trim());
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
    process.kill(pid, 'SIGKILL');
    await expect.poll(async () => (await controller.call('vi.get', { viId: vi.viId })).routerFlows?.installed, { timeout: 30_000, interval: 250 }).toBe(false);
    const view = await controller.call('vi.get', { viId: vi.viId });
    expect(view.state).toBe('running');
    expect(view.routerFlows?.detail).toMatch(/ovs bridge br0 at .*: flows of vi-r-\d+#0 not installed: router flows missing: /);
    const alarms = (await controller.call('alarm.list', {})).alarms;
    expect(alarms.find((a) => a.kind === 'router')?.message).toMatch(/router flows missing/);
    // The scheduler hears it in the next report (every two seconds in the lab) and says it with the reservation.
    const scheduler = new RpcClient(schedulerApi, { url: lab.state.schedulerUrl, token: lab.operatorToken, client: 'lab.vi.test' });
    await scheduler.connect();
    try {
      await expect.poll(async () => (await scheduler.call('reservation.get', { id: vi.reservationId })).routerFlows?.installed, { timeout: 30_000, interval: 250 }).toBe(false);
      const c1 = (await scheduler.call('topology.get', {})).cloudlets.find((c) => c.id === 'C1');
      expect(c1?.routerFlows).toContainEqual(expect.objectContaining({ reservationId: vi.reservationId, installed: false }));
      const list = await pcctl('list', '--url', lab.state.schedulerUrl, '--token', lab.operatorToken);
      expect(list.stdout).toMatch(new RegExp(`^${vi.reservationId} +active .*\\n  not serving: ovs bridge br0 at .* not installed: `, 'm'));
      const show = await pcctl('show', vi.reservationId, '--url', lab.state.schedulerUrl, '--token', lab.providerToken);
      expect(show.code, show.stderr).toBe(0);
      expect(show.stdout).toContain('not serving: ');
      expect(show.stdout).toMatch(/scheduled +-> active/);

      // OVS back (same database, same bridge): the controller notices and installs the same flow again.
      execFileSync('ip', ['netns', 'exec', router.ns, ...argv], { env: { ...process.env, OVS_RUNDIR: router.runDir, OVS_LOGDIR: router.runDir, OVS_DBDIR: router.runDir } });
      await expect.poll(async () => (await controller.call('vi.get', { viId: vi.viId })).routerFlows?.installed, { timeout: 30_000, interval: 250 }).toBe(true);
      expect((await viFlows(vi.viId)).map((f) => [f.cookie, f.priority, f.flow])).toEqual(before.map((f) => [f.cookie, f.priority, f.flow]));
      await expect.poll(async () => (await scheduler.call('reservation.get', { id: vi.reservationId })).routerFlows?.installed, { timeout: 30_000, interval: 250 }).toBe(true);
    } finally {
      scheduler.close();
    }
    await lab.endVi(vi.reservationId);
  });
});
