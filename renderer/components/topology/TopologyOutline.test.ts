import { createTestingPinia } from '@pinia/testing';
import { mount } from '@vue/test-utils';
import { setActivePinia } from 'pinia';
import { beforeEach, describe, expect, test, vi } from 'vitest';
import { elementIdOf } from '../../composables/topology/topologyModel.ts';
import { useTopologyStore } from '../../stores/topology.ts';
import { connected, deterlab, installFakeConsole, reservation } from '../../../test/support/consoleFakes.ts';
import TopologyOutline from './TopologyOutline.vue';

describe('topology outline', () => {
  beforeEach(() => {
    setActivePinia(createTestingPinia({ stubActions: false, createSpy: vi.fn }));
  });

  test('lists PoPs > cloudlets > nodes with their health in words, readable without the canvas', async () => {
    const fake = installFakeConsole();
    const t = deterlab();
    t.cloudlets[1] = { ...t.cloudlets[1]!, status: 'stale' };
    fake.setTopology(t);
    fake.setReservations([reservation('r1', 'C11', 'active')]);
    const store = useTopologyStore();
    await store.start();
    fake.pushConnection(connected);
    await fake.settle();
    const outline = mount(TopologyOutline);
    const r1 = outline.get('[data-testid=topology-item-R1]');
    expect(r1.get('[data-testid=topology-item-C1]').get('[data-testid=topology-item-C11]').text()).toContain('C11');
    expect(outline.get('[data-testid=topology-item-C11] .row').text()).toContain('up');
    expect(outline.get('[data-testid=topology-item-C21] .row').text()).toContain('stale');
    expect(outline.findAll('[data-kind=node]')).toHaveLength(6);
    // The DeterLab hosts are end points, not PoPs.
    expect(outline.get('[data-testid=topology-item-A] .kind').text()).toBe('host');
    expect(outline.get('[data-testid=topology-item-R1] .kind').text()).toBe('PoP');

    store.toggleOverlay('utilization');
    store.toggleOverlay('reservations');
    await outline.vm.$nextTick();
    expect(outline.get('[data-testid=topology-item-C11] [data-testid=overlay-text]').text()).toBe('cpu 25% reserved · 0% used · 1 active · 0 scheduled');

    await outline.get('[data-testid=topology-item-C12] button.item').trigger('click');
    expect(store.selectedId).toBe('node:C12');
    expect(outline.get('[data-testid=topology-item-C12] button.item').attributes('aria-current')).toBe('true');
    await store.stop();
  });

  test('lists the links with what the traffic overlay says and the class the canvas colours them by; a stale count is neither current nor coloured', async () => {
    const fake = installFakeConsole();
    const t = deterlab();
    const at = new Date(2026, 0, 5, 14, 3, 27).getTime();
    const capacityBps = (a: string, b: string): number => (t.links.find((l) => l.a === a && l.b === b)?.capacityMbps ?? 0) * 1e6;
    t.links = t.links.map((l) => {
      if (l.a === 'A' && l.b === 'R1') return { ...l, load: { a: 'A', b: 'R1', abBps: capacityBps('A', 'R1') * 0.9, baBps: 1000, periodSeconds: 2, at, measuredAt: 'R1', stale: false } };
      if (l.a === 'R2' && l.b === 'B') return { ...l, load: { a: 'R2', b: 'B', abBps: capacityBps('R2', 'B') * 0.9, baBps: 0, periodSeconds: 2, at, measuredAt: 'R2', stale: true } };
      return { ...l, load: { a: l.a, b: l.b, abBps: 16_000, baBps: 16_000, periodSeconds: 2, at, measuredAt: l.a, stale: false } };
    });
    fake.setTopology(t);
    const store = useTopologyStore();
    await store.start();
    fake.pushConnection(connected);
    await fake.settle();
    const outline = mount(TopologyOutline);
    const link = (a: string, b: string) => outline.get(`[data-testid=topology-link-${a}-${b}]`);
    expect(outline.findAll('[data-testid=topology-links] [data-kind=link]')).toHaveLength(t.links.length);
    // Without the traffic overlay: the links, drawn plain.
    expect(link('A', 'R1').attributes('data-classes')).toBe('link');
    store.toggleOverlay('traffic');
    await outline.vm.$nextTick();
    expect(link('A', 'R1').attributes('data-classes')).toBe('link traffic-high');
    expect(link('A', 'R1').get('[data-testid=overlay-text]').text()).toMatch(/\(90%\)$/);
    expect(link('A', 'R1').get('[data-testid=link-swatch]').classes()).toContain('traffic-high');
    expect(link('R1', 'R2').attributes('data-classes')).toBe('link traffic-low');
    // 90% when last counted, but stale: history, drawn grey and dotted.
    expect(link('R2', 'B').attributes('data-classes')).toBe('link traffic-stale');
    expect(link('R2', 'B').get('[data-testid=overlay-text]').text()).toBe('stale since 14:03:27');
    await link('R2', 'B').get('button.item').trigger('click');
    // Selecting a link here selects it on the canvas (and its detail: the stale count's time).
    expect(store.selectedId).toBe(elementIdOf.link({ a: 'R2', b: 'B' }));
    await store.stop();
  });
});
