import { createTestingPinia } from '@pinia/testing';
import { mount } from '@vue/test-utils';
import { setActivePinia } from 'pinia';
import { beforeEach, describe, expect, test, vi } from 'vitest';
import { useTopologyStore } from '../../stores/topology.ts';
import { connected, deterlab, installFakeConsole, nodeView, reservation } from '../../../test/support/consoleFakes.ts';
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
    expect(panel.find('[data-testid=section-reservations]').text()).toContain('1 active · 1 scheduled');
    expect(panel.find('[data-testid=section-reservations]').text()).toContain('r1');
    expect(panel.find('[data-testid=section-utilization]').exists()).toBe(false);
    await store.stop();
  });

  test('turning the utilization overlay on adds its section, with every resource', async () => {
    const store = await storeWithDeterlab();
    store.toggleOverlay('utilization');
    const panel = panelFor(store, 'node:C11');
    const reserved = panel.findAll('[data-testid=section-utilization] tr.reserved').map((r) => r.text());
    const measured = panel.findAll('[data-testid=section-utilization] tr.measured').map((r) => r.text());
    expect(reserved).toHaveLength(4);
    expect(measured).toHaveLength(4);
    expect(reserved[0]).toContain('reserved');
    expect(reserved[0]).toContain('2 of 8 cores (25%)');
    expect(reserved[1]).toContain('0 of 16384 MiB (0%)');
    expect(measured[0]).toContain('measured');
    expect(measured[2]).toContain('not measured');
    await store.stop();
  });

  test('a host is called a host, and overlays with nothing to say about it add no empty heading', async () => {
    const store = await storeWithDeterlab();
    const panel = panelFor(store, 'pop:A');
    expect(panel.get('h2').text()).toBe('Host A');
    expect(panel.findAll('h3').map((h) => h.text())).toEqual([]);
    await store.stop();
  });

  test('a PoP lists its cloudlets and links; choosing one selects it', async () => {
    const store = await storeWithDeterlab();
    const panel = panelFor(store, 'pop:R1');
    expect(panel.get('h2').text()).toBe('PoP Router R1');
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

describe('topology detail panel on a down node', () => {
  beforeEach(() => {
    setActivePinia(createTestingPinia({ stubActions: false, createSpy: vi.fn }));
  });

  test('a down node reads "node down" per resource, never 100% reserved', async () => {
    const fake = installFakeConsole();
    const t = deterlab();
    const down = nodeView('C13', 'C1', 0, 'down');
    down.reported!.available = { cpu: 0, memMiB: 0, diskGiB: 0, netMbps: 0 };
    t.cloudlets[0]!.nodes[2] = down;
    fake.setTopology(t);
    const store = useTopologyStore();
    await store.start();
    fake.pushConnection(connected);
    await fake.settle();
    store.toggleOverlay('utilization');
    const panel = panelFor(store, 'node:C13');
    const section = panel.get('[data-testid=section-utilization]').text();
    expect(section).toContain('node down');
    expect(section).not.toContain('100%');
    await store.stop();
  });

  test("a link's traffic section says since when a stale count is, and gives its last rates as history", async () => {
    const fake = installFakeConsole();
    const t = deterlab();
    const at = new Date(2026, 0, 5, 14, 3, 27).getTime();
    t.links = t.links.map((l) => (l.a === 'R1' && l.b === 'R2' ? { ...l, load: { a: 'R1', b: 'R2', abBps: 9e8, baBps: 2e6, periodSeconds: 2, at, measuredAt: 'R1', stale: true } } : l));
    fake.setTopology(t);
    const store = useTopologyStore();
    await store.start();
    fake.pushConnection(connected);
    await fake.settle();
    store.toggleOverlay('traffic');
    const panel = panelFor(store, 'link:R1~R2');
    const text = panel.get('[data-testid=section-traffic] [data-testid=link-load]').text();
    expect(text).toContain('Stale since 14:03:27: no report has counted this link since then');
    expect(text).toContain('Last counted: R1 → R2 900.0 Mbit/s · R2 → R1 2.00 Mbit/s');
    // No share of the capacity: a stale load says nothing of how full the link is now.
    expect(panel.get('[data-testid=section-traffic]').text()).not.toContain('%');
    await store.stop();
  });
});
