/**
 * Changes to one reservation that arrive together, in-process on a real
 * SQLite file with fake controllers: each change sees the result of the one
 * before (no double refund, no cancelled reservation left holding, no decline
 * undone by an approve), a change waits for a controller round trip in
 * progress instead of being refused, a lifecycle instant that comes due
 * meanwhile is not lost, and a resize frees capacity only once the
 * controller and the store have it.
 */
import { afterEach, describe, expect, test } from 'vitest';
import type { Profile, Reservation } from '../protocol/domain.ts';
import { ErrorCode } from '../protocol/errors.ts';
import { systemActor } from './audit.ts';
import type { SchedulerConfigInput } from './config.ts';
import { coveringProfile } from '../protocol/profile.ts';
import { Scheduler } from './scheduler.ts';
import { attachController, hour, invariantProblems, node, request, testConfig, type Answerer } from '../../test/support/schedulerFixtures.ts';

const open: Scheduler[] = [];
const fatal: Error[] = [];
afterEach(() => {
  for (const s of open.splice(0)) s.close();
  expect(fatal.splice(0)).toEqual([]);
});

function scheduler(overrides: Partial<SchedulerConfigInput> = {}): Scheduler {
  const s = new Scheduler(testConfig(overrides), { log: () => undefined, onFatal: (e) => fatal.push(e) });
  open.push(s);
  return s;
}

const slotIn = (n: number): number => (Math.floor(Date.now() / hour) + n) * hour;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const conflict = { code: ErrorCode.Conflict };

