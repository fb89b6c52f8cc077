/**
 * The group commit on a real SQLite file: a write set that breaks a
 * constraint is rolled back and refused alone; the other sets of its batch
 * commit, the audit chain stays whole, and nothing is reported fatal. A
 * failure that is not about the data still is.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import type { Reservation } from '../protocol/domain.ts';
import { AuditChain, systemActor, verifyChain } from './audit.ts';
import { Store, WriteSetRefused } from './store.ts';

function reservation(id: string): Reservation {
  return {
    id,
    providerId: 'p1',
    requestorPopId: 'A',
    preferredCloudletId: null,
    t0: 60_000,
    t1: 120_000,
    profile: [{ from: 60_000, to: 120_000, capacity: { cpu: 1, memMiB: 1, diskGiB: 1, netMbps: 1 } }],
    service: { mode: 'transparent', program: 'monitor', args: {}, rules: [] },
    state: 'pending_approval',
    cloudletId: 'cA',
    nodeId: 'a1',
    price: 1,
    paid: 0,
    createdAt: 0,
    updatedAt: 0,
    reason: 'test',
  };
}

function openStore(): { store: Store; fatal: Error[] } {
  const fatal: Error[] = [];
  const store = new Store(join(mkdtempSync(join(tmpdir(), 'pcloud-store-')), 'scheduler.sqlite'), { onFatal: (e) => fatal.push(e) });
  return { store, fatal };
}

describe('group commit', () => {
  test('a set that breaks a constraint is refused alone; the rest of its batch commits and the audit chain stays whole', async () => {
    const { store, fatal } = openStore();
    const chain = new AuditChain(undefined);
    const set = (id: string, clientRequestId: string) =>
      store
        .begin()
        .transition(id, { at: 1, from: null, to: 'pending_approval', actor: 'test', reason: 'requested' })
        .audit(chain.next(1, systemActor, 'reservation.requested', id, 'test'))
        .insertReservation(reservation(id), clientRequestId)
        .holds(id, 'a1', false, reservation(id).profile, true);
    // The second reuses the first's client request id (a unique index): all three land in one batch.
    const outcomes = await Promise.allSettled([store.commit(set('r-1', 'same')), store.commit(set('r-2', 'same')), store.commit(set('r-3', 'other'))]);
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    const refused = (outcomes[1] as PromiseRejectedResult).reason as Error;
    expect(refused).toBeInstanceOf(WriteSetRefused);
    expect(refused.message).toMatch(/UNIQUE constraint failed: reservations\.provider_id, reservations\.client_request_id/);
    expect(store.stats).toMatchObject({ transactions: 1, sets: 2, refused: 1 });
    expect(fatal).toEqual([]);
    expect(store.reservation('r-1')?.state).toBe('pending_approval');
    expect(store.reservation('r-2')).toBeUndefined();
    expect(store.reservation('r-3')?.state).toBe('pending_approval');
    expect(store.transitions('r-2')).toEqual([]);
    expect(store.holdsOf('r-2')).toEqual([]);
    // r-3's entry is chained onto r-2's: the refused set's audit entry is kept so the chain verifies.
    expect(verifyChain((after, limit) => store.auditAfter(after, limit))).toMatchObject({ ok: true, entries: 3 });
    // And the store keeps working.
    await store.commit(set('r-4', 'fourth'));
    expect(store.reservation('r-4')).toBeDefined();
    store.close();
  });

  test('a failure that is not about the data (here: a write that throws) is still fatal', async () => {
    const { store, fatal } = openStore();
    const broken = store.begin();
    broken.ops.push(() => {
      throw new Error('disk on fire');
    });
    await expect(store.commit(broken)).rejects.toThrow(/group commit of 1 write sets failed: disk on fire/);
    expect(fatal.map((e) => e.message)).toEqual(['group commit of 1 write sets failed: disk on fire']);
    store.close();
  });

  test('after close, a late change is refused with a clear error instead of touching a closed database', async () => {
    const { store, fatal } = openStore();
    store.close();
    await expect(store.commit(store.begin().ledger({ at: 1, providerId: 'p1', reservationId: 'r-1', kind: 'charge', amount: 1, note: 'late' }))).rejects.toThrow(/is closed: the change was not recorded/);
    expect(fatal).toEqual([]);
  });
});
