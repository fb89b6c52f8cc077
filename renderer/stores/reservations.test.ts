import { createTestingPinia } from '@pinia/testing';
import { setActivePinia } from 'pinia';
import { beforeEach, describe, expect, test, vi } from 'vitest';
import type { Reservation } from '../../main/protocol/domain.ts';
import { setApiForTests, type ConsoleBridge } from '../api/index.ts';
import { nextTick } from 'vue';
import { useConnectionStore } from './connection.ts';
import { useReservationsStore } from './reservations.ts';

const base = Date.UTC(2030, 0, 1, 8);
function reservation(id: string, over: Partial<Reservation> = {}): Reservation {
  return {
    id,
    providerId: 'p1',
    requestorPopId: 'A',
    preferredCloudletId: null,
    t0: base,
    t1: base + 3_600_000,
    profile: [{ from: base, to: base + 3_600_000, capacity: { cpu: 1, memMiB: 512, diskGiB: 1, netMbps: 10 } }],
    service: { mode: 'transparent', program: 'monitor', args: {}, rules: [] },
    state: 'pending_approval',
    cloudletId: 'C1',
    nodeId: 'C11',
    price: 1,
    paid: 0,
    createdAt: base - 1000,
    updatedAt: base - 1000,
    reason: '',
    ...over,
  };
}

/** A fake scheduler behind the console relay: records calls, answers from `answers`, lets tests push events. */
function fakeScheduler(answers: Record<string, (params: unknown) => unknown>) {
  const calls: { method: string; params: unknown }[] = [];
  let push: (event: unknown) => void = () => undefined;
  setApiForTests({
    scheduler: {
      call: vi.fn(async ({ method, params }: { method: string; params: unknown }) => {
        calls.push({ method, params });
        const answer = answers[method];
        if (!answer) throw new Error(`unexpected ${method}`);
        return answer(params);
      }),
    },
    subscribe: vi.fn(async (_topic: string, _params: unknown, onItem: (item: unknown) => void) => {
      push = onItem;
      return async () => undefined;
    }),
  } as unknown as ConsoleBridge);
  return { calls, push: (e: unknown) => push(e) };
}

