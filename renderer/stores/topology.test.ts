import { createTestingPinia } from '@pinia/testing';
import { mount } from '@vue/test-utils';
import { setActivePinia } from 'pinia';
import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import type { NodeSingular } from 'cytoscape';
import { defineComponent, h, ref } from 'vue';
import { useTopologyGraph, type TopologyGraph } from '../composables/topology/useTopologyGraph.ts';
import { useTopologyStore } from './topology.ts';
import { at, cloudletView, connected, deterlab, installFakeConsole, nodeView, reservation, viView, type FakeConsole } from '../../test/support/consoleFakes.ts';

async function loaded(fake: FakeConsole): Promise<ReturnType<typeof useTopologyStore>> {
  const store = useTopologyStore();
  await store.start();
  fake.pushConnection(connected);
  await fake.settle();
  return store;
}

/** Mounts the graph composable headless, as the canvas would, and returns it. */
async function headlessGraph(): Promise<{ graph: TopologyGraph; unmount: () => void }> {
  let graph: TopologyGraph | undefined;
  const wrapper = mount(
    defineComponent({
      setup() {
        graph = useTopologyGraph(ref(), { headless: true });
        return () => h('div');
      },
    }),
  );
  await new Promise((r) => setTimeout(r, 0));
  if (!graph) throw new Error('graph not created');
  return { graph, unmount: () => wrapper.unmount() };
}

const positionOf = (graph: TopologyGraph, id: string) => ({ ...graph.cy.value!.getElementById(id).position() });

