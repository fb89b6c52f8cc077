import { createTestingPinia } from '@pinia/testing';
import { mount } from '@vue/test-utils';
import { setActivePinia } from 'pinia';
import { beforeEach, describe, expect, test, vi } from 'vitest';
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
});
