import { createTestingPinia } from '@pinia/testing';
import { mount } from '@vue/test-utils';
import { setActivePinia } from 'pinia';
import { beforeEach, describe, expect, test, vi } from 'vitest';
import { useTopologyStore } from '../../stores/topology.ts';
import { connected, installFakeConsole, reservation } from '../../../test/support/consoleFakes.ts';
import TopologyDetailPanel from './TopologyDetailPanel.vue';

async function storeWithDeterlab() {
  const fake = installFakeConsole();
  fake.setReservations([reservation('r1', 'C11', 'active'), reservation('r2', 'C11', 'scheduled')]);
  const store = useTopologyStore();
  await store.start();
  fake.pushConnection(connected);
  await fake.settle();
  return store;
}

function panelFor(store: ReturnType<typeof useTopologyStore>, elementId: string) {
  store.select(elementId);
  return mount(TopologyDetailPanel, { props: { item: store.selected! } });
}

describe('topology detail panel', () => {
  beforeEach(() => {
    setActivePinia(createTestingPinia({ stubActions: false, createSpy: vi.fn }));
  });

  test('a node shows its place, capacity and one section per active overlay', async () => {
    const store = await storeWithDeterlab();
    store.toggleOverlay('reservations');
    const panel = panelFor(store, 'node:C11');
    expect(panel.get('h2').text()).toBe('Computation node C11');
    expect(panel.text()).toContain('R1 › C1 › C11');
    expect(panel.text()).toContain('8 cores · 16384 MiB · 250 GiB · 1 Gb/s');
    expect(panel.find('[data-testid=section-health]').text()).toContain('up');
    expect(panel.find('[data-testid=section-reservations]').text()).toContain('1 active · 1 sched');
    expect(panel.find('[data-testid=section-reservations]').text()).toContain('r1');
    expect(panel.find('[data-testid=section-utilization]').exists()).toBe(false);
    await store.stop();
  });

  test('turning the utilization overlay on adds its section, with every resource', async () => {
    const store = await storeWithDeterlab();
    store.toggleOverlay('utilization');
    const panel = panelFor(store, 'node:C11');
    const rows = panel.findAll('[data-testid=section-utilization] tr').map((r) => r.text());
    expect(rows).toHaveLength(4);
    expect(rows[0]).toContain('25% used');
    await store.stop();
  });

  test('a PoP lists its cloudlets and links; choosing one selects it', async () => {
    const store = await storeWithDeterlab();
    const panel = panelFor(store, 'pop:R1');
    expect(panel.text()).toContain('to A 0.2 ms · 1 Gb/s');
    expect(panel.text()).toContain('to R2 0.4 ms · 1 Gb/s');
    await panel.findAll('button').find((b) => b.text() === 'C1')!.trigger('click');
    expect(store.selectedId).toBe('cloudlet:C1');
    await store.stop();
  });

  test('closing the panel (button or Escape) clears the selection', async () => {
    const store = await storeWithDeterlab();
    let panel = panelFor(store, 'link:R1~R2');
    expect(panel.text()).toContain('0.4 ms');
    await panel.get('[data-testid=side-panel-close]').trigger('click');
    expect(store.selectedId).toBeUndefined();
    panel = panelFor(store, 'cloudlet:C2');
    await panel.get('aside').trigger('keydown', { key: 'Escape' });
    expect(store.selectedId).toBeUndefined();
    await store.stop();
  });
});
