import { createTestingPinia } from '@pinia/testing';
import { flushPromises, mount } from '@vue/test-utils';
import { setActivePinia } from 'pinia';
import { beforeEach, expect, test, vi } from 'vitest';
import { setApiForTests, type ConsoleBridge } from '../../api/index.ts';
import { reservation } from '../../../test/support/consoleFakes.ts';
import PendingRequestCard from './PendingRequestCard.vue';

beforeEach(() => {
  setActivePinia(createTestingPinia({ stubActions: false, createSpy: vi.fn }));
  setApiForTests({
    scheduler: { call: vi.fn(async () => ({ decision: 'admitted', reason: 'start time is in 3 min; closest cloudlet', price: 1, candidates: [], chosen: null, headroom: null })) },
  } as unknown as ConsoleBridge);
});

test('a pending request counts down to its start time, and says "start time", never "t0"', async () => {
  const r = { ...reservation('r-7', 'C11', 'pending_approval'), t0: Date.now() + 3 * 60_000 + 30_000, t1: Date.now() + 3_600_000 };
  const card = mount(PendingRequestCard, { props: { reservation: r, currency: 'EUR' } });
  await flushPromises();
  const countdown = card.get('[data-testid=pending-countdown]');
  expect(countdown.text()).toMatch(/^▲ Expires in [34] min unless approved \(start time \d{4}-\d\d-\d\d \d\d:\d\d\)$/);
  expect(countdown.classes()).toContain('urgent');
  expect(card.text()).not.toMatch(/\bt0\b/);
  card.unmount();
});

test('once the start time has passed the card says so', async () => {
  const r = { ...reservation('r-8', 'C11', 'pending_approval'), t0: Date.now() - 1000 };
  const card = mount(PendingRequestCard, { props: { reservation: r, currency: 'EUR' } });
  await flushPromises();
  expect(card.get('[data-testid=pending-countdown]').text()).toContain('has passed: it expires unless approved now');
  card.unmount();
});
