import { describe, expect, test } from 'vitest';
import type { RpcClient } from '../protocol/client.ts';
import type { ControllerCommand } from '../protocol/domain.ts';
import { ErrorCode } from '../protocol/errors.ts';
import type { SchedulerApi, SchedulerEvent } from '../protocol/schedulerApi.ts';
import type { RunningScheduler } from './daemon.ts';
import { schedulerHarness } from '../../test/support/schedulerHarness.ts';
import { hour, request, tokens, type Answerer } from '../../test/support/schedulerFixtures.ts';

const { start, client } = schedulerHarness();

async function controller(r: RunningScheduler, token: string, answer: Answerer): Promise<{ client: RpcClient<SchedulerApi>; seen: ControllerCommand[] }> {
  const c = await client(r, token);
  await c.call('controller.hello', { controllerUrl: 'ws://127.0.0.1:1/controller' });
  const seen: ControllerCommand[] = [];
  await c.subscribe('controller.commands', {}, (cmd) => {
    seen.push(cmd);
    const a = answer(cmd);
    if (a !== 'silent') c.call('controller.answer', { commandId: cmd.commandId, ...a }).catch(() => undefined);
  });
  return { client: c, seen };
}

const accept: Answerer = () => ({ ok: true });
/** An hour-aligned slot starting `n` hours from now. */
const slotIn = (n: number): number => (Math.floor(Date.now() / hour) + n) * hour;

describe('providers', () => {
  test('request, approval, two-phase confirm and the charge', async () => {
    const r = await start();
    const ctl = await controller(r, tokens.cA, accept);
    const p1 = await client(r, tokens.p1);
    const op = await client(r, tokens.operator);
    const made = await p1.call('reservation.request', request(slotIn(2), slotIn(3), 2));
    expect(made).toMatchObject({ state: 'pending_approval', providerId: 'p1', cloudletId: 'cA' });
    expect((await op.call('reservation.list', { states: ['pending_approval'] })).reservations.map((x) => x.id)).toEqual([made.id]);
    const approved = await op.call('reservation.approve', { id: made.id });
    expect(approved.state).toBe('scheduled');
    expect(ctl.seen.map((c) => c.kind).slice(0, 1)).toEqual(['prepare']);
    const ledger = await p1.call('ledger.list', {});
    expect(ledger.entries).toEqual([expect.objectContaining({ kind: 'charge', amount: made.price, reservationId: made.id })]);
    const got = await p1.call('reservation.get', { id: made.id });
    expect(got.transitions?.map((t) => t.to)).toEqual(['requested', 'pending_approval', 'approved', 'confirming', 'scheduled']);
    const cancelled = await p1.call('reservation.cancel', { id: made.id, reason: 'plans changed' });
    expect(cancelled.refund).toBeGreaterThan(0);
    expect(cancelled.refund).toBeLessThanOrEqual(made.price);
    expect((await op.call('audit.verify', {})).ok).toBe(true);
  });

  test("a service's secret arguments (keys) go to the controller and come back redacted in every other answer", async () => {
    const r = await start();
    const ctl = await controller(r, tokens.cA, accept);
    const p1 = await client(r, tokens.p1);
    const op = await client(r, tokens.operator);
    const events: SchedulerEvent[] = [];
    await op.subscribe('scheduler.events', {}, (e) => events.push(e));
    const key = 'ab'.repeat(32);
    const args = { local: '198.18.51.1', remote: '198.18.52.1', 'spi-out': '4097', 'key-out': key, 'auth-out': key, 'spi-in': '4098', 'key-in': key, 'auth-in': key };
    const made = await p1.call('reservation.request', request(slotIn(2), slotIn(3), 1, { service: { mode: 'transparent', program: 'ipsec-tunnel', args, rules: [] } }));
    expect(made.service.args).toEqual({ ...args, 'key-out': '(redacted)', 'auth-out': '(redacted)', 'key-in': '(redacted)', 'auth-in': '(redacted)' });
    const approved = await op.call('reservation.approve', { id: made.id });
    const answers = [approved, await p1.call('reservation.get', { id: made.id }), await op.call('reservation.list', {}), ...events];
    for (const a of answers) expect(JSON.stringify(a)).not.toContain(key);
    expect(events.length).toBeGreaterThan(0);
    const prepare = ctl.seen.find((c) => c.kind === 'prepare');
    expect(prepare?.kind === 'prepare' && prepare.service.args['key-out']).toBe(key);
    const assigned = await ctl.client.call('controller.assignments', {});
    expect(assigned.reservations.find((x) => x.id === made.id)?.service.args['key-in']).toBe(key);
  });

  test('a provider sees and touches only its own reservations', async () => {
    const r = await start();
    const p1 = await client(r, tokens.p1);
    const p2 = await client(r, tokens.p2);
    const mine = await p1.call('reservation.request', request(slotIn(2), slotIn(3), 1));
    await expect(p2.call('reservation.get', { id: mine.id })).rejects.toMatchObject({ code: ErrorCode.NotFound });
    await expect(p2.call('reservation.cancel', { id: mine.id, reason: 'mischief' })).rejects.toMatchObject({ code: ErrorCode.NotFound });
    expect((await p2.call('reservation.list', {})).reservations).toEqual([]);
    expect((await p2.call('reservation.list', { providerId: 'p1' })).reservations).toEqual([]);
    await expect(p2.call('ledger.list', { providerId: 'p1' })).rejects.toMatchObject({ code: ErrorCode.Forbidden });
    await expect(p1.call('reservation.approve', { id: mine.id })).rejects.toMatchObject({ code: ErrorCode.Forbidden });
    await expect(p1.call('audit.list', {})).rejects.toMatchObject({ code: ErrorCode.Forbidden });
  });

  test('an invalid request is refused with the field and the reason', async () => {
    const r = await start();
    const p1 = await client(r, tokens.p1);
    await expect(p1.call('reservation.request', request(slotIn(3), slotIn(2), 1))).rejects.toMatchObject({ code: ErrorCode.InvalidParams, message: expect.stringMatching(/^params\.t1: .* must be after t0/) });
    const negative = request(slotIn(2), slotIn(3), -1);
    await expect(p1.call('reservation.request', negative)).rejects.toMatchObject({ code: ErrorCode.InvalidParams, message: expect.stringContaining('params.profile[0].capacity.cpu') });
  });

  test('events: a provider hears about its own reservations only', async () => {
    const r = await start();
    const p1 = await client(r, tokens.p1);
    const p2 = await client(r, tokens.p2);
    const viewer = await client(r, tokens.viewer);
    const seenBy = { p2: [] as SchedulerEvent[], viewer: [] as SchedulerEvent[] };
    await p2.subscribe('scheduler.events', {}, (e) => seenBy.p2.push(e));
    await viewer.subscribe('scheduler.events', {}, (e) => seenBy.viewer.push(e));
    await p1.call('reservation.request', request(slotIn(2), slotIn(3), 1));
    await new Promise((res) => setTimeout(res, 50));
    expect(seenBy.viewer.some((e) => e.kind === 'reservation' && e.reservation.providerId === 'p1')).toBe(true);
    expect(seenBy.p2).toEqual([]);
  });
});

