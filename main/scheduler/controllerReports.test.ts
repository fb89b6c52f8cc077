import { expect, test } from 'vitest';
import type { RpcClient } from '../protocol/client.ts';
import type { SchedulerApi } from '../protocol/schedulerApi.ts';
import { hour, node, request, testConfig, tokens } from '../../test/support/schedulerFixtures.ts';
import type { SchedulerConfig } from './config.ts';
import { schedulerHarness } from '../../test/support/schedulerHarness.ts';

const { start, client, closeAll } = schedulerHarness();

const nodes = (available: number) => [
  { nodeId: 'a1', total: node(8), available: node(available), health: 'up' as const },
  { nodeId: 'a2', total: node(8), available: node(8), health: 'up' as const },
];

/** A reservation that is running on cloudlet cA (slot starting now, auto-approved). */
async function activeReservation(config: SchedulerConfig) {
  const r = await start(config);
  const ctl = await client(r, tokens.cA);
  await ctl.call('controller.hello', {});
  await ctl.subscribe('controller.commands', {}, (cmd) => void ctl.call('controller.answer', { commandId: cmd.commandId, ok: true }).catch(() => undefined));
  const p1 = await client(r, tokens.p1);
  const now = Date.now();
  // Two seconds ahead: a t0 that passes before the approval (a busy machine) declines the request.
  const t0 = Math.ceil((now + 2000) / config.slotMs) * config.slotMs;
  const made = await p1.call('reservation.request', request(t0, t0 + hour, 2));
  const op = await client(r, tokens.operator);
  await op.call('reservation.approve', { id: made.id });
  await expect.poll(async () => (await op.call('reservation.get', { id: made.id })).state, { timeout: 15_000 }).toBe('active');
  return { r, ctl, op, id: made.id };
}

test('a VI that crashed at the cloudlet fails its reservation and frees the node', async () => {
  const config = testConfig({ slotMs: 1000, approval: { autoApprove: [], autoApproveAll: false } });
  const { ctl, op, id } = await activeReservation(config);
  const held = await op.call('reservation.get', { id });
  const freeOn = async () =>
    (await op.call('resources.headroom', { from: held.t0, to: held.t1, cloudletId: 'cA' })).nodes.find((n) => n.nodeId === held.nodeId)?.minFree.cpu ?? NaN;
  const before = await freeOn();
  await ctl.call('controller.report', { at: Date.now(), nodes: nodes(8), vis: [{ reservationId: id, nodeId: 'a1', state: 'failed', reason: 'exited with code 1', at: Date.now() }] });
  const r = await op.call('reservation.get', { id });
  expect(r.state).toBe('failed');
  expect(r.reason).toContain('exited with code 1');
  expect(r.transitions?.at(-1)).toMatchObject({ to: 'failed', actor: 'controller of cA' });
  // Its two cores are free again.
  expect(await freeOn()).toBeCloseTo(before + 2);
});

test("operator actions at a controller join the scheduler's audit chain once, across resends and a restart", async () => {
  const config = testConfig();
  const r1 = await start(config);
  const ctl = await client(r1, tokens.cA);
  await ctl.call('controller.hello', {});
  const action = { seq: 1, at: Date.now(), actor: 'noc-anna', role: 'operator', action: 'vi.restrict', target: 'vi-r-9', reason: 'suspected scan traffic' };
  await ctl.call('controller.report', { at: Date.now(), nodes: nodes(8), audit: [action] });
  await ctl.call('controller.report', { at: Date.now(), nodes: nodes(8), audit: [action, { ...action, seq: 2, action: 'vi.terminate' }] });
  const op = await client(r1, tokens.operator);
  const actions = async (c: RpcClient<SchedulerApi>) => (await c.call('audit.list', {})).entries.filter((e) => e.action.startsWith('controller.')).map((e) => [e.action, e.actor, e.target]);
  expect(await actions(op)).toEqual([
    ['controller.vi.restrict', 'noc-anna @ cA', 'vi-r-9'],
    ['controller.vi.terminate', 'noc-anna @ cA', 'vi-r-9'],
  ]);
  await closeAll();
  const r2 = await start(config);
  const ctl2 = await client(r2, tokens.cA);
  await ctl2.call('controller.hello', {});
  await ctl2.call('controller.report', { at: Date.now(), nodes: nodes(8), audit: [action, { ...action, seq: 2, action: 'vi.terminate' }] });
  const op2 = await client(r2, tokens.operator);
  expect(await actions(op2)).toHaveLength(2);
  expect((await op2.call('audit.verify', {})).ok).toBe(true);
});

