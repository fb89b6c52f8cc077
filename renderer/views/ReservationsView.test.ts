import { createTestingPinia } from '@pinia/testing';
import { flushPromises, mount } from '@vue/test-utils';
import { setActivePinia } from 'pinia';
import { beforeEach, describe, expect, test, vi } from 'vitest';
import type { Reservation } from '../../main/protocol/domain.ts';
import { setApiForTests, type ConsoleBridge } from '../api/index.ts';
import { connected, deterlab, reservation } from '../../test/support/consoleFakes.ts';
import { useConnectionStore } from '../stores/connection.ts';
import ReservationsView from './ReservationsView.vue';

/** A scheduler behind the relay with `list` as its reservations; records every call. */
function fakeScheduler(list: Reservation[], answers: Record<string, (p: Record<string, unknown>) => unknown> = {}) {
  const calls: { method: string; params: Record<string, unknown> }[] = [];
  setApiForTests({
    scheduler: {
      call: vi.fn(async ({ method, params }: { method: string; params: Record<string, unknown> }) => {
        calls.push({ method, params });
        if (answers[method]) return answers[method](params);
        if (method === 'reservation.list') return { reservations: structuredClone(list) };
        if (method === 'scheduler.info') return { currency: 'EUR' };
        if (method === 'topology.get') return deterlab();
        if (method === 'admission.explain') return { decision: 'admitted', reason: 'closest cloudlet', price: 1, candidates: [], chosen: null, headroom: null };
        if (method === 'reservation.get') return { ...list[0], transitions: [] };
        throw new Error(`unexpected ${method}`);
      }),
    },
    subscribe: vi.fn(async () => async () => undefined),
  } as unknown as ConsoleBridge);
  return calls;
}

async function mountView() {
  useConnectionStore().apply(connected);
  const view = mount(ReservationsView, { attachTo: document.body });
  await flushPromises();
  return view;
}

describe('reservations view', () => {
  beforeEach(() => setActivePinia(createTestingPinia({ stubActions: false, createSpy: vi.fn })));

  test('approve waits 5 s with an undo, like decline, then says what happened', async () => {
    const calls = fakeScheduler([reservation('r-5', 'C11', 'pending_approval')], { 'reservation.approve': (p) => reservation(p.id as string, 'C11', 'scheduled') });
    const view = await mountView();
    await view.get('[data-reservation="r-5"] [data-testid=approve]').trigger('click');
    await flushPromises();
    expect(view.get('[data-testid=undo-toast]').text()).toContain('Approving r-5 in 5 s');
    expect(calls.some((c) => c.method === 'reservation.approve')).toBe(false);
    await view.get('[data-testid=undo]').trigger('click');
    await flushPromises();
    expect(view.find('[data-testid=undo-toast]').exists()).toBe(false);
    await view.get('[data-reservation="r-5"] [data-testid=approve]').trigger('click');
    await flushPromises();
    await view.get('[data-testid=undo-toast] .now').trigger('click');
    await flushPromises();
    expect(calls.filter((c) => c.method === 'reservation.approve')).toHaveLength(1);
    expect(view.get('[data-testid=action-notice]').text()).toContain('Approved r-5: now scheduled.');
    view.unmount();
  });

  test('a resize says what it cost, or why it was refused', async () => {
    const r = reservation('r-4', 'C11', 'active');
    fakeScheduler([r], {
      'reservation.quote': () => ({ charge: 1.5, refund: 0, fine: 0 }),
      'reservation.resize': () => {
        throw new Error('cannot resize r-4 on node C11: cpu needs 99 but only 6 is free [rpc -32007]');
      },
    });
    const view = await mountView();
    await view.get('[data-testid=tab-active]').trigger('click');
    await view.get('[data-testid="resize-r-4"]').trigger('click');
    await flushPromises();
    await view.get('[data-testid=confirm-reason]').setValue('more traffic');
    await view.get('[data-testid=confirm-ok]').trigger('click');
    await flushPromises();
    expect(view.get('[data-testid=action-notice]').text()).toContain('Resize failed: cannot resize r-4 on node C11');
    view.unmount();
  });

  test('cancelling a reservation that already started says that is why there is no refund', async () => {
    const r = { ...reservation('r-4', 'C11', 'active'), t0: Date.now() - 60_000, t1: Date.now() + 3_600_000 };
    fakeScheduler([r], { 'reservation.quote': () => ({ charge: 0, refund: 0, fine: 0 }) });
    const view = await mountView();
    await view.get('[data-testid=tab-active]').trigger('click');
    await view.get('[data-testid="cancel-r-4"]').trigger('click');
    await flushPromises();
    expect(view.get('[data-testid=confirm-consequence]').text()).toMatch(/^No refund: it started at \d{4}-\d\d-\d\d \d\d:\d\d, and a started reservation is not refunded\.$/);
    view.unmount();
  });
});
