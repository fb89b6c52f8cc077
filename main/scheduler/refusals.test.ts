/**
 * Refusals cost little to keep: a declined request is answered with its
 * reason but leaves only a counter row per provider, request shape and reason
 * kind (no reservation, transition or audit entry), and operators see the
 * counts with refusal.list (providers their own).
 */
import { describe, expect, test } from 'vitest';
import { ErrorCode } from '../protocol/errors.ts';
import type { RunningScheduler } from './daemon.ts';
import { schedulerHarness } from '../../test/support/schedulerHarness.ts';
import { hour, request, tokens } from '../../test/support/schedulerFixtures.ts';

const { start, client } = schedulerHarness();
/** An hour-aligned slot starting `n` hours from now. */
const slotIn = (n: number): number => (Math.floor(Date.now() / hour) + n) * hour;
const count = (r: RunningScheduler, table: string): number => {
  r.scheduler.store.flush();
  return (r.scheduler.store.db.prepare(`SELECT COUNT(*) AS n FROM ${table}`).get() as { n: number }).n;
};

describe('refusals', () => {
  test('a declined request says why, stores no reservation, and repeats bump one counter', async () => {
    const r = await start();
    const p1 = await client(r, tokens.p1);
    const op = await client(r, tokens.operator);
    const tables = { reservations: count(r, 'reservations'), transitions: count(r, 'transitions'), audit: count(r, 'audit') };

    // 7 cpu is more than any node offers tenants (8 minus the 25% share); 6 twice fills cA, then cC and cD are the next ones.
    const tooBig = await p1.call('reservation.request', request(slotIn(2), slotIn(3), 7));
    expect(tooBig).toMatchObject({ state: 'declined', providerId: 'p1', cloudletId: null, nodeId: null, paid: 0, reason: expect.stringContaining('largest node offers 6') });
    const again = await p1.call('reservation.request', request(slotIn(2), slotIn(3), 7));
    expect(again.id).toBe(tooBig.id);
    for (let i = 0; i < 4; i++) expect((await p1.call('reservation.request', request(slotIn(2), slotIn(3), 6))).state).toBe('pending_approval');
    const bookedOut = await p1.call('reservation.request', request(slotIn(2), slotIn(3), 6));
    expect(bookedOut).toMatchObject({ state: 'declined', reason: expect.stringMatching(/^no node can host the request: cpu does not fit/) });
    expect(bookedOut.id).not.toBe(tooBig.id);

    // Nothing of the refusals is a reservation: four admitted rows, their transitions and audit entries only.
    expect(count(r, 'reservations') - tables.reservations).toBe(4);
    expect(count(r, 'transitions') - tables.transitions).toBe(8);
    expect(count(r, 'audit') - tables.audit).toBe(8);
    await expect(op.call('reservation.get', { id: tooBig.id })).rejects.toMatchObject({ code: ErrorCode.NotFound });
    expect((await op.call('audit.verify', {})).ok).toBe(true);

    const { refusals } = await op.call('refusal.list', {});
    expect(refusals.map((x) => [x.id, x.kind, x.count])).toEqual([
      [bookedOut.id, 'booked-out:cpu', 1],
      [tooBig.id, 'larger-than-any-node:cpu', 2],
    ]);
    expect(refusals[1]).toMatchObject({ providerId: 'p1', shape: expect.stringContaining('cpu <= 8'), lastReason: tooBig.reason });
    expect(refusals[1]?.firstAt).toBeLessThanOrEqual(refusals[1]?.lastAt as number);
  });

  test('providers see only their own refusals', async () => {
    const r = await start();
    const p1 = await client(r, tokens.p1);
    const p2 = await client(r, tokens.p2);
    const viewer = await client(r, tokens.viewer);
    await p1.call('reservation.request', request(slotIn(2), slotIn(3), 7));
    await p2.call('reservation.request', request(slotIn(2), slotIn(3), 7));
    expect((await p2.call('refusal.list', {})).refusals.map((x) => x.providerId)).toEqual(['p2']);
    await expect(p2.call('refusal.list', { providerId: 'p1' })).rejects.toMatchObject({ code: ErrorCode.Forbidden });
    expect((await viewer.call('refusal.list', { providerId: 'p1' })).refusals.map((x) => x.providerId)).toEqual(['p1']);
    expect((await viewer.call('refusal.list', {})).refusals).toHaveLength(2);
  });

  test('the counters survive a restart', async () => {
    const first = await start();
    const database = first.scheduler.config.database;
    const p1 = await client(first, tokens.p1);
    const declined = await p1.call('reservation.request', request(slotIn(2), slotIn(3), 7));
    await first.close();
    const second = await start({ ...first.scheduler.config, database });
    await (await client(second, tokens.p1)).call('reservation.request', request(slotIn(2), slotIn(3), 7));
    const { refusals } = await (await client(second, tokens.operator)).call('refusal.list', {});
    expect(refusals).toMatchObject([{ id: declined.id, count: 2 }]);
  });
});