describe('operators and viewers', () => {
  test('viewers read but may not change anything', async () => {
    const r = await start();
    const viewer = await client(r, tokens.viewer);
    const topo = await viewer.call('topology.get', {});
    expect(topo.cloudlets.map((c) => c.id)).toEqual(['cA', 'cC', 'cD']);
    await expect(viewer.call('reservation.request', request(slotIn(2), slotIn(3), 1))).rejects.toMatchObject({ code: ErrorCode.Forbidden });
    await expect(viewer.call('reservation.decline', { id: 'r-1', reason: 'x' })).rejects.toMatchObject({ code: ErrorCode.Forbidden });
    expect((await viewer.call('audit.verify', {})).ok).toBe(true);
  });

  test('an operator declines with a reason and the capacity is released', async () => {
    const r = await start();
    const p1 = await client(r, tokens.p1);
    const op = await client(r, tokens.operator);
    const a = await p1.call('reservation.request', request(slotIn(2), slotIn(3), 6));
    const declined = await op.call('reservation.decline', { id: a.id, reason: 'capacity kept for maintenance' });
    expect(declined).toMatchObject({ state: 'declined', reason: 'capacity kept for maintenance' });
    await expect(op.call('reservation.approve', { id: a.id })).rejects.toMatchObject({ code: ErrorCode.Conflict, message: expect.stringContaining('is declined') });
    const explained = await op.call('admission.explain', { request: request(slotIn(2), slotIn(3), 6), providerId: 'p2' });
    expect(explained.chosen?.cloudletId).toBe('cA');
  });

  test('a policy auto-approves the ISP\'s own requests', async () => {
    const r = await start({ approval: { autoApprove: ['isp'], autoApproveAll: false } });
    await controller(r, tokens.cA, accept);
    const isp = await client(r, tokens.isp);
    expect((await isp.call('reservation.request', request(slotIn(2), slotIn(3), 1))).state).toBe('scheduled');
  });
});

