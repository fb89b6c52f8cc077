import { mount } from '@vue/test-utils';
import { expect, test } from 'vitest';
import type { Reservation } from '../../../main/protocol/domain.ts';
import ReservationTimeline from './ReservationTimeline.vue';

const from = Date.UTC(2030, 0, 1, 0);
const hour = 3_600_000;
const r = (id: string, nodeId: string, t0: number, t1: number, state: Reservation['state'] = 'scheduled'): Reservation => ({
  id,
  providerId: 'p1',
  requestorPopId: 'A',
  preferredCloudletId: null,
  t0,
  t1,
  profile: [{ from: t0, to: t1, capacity: { cpu: 1, memMiB: 1, diskGiB: 1, netMbps: 1 } }],
  service: { mode: 'visible', program: 'monitor', args: {}, rules: [] },
  state,
  cloudletId: 'C1',
  nodeId,
  price: 1,
  paid: 1,
  createdAt: from,
  updatedAt: from,
  reason: '',
});

const rows = [
  { nodeId: 'C11', cloudletId: 'C1' },
  { nodeId: 'C12', cloudletId: 'C1' },
];

test('bars sit on their node, positioned and sized by time, clipped to the window', () => {
  const wrapper = mount(ReservationTimeline, {
    props: { rows, from, to: from + 10 * hour, reservations: [r('a', 'C11', from + 2 * hour, from + 4 * hour), r('b', 'C12', from - hour, from + hour), r('c', 'C12', from + 20 * hour, from + 21 * hour)] },
  });
  const a = wrapper.get('[data-node="C11"] [data-reservation="a"]');
  expect(a.attributes('style')).toContain('left: 20%');
  expect(a.attributes('style')).toContain('width: 20%');
  const b = wrapper.get('[data-node="C12"] [data-reservation="b"]');
  expect(b.attributes('style')).toContain('left: 0%');
  expect(b.attributes('style')).toContain('width: 10%');
  expect(wrapper.find('[data-reservation="c"]').exists()).toBe(false);
  // The state is written on the bar, not only coloured.
  expect(a.text()).toContain('scheduled');
});

test('selecting a bar emits its reservation id', async () => {
  const wrapper = mount(ReservationTimeline, { props: { rows, from, to: from + 10 * hour, reservations: [r('a', 'C11', from, from + hour)] } });
  await wrapper.get('[data-reservation="a"]').trigger('click');
  expect(wrapper.emitted('select')).toEqual([['a']]);
});

test('with no nodes it says what to do', () => {
  const wrapper = mount(ReservationTimeline, { props: { rows: [], from, to: from + hour, reservations: [] } });
  expect(wrapper.text()).toContain('connect to a scheduler first');
});

test('overlapping reservations on a node take separate lanes, none hidden under another', () => {
  const wrapper = mount(ReservationTimeline, {
    props: { rows, from, to: from + 10 * hour, reservations: [r('a', 'C11', from + hour, from + 5 * hour, 'active'), r('b', 'C11', from + 2 * hour, from + 3 * hour), r('c', 'C11', from + 6 * hour, from + 7 * hour)] },
  });
  const lane = (id: string) => wrapper.get(`[data-reservation="${id}"]`).attributes('data-lane');
  expect([lane('a'), lane('b'), lane('c')]).toEqual(['0', '1', '0']);
  expect(wrapper.get('[data-reservation="b"]').attributes('style')).toContain('top: 26px');
});

test('ended reservations are left out, or faded behind live ones when asked for', () => {
  const list = [r('dead', 'C11', from + hour, from + 2 * hour, 'failed'), r('live', 'C11', from + hour, from + 2 * hour, 'active')];
  const hidden = mount(ReservationTimeline, { props: { rows, from, to: from + 10 * hour, reservations: list } });
  expect(hidden.find('[data-reservation="dead"]').exists()).toBe(false);
  const shown = mount(ReservationTimeline, { props: { rows, from, to: from + 10 * hour, reservations: list, showEnded: true } });
  expect(shown.get('[data-reservation="dead"]').classes()).toContain('ended');
  expect(shown.get('[data-reservation="live"]').attributes('data-lane')).toBe('0');
  expect(shown.get('[data-reservation="dead"]').attributes('data-lane')).toBe('1');
});

test('ticks fall on round times and carry the date; bars have a full tooltip', () => {
  const start = from + 7 * 60_000;
  const wrapper = mount(ReservationTimeline, { props: { rows, from: start, to: start + 6 * hour, reservations: [r('a', 'C11', start, start + hour)] } });
  const ticks = wrapper.findAll('[data-testid=timeline-tick]').map((t) => t.text());
  expect(ticks.length).toBeGreaterThanOrEqual(4);
  expect(ticks[0]).toMatch(/^\d\d-\d\d \d\d:(00|30)$/);
  for (const t of ticks.slice(1)) expect(t).toMatch(/^(\d\d-\d\d )?\d\d:(00|30)$/);
  expect(wrapper.get('[data-reservation="a"]').attributes('title')).toMatch(/^a · p1 · scheduled · monitor · \d{4}-\d\d-\d\d \d\d:\d\d → /);
});