describe('reservations store', () => {
  beforeEach(() => setActivePinia(createTestingPinia({ stubActions: false, createSpy: vi.fn })));

  test('loads, splits pending, active and past, and follows events', async () => {
    const sched = fakeScheduler({
      'reservation.list': () => ({ reservations: [reservation('r1'), reservation('r2', { state: 'active' }), reservation('r3', { state: 'declined' })] }),
      'scheduler.info': () => ({ currency: 'CHF' }),
    });
    const store = useReservationsStore();
    await store.load();
    expect(store.pending.map((r) => r.id)).toEqual(['r1']);
    expect(store.active.map((r) => r.id)).toEqual(['r2']);
    expect(store.past.map((r) => r.id)).toEqual(['r3']);
    expect(store.currency).toBe('CHF');
    sched.push({ kind: 'reservation', at: base, reservation: reservation('r1', { state: 'scheduled' }) });
    expect(store.pending).toEqual([]);
    expect(store.active.map((r) => r.id).sort()).toEqual(['r1', 'r2']);
  });

  test('filters by words across fields and sorts by a column, toggling direction', async () => {
    fakeScheduler({
      'reservation.list': () => ({
        reservations: [
          reservation('r1', { state: 'active', providerId: 'acme', t0: base + 2 }),
          reservation('r2', { state: 'scheduled', providerId: 'zeta', nodeId: 'C21', t0: base + 1 }),
          reservation('r3', { state: 'active', providerId: 'acme', nodeId: 'C21', t0: base + 3 }),
        ],
      }),
      'scheduler.info': () => ({ currency: 'EUR' }),
    });
    const store = useReservationsStore();
    await store.load();
    expect(store.active.map((r) => r.id)).toEqual(['r2', 'r1', 'r3']);
    store.sortBy('t0');
    expect(store.active.map((r) => r.id)).toEqual(['r3', 'r1', 'r2']);
    store.filterText = 'acme c21';
    expect(store.active.map((r) => r.id)).toEqual(['r3']);
  });

  test('decline sends the reason and applies the answer; a refusal is shown', async () => {
    const sched = fakeScheduler({
      'reservation.list': () => ({ reservations: [reservation('r1')] }),
      'scheduler.info': () => ({ currency: 'EUR' }),
      'reservation.decline': (p) => reservation((p as { id: string }).id, { state: 'declined', reason: (p as { reason: string }).reason }),
      'reservation.approve': () => {
        throw new Error('reservation r1 is declined [rpc -32007]');
      },
    });
    const store = useReservationsStore();
    await store.load();
    await store.decline('r1', 'prefix not verified');
    expect(sched.calls.at(-1)).toEqual({ method: 'reservation.decline', params: { id: 'r1', reason: 'prefix not verified' } });
    expect(store.byId.get('r1')?.state).toBe('declined');
    await store.approve('r1');
    expect(store.error).toBe('Approve failed: reservation r1 is declined');
  });

  test('a quote that cannot be given comes back as the reason', async () => {
    fakeScheduler({
      'reservation.quote': () => {
        throw new Error('cannot resize r1 on node C11: cpu needs 99 but only 6 is free [rpc -32007]');
      },
    });
    const store = useReservationsStore();
    expect(await store.quote('r1', { action: 'resize', capacity: { cpu: 99, memMiB: 1, diskGiB: 1, netMbps: 1 } })).toMatch(/^Not possible: cannot resize r1.*cpu needs 99/);
  });

  test('the admission analysis is fetched once per reservation', async () => {
    const sched = fakeScheduler({ 'admission.explain': () => ({ decision: 'admitted', reason: 'closest', price: 2 }) });
    const store = useReservationsStore();
    await store.explain('r1');
    await store.explain('r1');
    expect(sched.calls.filter((c) => c.method === 'admission.explain')).toHaveLength(1);
  });

  test('switching to another lab empties the lists at once, before the new one is connected', async () => {
    fakeScheduler({
      'reservation.list': () => ({ reservations: [reservation('r5'), reservation('r6', { state: 'active' })] }),
      'scheduler.info': () => ({ currency: 'EUR' }),
    });
    const connection = useConnectionStore();
    connection.apply({ kind: 'lab', name: 'deterlab', schedulerUrl: 'ws://127.0.0.1:1', state: 'connected', message: '', progress: null });
    const store = useReservationsStore();
    await store.load();
    expect(store.pending.map((r) => r.id)).toEqual(['r5']);
    connection.apply({ kind: 'lab', name: 'globalwan', schedulerUrl: null, state: 'starting', message: 'stopping the deterlab lab', progress: null });
    await nextTick();
    expect(store.pending).toEqual([]);
    expect(store.active).toEqual([]);
  });

  test('what would end with the lab is counted by asking the scheduler', async () => {
    const sched = fakeScheduler({ 'reservation.list': () => ({ reservations: [reservation('r1'), reservation('r2', { state: 'active' }), reservation('r3', { state: 'scheduled' })] }) });
    const store = useReservationsStore();
    expect(await store.openCounts()).toEqual({ pending: 1, active: 2 });
    expect(sched.calls[0]?.params).toMatchObject({ states: expect.arrayContaining(['pending_approval', 'active', 'scheduled']) });
  });

  test('a request that arrives by event is announced; one already loaded is not', async () => {
    const sched = fakeScheduler({ 'reservation.list': () => ({ reservations: [reservation('r1')] }), 'scheduler.info': () => ({ currency: 'EUR' }) });
    const store = useReservationsStore();
    await store.load();
    expect(store.arrived).toBeUndefined();
    sched.push({ kind: 'reservation', at: base, reservation: reservation('r1') });
    expect(store.arrived).toBeUndefined();
    sched.push({ kind: 'reservation', at: base, reservation: reservation('r9') });
    expect(store.arrived?.id).toBe('r9');
  });

  test('a reservation that fails after approval is announced; a declined request or one loaded already failed is not', async () => {
    const sched = fakeScheduler({ 'reservation.list': () => ({ reservations: [reservation('r1', { state: 'scheduled' }), reservation('r2'), reservation('r3', { state: 'failed' })] }), 'scheduler.info': () => ({ currency: 'EUR' }) });
    const store = useReservationsStore();
    await store.load();
    expect(store.failedAfterApproval).toBeUndefined();
    sched.push({ kind: 'reservation', at: base, reservation: reservation('r2', { state: 'declined' }) });
    sched.push({ kind: 'reservation', at: base, reservation: reservation('r3', { state: 'failed' }) });
    expect(store.failedAfterApproval).toBeUndefined();
    sched.push({ kind: 'reservation', at: base, reservation: reservation('r1', { state: 'failed', reason: 'start failed: node n1 is down' }) });
    expect(store.failedAfterApproval).toMatchObject({ id: 'r1', reason: 'start failed: node n1 is down' });
  });
});