describe('controllers', () => {
  test('a refusal fails over to the next closest cloudlet', async () => {
    const r = await start({ approval: { autoApprove: [], autoApproveAll: true } });
    await controller(r, tokens.cA, (c) => (c.kind === 'prepare' ? { ok: false, reason: 'node a1 is being drained' } : { ok: true }));
    const c = await controller(r, tokens.cC, accept);
    const p1 = await client(r, tokens.p1);
    const made = await p1.call('reservation.request', request(slotIn(2), slotIn(3), 2));
    expect(made).toMatchObject({ state: 'scheduled', cloudletId: 'cC' });
    expect(c.seen.map((x) => x.kind)).toContain('prepare');
    const got = await p1.call('reservation.get', { id: made.id });
    expect(got.transitions?.some((t) => t.reason.includes('node a1 is being drained'))).toBe(true);
  });

  test('silence past the hold timeout counts as a refusal; no controller anywhere fails the request', async () => {
    const r = await start({ approval: { autoApprove: [], autoApproveAll: true } });
    await controller(r, tokens.cA, () => 'silent');
    const p1 = await client(r, tokens.p1);
    const made = await p1.call('reservation.request', request(slotIn(2), slotIn(3), 2));
    expect(made.state).toBe('failed');
    expect(made.reason).toMatch(/cD: the controller of cD is not connected/);
    const got = await p1.call('reservation.get', { id: made.id });
    expect(got.transitions?.some((t) => t.reason.includes('did not answer prepare within 300 ms'))).toBe(true);
  });

  test('a controller speaks only for its own cloudlet', async () => {
    const r = await start();
    const ctl = await client(r, tokens.cA);
    await expect(ctl.call('reservation.list', {})).rejects.toMatchObject({ code: ErrorCode.Forbidden });
    const report = { at: Date.now(), nodes: [{ nodeId: 'c1', total: { cpu: 8, memMiB: 1, diskGiB: 1, netMbps: 1 }, available: { cpu: 8, memMiB: 1, diskGiB: 1, netMbps: 1 }, health: 'up' as const }] };
    await expect(ctl.call('controller.report', report)).rejects.toMatchObject({ code: ErrorCode.InvalidParams, message: expect.stringContaining('"c1" is not a node of cloudlet cA') });
    expect(await ctl.call('controller.answer', { commandId: 'x-1', ok: true })).toEqual({ accepted: false });
  });

  test('reports keep a cloudlet healthy; when they stop it goes stale and is skipped', async () => {
    const r = await start({ reportIntervalMs: 100, staleAfterMs: 300 });
    const viewer = await client(r, tokens.viewer);
    const events: SchedulerEvent[] = [];
    await viewer.subscribe('scheduler.events', {}, (e) => events.push(e));
    const ctl = await client(r, tokens.cA);
    const cap = { cpu: 8, memMiB: 16384, diskGiB: 500, netMbps: 10_000 };
    await ctl.call('controller.report', { at: Date.now(), nodes: [{ nodeId: 'a1', total: cap, available: cap, health: 'up' }, { nodeId: 'a2', total: cap, available: cap, health: 'down' }] });
    let topo = await viewer.call('topology.get', {});
    expect(topo.cloudlets[0]).toMatchObject({ id: 'cA', status: 'healthy' });
    const p1 = await client(r, tokens.p1);
    const e = await p1.call('admission.explain', { request: request(slotIn(2), slotIn(3), 1) });
    expect(e.candidates[0]?.nodes.find((n) => n.nodeId === 'a2')?.reason).toMatch(/reported down/);
    await new Promise((res) => setTimeout(res, 800));
    topo = await viewer.call('topology.get', {});
    expect(topo.cloudlets[0]?.status).toBe('stale');
    expect(events.some((x) => x.kind === 'cloudlet' && x.cloudletId === 'cA' && x.status === 'stale')).toBe(true);
    const made = await p1.call('reservation.request', request(slotIn(2), slotIn(3), 1));
    expect(made.cloudletId).toBe('cC');
  });
});

describe('lifecycle', () => {
  test('the VI is started at t0 and stopped at t1 within a second; resizing a running VI is fined', async () => {
    const r = await start({ slotMs: 1000, approval: { autoApprove: [], autoApproveAll: true } });
    const ctl = await controller(r, tokens.cA, accept);
    const p1 = await client(r, tokens.p1);
    const t0 = Math.ceil(Date.now() / 1000) * 1000 + 1000;
    const t1 = t0 + 2000;
    const made = await p1.call('reservation.request', request(t0, t1, 4));
    expect(made.state).toBe('scheduled');
    await new Promise((res) => setTimeout(res, t0 - Date.now() + 300));
    expect((await p1.call('reservation.get', { id: made.id })).state).toBe('active');
    const shrunk = await p1.call('reservation.resize', { id: made.id, capacity: { cpu: 1, memMiB: 1024, diskGiB: 10, netMbps: 100 } });
    expect(shrunk.fine).toBeGreaterThan(0);
    expect(ctl.seen.map((c) => c.kind)).toEqual(['prepare', 'commit', 'start', 'resize']);
    await new Promise((res) => setTimeout(res, t1 - Date.now() + 1000));
    const ended = await p1.call('reservation.get', { id: made.id });
    expect(ended.state).toBe('expired');
    const expiredAt = ended.transitions?.at(-1)?.at ?? 0;
    expect(expiredAt - t1).toBeLessThan(1000);
    expect(ctl.seen.at(-1)).toMatchObject({ kind: 'stop', reason: 'expired' });
    const ledger = await p1.call('ledger.list', {});
    expect(ledger.entries.map((e) => e.kind).sort()).toEqual(['charge', 'fine']);
  });
});