describe('topology store', () => {
  beforeEach(() => {
    setActivePinia(createTestingPinia({ stubActions: false, createSpy: vi.fn }));
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  test('when the connection says connected, it loads saved positions, the topology and holding reservations', async () => {
    const fake = installFakeConsole({ positions: { 'pop:A': { x: 5, y: 6 } } });
    fake.setReservations([reservation('r1', 'C11', 'active')]);
    const store = await loaded(fake);
    expect(store.phase).toBe('ready');
    expect(store.topologyKey).toBe('deterlab');
    expect(fake.api.layoutGet).toHaveBeenCalledWith({ topology: 'deterlab' });
    expect(fake.api.schedulerCall).toHaveBeenCalledWith({ method: 'reservation.list', params: expect.objectContaining({ states: expect.arrayContaining(['active', 'scheduled', 'pending_approval']) }) });
    expect(store.savedPositions).toEqual({ 'pop:A': { x: 5, y: 6 } });
    expect([...store.index.items.keys()]).toEqual(expect.arrayContaining(['pop:R1', 'cloudlet:C1', 'node:C11', 'link:R1~R2']));
    expect(store.reservationCounts.get('C11')).toEqual({ active: 1, scheduled: 0, pending: 0 });
    await store.stop();
  });

  test('a cloudlet event updates its status in place, and the graph keeps every position', async () => {
    const fake = installFakeConsole();
    const store = await loaded(fake);
    const { graph, unmount } = await headlessGraph();
    const cy = graph.cy.value!;
    expect(cy.getElementById('node:C21').nonempty()).toBe(true);
    // The operator drags a node somewhere of their own.
    cy.getElementById('node:C21').position({ x: 999, y: -333 });
    const before = Object.fromEntries(cy.nodes().filter((n) => !n.isParent()).map((n) => [n.id(), { ...(n as NodeSingular).position() }]));
    fake.pushEvent({ kind: 'cloudlet', at, cloudletId: 'C2', status: 'stale', connected: false });
    await fake.settle();
    expect(store.index.items.get('cloudlet:C2')).toMatchObject({ cloudlet: { status: 'stale', connected: false } });
    expect(cy.getElementById('node:C21').hasClass('health-stale')).toBe(true);
    expect(cy.getElementById('node:C21').data('label')).toContain('stale');
    const after = Object.fromEntries(cy.nodes().filter((n) => !n.isParent()).map((n) => [n.id(), { ...(n as NodeSingular).position() }]));
    expect(after).toEqual(before);
    expect(positionOf(graph, 'node:C21')).toEqual({ x: 999, y: -333 });
    unmount();
    await store.stop();
  });

  test('a node that appears later is placed beside its cloudlet without moving the others', async () => {
    const fake = installFakeConsole();
    const store = await loaded(fake);
    const { graph, unmount } = await headlessGraph();
    const c13 = positionOf(graph, 'node:C13');
    const r1 = positionOf(graph, 'pop:R1');
    const grown = deterlab();
    grown.cloudlets[0]!.nodes.push(nodeView('C14', 'C1'));
    grown.pops.push({ id: 'R3', name: 'Router R3' });
    grown.links.push({ a: 'R2', b: 'R3', rttMs: 3, capacityMbps: 10_000 });
    grown.cloudlets.push(cloudletView('C3', 'R3', ['C31']));
    fake.setTopology(grown);
    await store.refresh();
    await fake.settle();
    expect(positionOf(graph, 'node:C13')).toEqual(c13);
    expect(positionOf(graph, 'pop:R1')).toEqual(r1);
    const c14 = positionOf(graph, 'node:C14');
    expect(Math.hypot(c14.x - c13.x, c14.y - c13.y)).toBeLessThan(300);
    const r2 = positionOf(graph, 'pop:R2');
    const r3 = positionOf(graph, 'pop:R3');
    expect(Math.hypot(r3.x - r2.x, r3.y - r2.y)).toBeLessThan(600);
    expect(graph.cy.value!.getElementById('node:C31').parent().first().id()).toBe('cloudlet:C3');
    unmount();
    await store.stop();
  });

  test('saved positions are used on load, and the graph labels links with RTT and capacity', async () => {
    const fake = installFakeConsole({ positions: { 'pop:B': { x: -4000, y: 77 }, 'node:C22': { x: 10, y: 20 } } });
    const store = await loaded(fake);
    const { graph, unmount } = await headlessGraph();
    expect(positionOf(graph, 'pop:B')).toEqual({ x: -4000, y: 77 });
    expect(positionOf(graph, 'node:C22')).toEqual({ x: 10, y: 20 });
    expect(graph.cy.value!.getElementById('link:R1~R2').data('label')).toBe('0.4 ms · 1 Gb/s');
    expect(graph.cy.value!.getElementById('node:C11').parent().first().id()).toBe('cloudlet:C1');
    unmount();
    await store.stop();
  });

  test('reservation events move counts between buckets and drop finished reservations', async () => {
    const fake = installFakeConsole();
    fake.setReservations([reservation('r1', 'C11', 'pending_approval')]);
    const store = await loaded(fake);
    expect(store.reservationCounts.get('C11')).toEqual({ active: 0, scheduled: 0, pending: 1 });
    fake.pushEvent({ kind: 'reservation', at, reservation: reservation('r1', 'C11', 'scheduled') });
    expect(store.reservationCounts.get('C11')).toEqual({ active: 0, scheduled: 1, pending: 0 });
    fake.pushEvent({ kind: 'reservation', at, reservation: reservation('r2', 'C12', 'active') });
    expect(store.reservationCounts.get('C12')).toEqual({ active: 1, scheduled: 0, pending: 0 });
    fake.pushEvent({ kind: 'reservation', at, reservation: reservation('r1', 'C11', 'cancelled') });
    expect(store.reservationCounts.get('C11')).toBeUndefined();
    await store.stop();
  });

  test('missed events cause a fresh snapshot and are counted', async () => {
    const fake = installFakeConsole();
    const store = await loaded(fake);
    fake.setReservations([reservation('r9', 'C23', 'active')]);
    fake.pushEvent({ kind: 'reservation', at, reservation: reservation('r8', 'C21', 'active') }, 12);
    await fake.settle();
    expect(store.eventsLost).toBe(12);
    expect(store.reservations.has('r9')).toBe(true);
    await store.stop();
  });

  test('moved positions are saved once per burst, under the topology key', async () => {
    const fake = installFakeConsole();
    const store = await loaded(fake);
    vi.useFakeTimers();
    store.recordPositions({ 'node:C11': { x: 1, y: 2 } });
    store.recordPositions({ 'node:C12': { x: 3, y: 4 } });
    expect(fake.api.layoutSave).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(1000);
    expect(fake.api.layoutSave).toHaveBeenCalledTimes(1);
    expect(fake.api.layoutSave).toHaveBeenCalledWith({ topology: 'deterlab', positions: { 'node:C11': { x: 1, y: 2 }, 'node:C12': { x: 3, y: 4 } } });
    expect(store.savedPositions['node:C12']).toEqual({ x: 3, y: 4 });
    vi.useRealTimers();
    await store.stop();
  });

  test('a failed load says which step failed and what to try; retry recovers', async () => {
    const fake = installFakeConsole({ failTopology: 'scheduler did not answer in 10 s' });
    const store = await loaded(fake);
    expect(store.phase).toBe('error');
    expect(store.error).toBe('Could not load the topology while loading topology: scheduler did not answer in 10 s. Check the connection, then press Retry.');
    const good = installFakeConsole();
    good.setTopology(deterlab());
    await store.load();
    expect(store.phase).toBe('ready');
    await store.stop();
  });

  test('losing the connection shows connecting, and a stopped connection clears the topology', async () => {
    const fake = installFakeConsole();
    const store = await loaded(fake);
    fake.pushConnection({ ...connected, state: 'reconnecting', message: 'scheduler went away; retrying' });
    await fake.settle();
    expect(store.phase).toBe('connecting');
    expect(store.topology).toBeDefined();
    fake.pushConnection({ ...connected, kind: 'none', name: '', state: 'idle', message: '' });
    await fake.settle();
    expect(store.phase).toBe('disconnected');
    expect(store.topology).toBeUndefined();
    await store.stop();
  });

  test('selecting an unknown element selects nothing; VIs from a controller join their node', async () => {
    const fake = installFakeConsole();
    const store = await loaded(fake);
    store.select('node:nope');
    expect(store.selected).toBeUndefined();
    store.setVis('C1', [{ id: 'vi-7', nodeId: 'C11', cloudletId: 'C1', reservationId: 'r1', state: 'running', program: 'ids', usage: null }]);
    store.select('vi:vi-7');
    expect(store.selected).toMatchObject({ kind: 'vi', id: 'vi-7' });
    expect(store.index.visByNode.get('C11')).toHaveLength(1);
    store.setVis('C1', []);
    expect(store.index.visByNode.get('C11')).toBeUndefined();
    await store.stop();
  });

  test('VIs come from each cloudlet controller and follow its vi.events; stopped ones leave the graph', async () => {
    const fake = installFakeConsole();
    fake.setVis('C1', [viView('vi-1', 'C11', 'running')]);
    const store = await loaded(fake);
    await fake.settle();
    const { graph, unmount } = await headlessGraph();
    expect(store.index.visByNode.get('C11')?.map((v) => v.id)).toEqual(['vi-1']);
    expect(graph.cy.value!.getElementById('vi:vi-1').parent().first().id()).toBe('node:C11');
    fake.pushViEvent('C1', { at, from: null, vi: viView('vi-2', 'C12', 'starting', 'cache') });
    await fake.settle();
    expect(store.index.items.get('vi:vi-2')).toMatchObject({ kind: 'vi', label: 'vi-2 (cache)' });
    fake.pushViEvent('C1', { at, from: 'running', vi: viView('vi-1', 'C11', 'stopped') });
    await fake.settle();
    expect(store.index.items.has('vi:vi-1')).toBe(false);
    expect(graph.cy.value!.getElementById('vi:vi-1').empty()).toBe(true);
    unmount();
    await store.stop();
  });

  test('a big topology starts with cloudlets collapsed; selecting a node inside opens only its cloudlet, in place', async () => {
    const fake = installFakeConsole();
    const pops = Array.from({ length: 400 }, (_, i) => ({ id: `p${i}`, name: `PoP ${i}` }));
    fake.setTopology({
      pops,
      links: pops.slice(1).map((p, i) => ({ a: `p${i}`, b: p.id, rttMs: 2, capacityMbps: 10_000 })),
      cloudlets: pops.map((p, i) => cloudletView(`c${i}`, p.id, [`n${i}-1`, `n${i}-2`, `n${i}-3`])),
    });
    const store = await loaded(fake);
    const { graph, unmount } = await headlessGraph();
    const cy = graph.cy.value!;
    expect(graph.large.value).toBe(true);
    expect(cy.nodes('.node')).toHaveLength(0);
    const c7 = cy.getElementById('cloudlet:c7');
    expect(c7.hasClass('collapsed')).toBe(true);
    expect(c7.data('label')).toContain('c7 · 3 nodes');
    const c7At = { ...(c7 as unknown as NodeSingular).position() };
    const p3 = positionOf(graph, 'pop:p3');
    store.select('node:n7-2');
    await fake.settle();
    expect(cy.getElementById('node:n7-2').parent().first().id()).toBe('cloudlet:c7');
    expect(cy.getElementById('node:n7-2').selected()).toBe(true);
    expect(cy.getElementById('cloudlet:c7').hasClass('collapsed')).toBe(false);
    expect(cy.nodes('.node')).toHaveLength(3);
    const n72 = positionOf(graph, 'node:n7-2');
    expect(Math.hypot(n72.x - c7At.x, n72.y - c7At.y)).toBeLessThan(150);
    expect(positionOf(graph, 'pop:p3')).toEqual(p3);
    unmount();
    await store.stop();
  });

  test('a reservation becoming active fetches fresh node reports shortly after, once per burst', async () => {
    const fake = installFakeConsole();
    const store = await loaded(fake);
    vi.useFakeTimers();
    const calls = () => fake.api.schedulerCall.mock.calls.filter(([c]) => (c as { method: string }).method === 'topology.get').length;
    const before = calls();
    fake.pushEvent({ kind: 'reservation', at, reservation: reservation('r1', 'C11', 'active') });
    fake.pushEvent({ kind: 'reservation', at, reservation: reservation('r2', 'C12', 'active') });
    await vi.advanceTimersByTimeAsync(2500);
    expect(calls()).toBe(before + 1);
    vi.useRealTimers();
    await store.stop();
  });

  test('switching to another lab forgets the old topology, reservations and selection at once', async () => {
    const fake = installFakeConsole();
    fake.setReservations([reservation('r1', 'C11', 'pending_approval')]);
    const store = await loaded(fake);
    store.select('node:C11');
    fake.pushConnection({ ...connected, name: 'globalwan', schedulerUrl: null, state: 'starting', message: 'stopping the deterlab lab' });
    await fake.settle();
    expect(store.phase).toBe('connecting');
    expect(store.topology).toBeUndefined();
    expect(store.reservations.size).toBe(0);
    expect(store.selectedId).toBeUndefined();
    await store.stop();
  });
});