test("admission knows each cloudlet's programs from its reports: a cloudlet without the program is passed over, and a program nobody offers is refused with what is offered", async () => {
  const config = testConfig();
  const r = await start(config);
  const cA = await client(r, tokens.cA);
  const cC = await client(r, tokens.cC);
  await cA.call('controller.hello', {});
  await cC.call('controller.hello', {});
  await cA.call('controller.report', { at: Date.now(), nodes: nodes(8), programs: ['monitor', 'forward'] });
  await cC.call('controller.report', { at: Date.now(), nodes: [{ nodeId: 'c1', total: node(8), available: node(8), health: 'up' }], programs: ['monitor', 'ids'] });
  const cD = await client(r, tokens.cD);
  await cD.call('controller.hello', {});
  await cD.call('controller.report', { at: Date.now(), nodes: [{ nodeId: 'd1', total: node(8), available: node(8), health: 'up' }], programs: ['monitor'] });
  const p1 = await client(r, tokens.p1);
  const t0 = Math.ceil(Date.now() / config.slotMs) * config.slotMs + 2 * hour;
  const ids = { mode: 'transparent' as const, program: 'ids', args: {}, rules: [] };
  // cA is closest to A, but only cC runs ids.
  const placed = await p1.call('reservation.request', request(t0, t0 + hour, 1, { service: ids }));
  expect(placed).toMatchObject({ state: 'pending_approval', cloudletId: 'cC' });
  const nobody = await p1.call('reservation.request', request(t0, t0 + hour, 1, { service: { ...ids, program: 'nosuch' }, preferredCloudletId: 'cA' }));
  expect(nobody.state).toBe('declined');
  expect(nobody.reason).toContain('cA does not offer program "nosuch" (offers: monitor, forward)');
  expect(nobody.reason).toContain('cC does not offer program "nosuch" (offers: monitor, ids)');
  const explained = await p1.call('admission.explain', { request: request(t0, t0 + hour, 1, { service: ids }) });
  expect(explained.candidates.find((c) => c.cloudletId === 'cA')?.skipped).toBe('does not offer program "ids" (offers: monitor, forward)');
  await closeAll();
});

test("a report's data-plane traffic (per VI and uplink) is kept with the cloudlet and served in the topology; a report without any keeps the last", async () => {
  const r = await start(testConfig());
  const cA = await client(r, tokens.cA);
  await cA.call('controller.hello', {});
  const op = await client(r, tokens.operator);
  const cloudletA = async () => (await op.call('topology.get', {})).cloudlets.find((c) => c.id === 'cA');
  expect((await cloudletA())?.traffic).toBeNull();
  const direction = (pps: number) => ({ pps, bps: pps * 8000, packets: pps * 10, bytes: pps * 10_000, drops: { policed: 3, quarantined: 0 } });
  const traffic = {
    periodSeconds: 10,
    vis: [{ viId: 'vi-r1', reservationId: 'r1', in: direction(100), out: direction(90) }],
    uplink: { rxPps: 500, rxBps: 4e6, txPps: 490, txBps: 3.9e6, rxPackets: 5000, txPackets: 4900, legacy: 4000, ruleDrops: 10, socketDrops: 0, malformed: { short_vxlan: 2 } },
  };
  const at = Date.now();
  await cA.call('controller.report', { at, nodes: nodes(8), traffic });
  expect((await cloudletA())?.traffic).toEqual({ ...traffic, at });
  const p1 = await client(r, tokens.p1);
  expect((await p1.call('topology.get', {})).cloudlets.find((c) => c.id === 'cA')?.traffic).toBeNull();
  await cA.call('controller.report', { at: at + 1, nodes: nodes(8) });
  expect((await cloudletA())?.traffic?.at).toBe(at);
  // Reports are checked like any other input.
  await expect(cA.call('controller.report', { at, nodes: nodes(8), traffic: { ...traffic, vis: [{ viId: 'vi-r1', reservationId: 'r1', in: { ...direction(1), pps: -1 }, out: direction(1) }] } })).rejects.toThrow(/pps/);
  await closeAll();
});

test('whether an active VI serves traffic (router flows installed) comes with its reservation and the topology, refreshed by every report', async () => {
  const config = testConfig({ slotMs: 1000, approval: { autoApprove: [], autoApproveAll: false } });
  const { r, ctl, op, id } = await activeReservation(config);
  expect((await op.call('reservation.get', { id })).routerFlows).toBeUndefined();
  const missing = { installed: false, detail: 'ovs bridge br0 at unix:/x/br0.mgmt: flows of vi-r-1#0 not installed: ovs-ofctl took longer than 5000 ms: is ovs-vswitchd running and answering?' };
  await ctl.call('controller.report', { at: Date.now(), nodes: nodes(8), routerFlows: [{ reservationId: id, ...missing }] });
  expect((await op.call('reservation.get', { id })).routerFlows).toEqual(missing);
  expect((await op.call('reservation.list', {})).reservations.find((x) => x.id === id)?.routerFlows).toEqual(missing);
  const cloudletA = async (token: string) => (await (await client(r, token)).call('topology.get', {})).cloudlets.find((c) => c.id === 'cA');
  expect((await cloudletA(tokens.operator))?.routerFlows).toEqual([{ reservationId: id, ...missing }]);
  // Providers see it on their own reservation, not the cloudlet's list of every tenant's.
  const p1 = await client(r, tokens.p1);
  expect((await p1.call('reservation.get', { id })).routerFlows).toEqual(missing);
  expect((await cloudletA(tokens.p1))?.routerFlows).toBeNull();
  // Restored: the next report says so; a report without the VI (it ended, or lost its rules) drops it.
  await ctl.call('controller.report', { at: Date.now(), nodes: nodes(8), routerFlows: [{ reservationId: id, installed: true, detail: 'ovs bridge br0: flows of 1 rule(s) installed' }] });
  expect((await op.call('reservation.get', { id })).routerFlows?.installed).toBe(true);
  await ctl.call('controller.report', { at: Date.now(), nodes: nodes(8), routerFlows: [] });
  expect((await op.call('reservation.get', { id })).routerFlows).toBeUndefined();
  await closeAll();
});