async function until<T>(what: string, check: () => T | undefined, timeoutMs = 10_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = check();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

function ledgerSum(s: Scheduler, id: string): number {
  s.store.flush();
  return s.store.ledger({ reservationId: id, limit: 100 }).balance;
}

describe('changes to one reservation arriving together', () => {
  test('two cancels back to back refund once', async () => {
    const s = scheduler({ approval: { autoApprove: ['p1'], autoApproveAll: false } });
    attachController(s, 'cA');
    const made = await s.request('p1', request(slotIn(3), slotIn(4), 2), systemActor);
    expect(made.state).toBe('scheduled');
    const [first, second] = await Promise.allSettled([s.cancel(made.id, systemActor, 'first'), s.cancel(made.id, systemActor, 'second')]);
    expect(first).toMatchObject({ status: 'fulfilled', value: { reservation: { state: 'cancelled' } } });
    expect(second).toMatchObject({ status: 'rejected', reason: { ...conflict, message: expect.stringContaining('is cancelled') } });
    const refund = (first as PromiseFulfilledResult<{ refund: number }>).value.refund;
    expect(refund).toBeGreaterThan(0);
    const ledger = s.store.ledger({ reservationId: made.id, limit: 10 }).entries.map((e) => e.kind).sort();
    expect(ledger).toEqual(['charge', 'refund']);
    expect(s.get(made.id).paid).toBeCloseTo(ledgerSum(s, made.id), 6);
    expect(invariantProblems(s)).toEqual([]);
  });

  test('cancel then resize: the reservation ends cancelled and holds nothing', async () => {
    const s = scheduler();
    const made = await s.request('p1', request(slotIn(3), slotIn(4), 2), systemActor);
    const [cancel, resize] = await Promise.allSettled([s.cancel(made.id, systemActor, 'plans changed'), s.resize(made.id, node(4), undefined, systemActor, 'grow')]);
    expect(cancel.status).toBe('fulfilled');
    expect(resize).toMatchObject({ status: 'rejected', reason: conflict });
    expect(s.get(made.id).state).toBe('cancelled');
    expect(s.index.holdOf(made.id)).toBeUndefined();
    expect(s.store.holdsOf(made.id)).toEqual([]);
    expect(invariantProblems(s)).toEqual([]);
  });

  test('decline then approve: the reservation stays declined and its node is free', async () => {
    const s = scheduler();
    attachController(s, 'cA');
    const made = await s.request('p1', request(slotIn(3), slotIn(4), 6), systemActor);
    const [decline, approve] = await Promise.allSettled([s.decline(made.id, systemActor, 'no'), s.approve(made.id, systemActor, 'yes')]);
    expect(decline.status).toBe('fulfilled');
    expect(approve).toMatchObject({ status: 'rejected', reason: conflict });
    expect(s.get(made.id)).toMatchObject({ state: 'declined', paid: 0 });
    // The node's 6 tenant cores are free again: another 6 fit on it.
    const again = await s.request('p2', request(slotIn(3), slotIn(4), 6, { preferredCloudletId: 'cA' }), systemActor);
    expect(again.nodeId).toBe(made.nodeId);
    expect(invariantProblems(s)).toEqual([]);
  });

  test('a cancel while the controller is asked to confirm waits for the answer, then cancels what was confirmed', async () => {
    const s = scheduler();
    attachController(s, 'cA', () => ({ ok: true }), 150);
    const made = await s.request('p1', request(slotIn(3), slotIn(4), 2), systemActor);
    const approving = s.approve(made.id, systemActor, 'ok');
    await until('confirming', () => (s.get(made.id, false).state === 'confirming' ? true : undefined));
    const cancelled = await s.cancel(made.id, systemActor, 'changed my mind');
    expect((await approving).state).toBe('scheduled');
    expect(cancelled.reservation.state).toBe('cancelled');
    expect(s.get(made.id).transitions?.map((t) => t.to)).toEqual(['requested', 'pending_approval', 'approved', 'confirming', 'scheduled', 'cancelled']);
    expect(s.get(made.id).paid).toBeCloseTo(ledgerSum(s, made.id), 6);
    expect(invariantProblems(s)).toEqual([]);
  });
});

describe('lifecycle instants that come due during a change', () => {
  test('t1 passing while a resize of the running VI waits on its controller still ends the reservation', async () => {
    const s = scheduler({ slotMs: 1000, holdTimeoutMs: 3000, approval: { autoApprove: [], autoApproveAll: true } });
    const t0 = Math.ceil(Date.now() / 1000) * 1000 + 1000;
    const t1 = t0 + 2000;
    // The resize is answered only after t1 has passed.
    const seen = attachController(s, 'cA', () => ({ ok: true }), (c) => (c.kind === 'resize' ? Math.max(0, t1 - Date.now()) + 400 : 0));
    s.start();
    const made = await s.request('p1', request(t0, t1, 2), systemActor);
    await until('active', () => (s.get(made.id, false).state === 'active' ? true : undefined));
    await sleep(Math.max(0, t1 - 600 - Date.now()));
    const resized = await s.resize(made.id, node(1, 1024, 10, 100), Math.floor(Date.now() / 1000) * 1000, systemActor, 'shrink at the end');
    expect(resized.fine).toBeGreaterThan(0);
    const ended = await until('expired', () => {
      const r = s.get(made.id, false);
      return r.state === 'active' ? undefined : r;
    });
    expect(ended.state).toBe('expired');
    expect(seen.map((c) => c.kind)).toEqual(['prepare', 'commit', 'start', 'resize', 'stop']);
    expect(invariantProblems(s)).toEqual([]);
  });
});

/** One node with 8 cores, 6 of them for tenants (ISP share 25%). */
const oneNode: Partial<SchedulerConfigInput> = {
  slotMs: 1000,
  holdTimeoutMs: 600,
  approval: { autoApprove: [], autoApproveAll: true },
  topology: { pops: [{ id: 'A' }], links: [], cloudlets: [{ id: 'cA', popId: 'A', nodes: [{ id: 'a1', capacity: node(8) }] }] },
};

/** A reservation of `cpu` cores on a1, running from the next second for a minute, its controller silent on resizes. */
async function running(s: Scheduler, cpu: number): Promise<Reservation> {
  const silentOnResize: Answerer = (c) => (c.kind === 'resize' ? 'silent' : { ok: true });
  attachController(s, 'cA', silentOnResize);
  s.start();
  const t0 = Math.ceil(Date.now() / 1000) * 1000 + 1000;
  const made = await s.request('p1', request(t0, t0 + 60_000, cpu), systemActor);
  return until('active', () => {
    const r = s.get(made.id, false);
    return r.state === 'active' ? r : undefined;
  });
}

describe('resize while the controller is asked', () => {
  test('capacity a shrink frees is not offered to others until the controller answers; a timeout restores the old profile without overbooking', async () => {
    const s = scheduler(oneNode);
    const r1 = await running(s, 6);
    const from = Math.ceil(Date.now() / 1000) * 1000 + 1000;
    const shrinking = s.resize(r1.id, node(2, 1024, 10, 100), from, systemActor, 'shrink');
    // A quote meanwhile looks without disturbing what is held.
    expect(s.quote(r1.id, { action: 'resize', capacity: node(1, 1024, 10, 100), from }).fine).toBeGreaterThan(0);
    // Meanwhile another provider asks for 4 of the 4 cores the shrink would free.
    const other = await s.request('p2', request(from, from + 10_000, 4), systemActor);
    expect(other.state).toBe('declined');
    await expect(shrinking).rejects.toMatchObject({ ...conflict, message: expect.stringContaining('did not answer resize within 600 ms') });
    expect(s.get(r1.id).profile).toEqual(r1.profile);
    expect(s.index.holdOf(r1.id)?.profile).toEqual(r1.profile);
    expect(invariantProblems(s)).toEqual([]);
  });

  test('a restart during the wait trusts neither profile alone: it holds the larger of both until the controller confirms the stored one', async () => {
    const config = testConfig({ ...oneNode, holdTimeoutMs: 5000 });
    const first = new Scheduler(config, { log: () => undefined, onFatal: (e) => fatal.push(e) });
    const r1 = await running(first, 2);
    const from = Math.ceil(Date.now() / 1000) * 1000 + 1000;
    const growing = first.resize(r1.id, node(5, 1024, 10, 100), from, systemActor, 'grow').catch((e: Error) => e);
    const grown: Profile = [...r1.profile.filter((x) => x.from < from).map((x) => ({ ...x, to: from })), { from, to: r1.t1, capacity: node(5, 1024, 10, 100) }];
    const covering = coveringProfile(r1.profile, grown);
    await until('the covering holds are durable', () => (first.store.holdsOf(r1.id).some((h) => h.cpu === 5) ? true : undefined));

    // The scheduler "dies" here: a second one opens the same database while the first still waits.
    const second = new Scheduler(config, { log: () => undefined, onFatal: (e) => fatal.push(e) });
    open.push(second);
    expect(second.index.holdOf(r1.id)?.profile).toEqual(covering);
    expect(second.get(r1.id).profile).toEqual(r1.profile);
    first.close();
    expect(await growing).toBeInstanceOf(Error);

    // Nothing else may take the cores the grow might be using.
    expect((await second.request('p2', request(from, from + 10_000, 2), systemActor)).state).toBe('declined');
    const seen = attachController(second, 'cA');
    second.start();
    await until('the stored profile settled', () => (sameHolds(second, r1) ? true : undefined));
    expect(seen.filter((c) => c.kind === 'resize').map((c) => c.kind === 'resize' && c.profile)).toEqual([r1.profile]);
    expect(second.index.holdOf(r1.id)?.profile).toEqual(r1.profile);
    expect(invariantProblems(second)).toEqual([]);
  });
});

function sameHolds(s: Scheduler, r: Reservation): boolean {
  const rows = s.store.holdsOf(r.id);
  return rows.length === r.profile.length && rows.every((h, i) => h.cpu === r.profile[i]?.capacity.cpu && h.from_ms === r.profile[i]?.from);
}

describe('after a restart', () => {
  test('a reservation left confirming waits for its controller to reconnect, then confirms there', async () => {
    const config = testConfig({ holdTimeoutMs: 5000, reconnectWaitMs: 10_000, approval: { autoApprove: [], autoApproveAll: true } });
    const first = new Scheduler(config, { log: () => undefined, onFatal: (e) => fatal.push(e) });
    attachController(first, 'cA', () => 'silent');
    const requesting = first.request('p1', request(slotIn(3), slotIn(4), 2), systemActor).catch((e: Error) => e);
    const id = await until('confirming', () => {
      first.store.flush();
      return first.store.listReservations({ states: ['confirming'], limit: 1 })[0]?.id;
    });

    const second = new Scheduler(config, { log: () => undefined, onFatal: (e) => fatal.push(e) });
    open.push(second);
    first.close();
    await requesting;
    second.start();
    await sleep(300);
    expect(second.get(id, false).state).toBe('confirming');
    const seen = attachController(second, 'cA');
    const r = await until('scheduled', () => {
      const x = second.get(id, false);
      return x.state === 'confirming' ? undefined : x;
    });
    expect(r).toMatchObject({ state: 'scheduled', cloudletId: 'cA' });
    expect(seen.map((c) => c.kind)).toEqual(['prepare', 'commit']);
    expect(invariantProblems(second)).toEqual([]);
  });
});
