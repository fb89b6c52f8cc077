import { describe, expect, test } from 'vitest';
import { indexTopology, type TopologyItem } from '../../../composables/topology/topologyModel.ts';
import { cloudletView, deterlab, nodeView, reservation } from '../../../../test/support/consoleFakes.ts';
import { healthOf } from '../../../composables/topology/health.ts';
import { healthOverlay } from './healthOverlay.ts';
import { overlays } from './overlayRegistry.ts';
import { countReservations, countsOf, reservationsByNode } from '../../../composables/topology/reservationCounts.ts';
import { reservationsOverlay } from './reservationsOverlay.ts';
import type { OverlayContext } from '../../../composables/topology/topologyOverlay.ts';
import { bandOf, cloudletReading, nodeReading } from '../../../composables/topology/utilization.ts';
import { utilizationOverlay } from './utilizationOverlay.ts';
import { trafficOverlay } from './trafficOverlay.ts';
import { formatBps } from '../../../composables/topology/trafficLoad.ts';

function item(elementId: string, topology = deterlab()): TopologyItem {
  const found = indexTopology(topology, new Map()).items.get(elementId);
  if (!found) throw new Error(`no ${elementId}`);
  return found;
}

const ctx = (over: Partial<OverlayContext> = {}): OverlayContext => ({ reservationCounts: new Map(), reservationsByNode: new Map(), utilizationResource: 'cpu', visByNode: new Map(), openAlarms: new Map(), ...over });

describe('health overlay', () => {
  test('a node reports its own health while its cloudlet is fresh', () => {
    const t = deterlab();
    t.cloudlets[0]!.nodes[1] = nodeView('C12', 'C1', 2, 'degraded');
    t.cloudlets[0]!.nodes[2] = nodeView('C13', 'C1', 2, 'down');
    expect(healthOf(item('node:C11', t))?.level).toBe('up');
    expect(healthOf(item('node:C12', t))?.level).toBe('degraded');
    expect(healthOf(item('node:C13', t))?.level).toBe('down');
  });

  test('nodes of a stale cloudlet are stale, whatever they last reported', () => {
    const t = deterlab();
    t.cloudlets[1] = cloudletView('C2', 'R2', ['C21'], { status: 'stale' });
    expect(healthOf(item('node:C21', t))).toEqual({ level: 'stale', reason: 'cloudlet C2 has not reported recently' });
  });

  test('a node without a report is unknown; a cloudlet without its controller is down', () => {
    const t = deterlab();
    t.cloudlets[1] = cloudletView('C2', 'R2', ['C21'], { status: 'unknown', connected: false });
    t.cloudlets[1].nodes[0]!.reported = null;
    expect(healthOf(item('node:C21', t))?.level).toBe('unknown');
    expect(healthOf(item('cloudlet:C2', t))?.level).toBe('down');
  });

  test('every level but up adds a label line with a symbol and a word, so colour is never alone', () => {
    const t = deterlab();
    t.cloudlets[0]!.nodes[0] = nodeView('C11', 'C1', 2, 'down');
    expect(healthOverlay.decorate(item('node:C11', t), ctx())).toEqual({ classes: ['health-down'], line: '■ down' });
    expect(healthOverlay.decorate(item('node:C12', t), ctx())).toEqual({ classes: ['health-up'] });
    expect(healthOverlay.decorate(item('pop:R1', t), ctx())).toBeUndefined();
  });
});

describe('utilization overlay', () => {
  const vi = (id: string, nodeId: string, cpuCores: number, memMiB: number) => ({ id, nodeId, cloudletId: 'C1', reservationId: null, state: 'running', program: 'ids', usage: { cpuCores, memMiB } });

  test('reserved is total - available as reported; measured is what the VIs on the node use', () => {
    const t = deterlab();
    t.cloudlets[0]!.nodes = [nodeView('C11', 'C1', 2), nodeView('C12', 'C1', 6)];
    const c11 = t.cloudlets[0]!.nodes[0]!;
    expect(nodeReading(c11, 'cpu', [vi('v1', 'C11', 0.5, 300)])).toEqual({ total: 8, reserved: 2, measured: 0.5, down: false });
    expect(nodeReading(c11, 'memMiB', [])).toEqual({ total: 16384, reserved: 0, measured: 0, down: false });
    // Disk and network are not measured.
    expect(nodeReading(c11, 'diskGiB', [vi('v1', 'C11', 0.5, 300)]).measured).toBeNull();
    expect(cloudletReading(t.cloudlets[0]!, 'cpu')).toMatchObject({ total: 16, reserved: 8 });
  });

  test('the label says reserved and used apart, and the band class follows the reserved share', () => {
    const t = deterlab();
    t.cloudlets[0]!.nodes[0] = nodeView('C11', 'C1', 7);
    const visByNode = new Map([['C11', [vi('v1', 'C11', 1, 512)]]]);
    expect(utilizationOverlay.decorate(item('node:C11', t), ctx({ visByNode }))).toEqual({ classes: ['util-high'], line: 'cpu 88% reserved · 13% used' });
    expect(utilizationOverlay.decorate(item('node:C11', t), ctx({ utilizationResource: 'netMbps', visByNode }))).toEqual({ classes: ['util-low'], line: 'net 0% reserved' });
    expect([bandOf(null), bandOf(0.49), bandOf(0.5), bandOf(0.8)]).toEqual(['none', 'low', 'mid', 'high']);
  });

  test('a node that has not reported says n/a rather than 0%', () => {
    const t = deterlab();
    t.cloudlets[0]!.nodes[0]!.reported = null;
    expect(utilizationOverlay.decorate(item('node:C11', t), ctx())).toEqual({ classes: ['util-none'], line: 'cpu n/a' });
  });

  test('a node reported down is drawn as down, not full, and does not raise its cloudlet', () => {
    const t = deterlab();
    // The controller reports a down node with nothing available.
    const down = nodeView('C13', 'C1', 0, 'down');
    down.reported!.available = { cpu: 0, memMiB: 0, diskGiB: 0, netMbps: 0 };
    t.cloudlets[0]!.nodes[2] = down;
    expect(utilizationOverlay.decorate(item('node:C13', t), ctx())).toEqual({ classes: ['util-down'], line: 'cpu: node down' });
    // C11 and C12 reserve 2 of 8 cores each: 25%, whatever C13 says.
    expect(utilizationOverlay.decorate(item('cloudlet:C1', t), ctx())).toEqual({ classes: ['util-low'], line: 'cpu 25% reserved · 0% used' });
  });
});

describe('reservations overlay', () => {
  const list = [
    reservation('r1', 'C11', 'active'),
    reservation('r2', 'C11', 'scheduled'),
    reservation('r3', 'C11', 'confirming'),
    reservation('r4', 'C12', 'pending_approval'),
    reservation('r5', 'C12', 'expired'),
    { ...reservation('r6', 'C13', 'requested'), nodeId: null },
  ];

  test('counts active, scheduled and pending per node, ignoring finished and unplaced ones', () => {
    const counts = countReservations(reservationsByNode(list));
    expect(counts.get('C11')).toEqual({ active: 1, scheduled: 2, pending: 0 });
    expect(counts.get('C12')).toEqual({ active: 0, scheduled: 0, pending: 1 });
    expect(counts.has('C13')).toBe(false);
  });

  test('a cloudlet sums its nodes; the label says the counts in words', () => {
    const counts = countReservations(reservationsByNode(list));
    expect(countsOf(item('cloudlet:C1'), counts)).toEqual({ active: 1, scheduled: 2, pending: 1 });
    expect(reservationsOverlay.decorate(item('node:C11'), ctx({ reservationCounts: counts }))).toEqual({ classes: ['resv-active'], line: '1 active · 2 scheduled' });
    expect(reservationsOverlay.decorate(item('node:C12'), ctx({ reservationCounts: counts }))).toEqual({ classes: ['resv-some'], line: '0 active · 0 scheduled · 1 pending' });
    expect(reservationsOverlay.decorate(item('node:C13'), ctx({ reservationCounts: counts }))).toEqual({ classes: ['resv-none'] });
  });
});

describe('traffic overlay', () => {
  const vi = (id: string, nodeId: string, inBps: number | null, netMbps = 10) => ({
    id,
    nodeId,
    cloudletId: 'C1',
    reservationId: null,
    state: 'running',
    program: 'forward',
    usage: null,
    netMbps,
    ...(inBps === null ? {} : { traffic: { inPps: inBps / 8000, outPps: inBps / 8000, inBps, outBps: inBps } }),
  });

  test('a VI is coloured by its port rate against its reserved network capacity; alarms add a badge', () => {
    const busy = vi('vi-a', 'C11', 4e6);
    const t = deterlab();
    const visByNode = new Map([['C11', [busy, vi('vi-b', 'C11', 1e5), vi('vi-c', 'C11', null)]]]);
    const viItem = indexTopology(t, visByNode).items.get('vi:vi-a') as TopologyItem;
    // 4 Mbit/s in + 4 out of a 10 Mbit/s reservation: 80 %, the top band.
    expect(trafficOverlay.decorate(viItem, ctx({ visByNode }))).toEqual({ classes: ['traffic-high'], line: '8.00 Mbit/s (80%)' });
    expect(trafficOverlay.decorate(viItem, ctx({ visByNode, openAlarms: new Map([['vi-a', 2]]) }))).toEqual({ classes: ['traffic-high', 'traffic-alarm'], line: '⚠ 2 · 8.00 Mbit/s (80%)' });
    const quiet = indexTopology(t, visByNode).items.get('vi:vi-c') as TopologyItem;
    expect(trafficOverlay.decorate(quiet, ctx({ visByNode }))).toEqual({ classes: ['traffic-idle'], line: 'no port traffic' });
  });

  test('a node and its cloudlet sum their VIs against installed capacity', () => {
    const t = deterlab();
    const visByNode = new Map([['C11', [vi('vi-a', 'C11', 4e6), vi('vi-b', 'C11', 1e6)]]]);
    const node = t.cloudlets[0]?.nodes[0];
    const capacityBps = (node?.capacity.netMbps ?? 0) * 1e6;
    const share = Math.round((10e6 / capacityBps) * 100);
    expect(trafficOverlay.decorate(item('node:C11', t), ctx({ visByNode, openAlarms: new Map([['C11', 1]]) }))?.line).toBe(`⚠ 1 · 10.0 Mbit/s (${share}%)`);
    expect(trafficOverlay.decorate(item('cloudlet:C1', t), ctx({ visByNode }))?.line).toMatch(/^10.0 Mbit\/s \(\d+%\)$/);
  });

  test("a link is coloured by its busier direction against its capacity; without a router counting it, it says no data (not idle)", () => {
    const t = deterlab();
    const linkItem = (topology: typeof t) => [...indexTopology(topology, new Map()).items.values()].find((i) => i.kind === 'link' && i.link.a === 'R1' && i.link.b === 'R2') as TopologyItem;
    // Userspace lab: no routers, no load.
    expect(trafficOverlay.decorate(linkItem(t), ctx())).toEqual({ classes: ['traffic-nodata'], line: 'no data' });
    const capacityMbps = t.links.find((l) => l.a === 'R1' && l.b === 'R2')?.capacityMbps ?? 0;
    const withLoad = (abBps: number, baBps: number) => ({
      ...t,
      links: t.links.map((l) => (l.a === 'R1' && l.b === 'R2' ? { ...l, load: { a: 'R1', b: 'R2', abBps, baBps, periodSeconds: 2, at: 1, measuredAt: 'R1' } } : l)),
    });
    // 10% one way, 85% the other: the link is as full as its busier way.
    expect(trafficOverlay.decorate(linkItem(withLoad(capacityMbps * 1e5, capacityMbps * 0.85e6)), ctx())).toEqual({
      classes: ['traffic-high'],
      line: `→ ${formatBps(capacityMbps * 1e5)} · ← ${formatBps(capacityMbps * 0.85e6)} (85%)`,
    });
    expect(trafficOverlay.decorate(linkItem(withLoad(capacityMbps * 0.2e6, 0)), ctx())?.classes).toEqual(['traffic-low']);
    // Counted, and nothing flowed: idle, which is data.
    expect(trafficOverlay.decorate(linkItem(withLoad(0, 0)), ctx())).toEqual({ classes: ['traffic-idle'], line: '→ 0 bit/s · ← 0 bit/s (0%)' });
  });

  test('a link whose count went stale says since when it was counted, and is not coloured by its old load', () => {
    const t = deterlab();
    const at = new Date(2026, 0, 5, 14, 3, 27).getTime();
    const stale = {
      ...t,
      links: t.links.map((l) => (l.a === 'R1' && l.b === 'R2' ? { ...l, load: { a: 'R1', b: 'R2', abBps: 9.5e8, baBps: 0, periodSeconds: 2, at, measuredAt: 'R1', stale: true } } : l)),
    };
    const linkItem = [...indexTopology(stale, new Map()).items.values()].find((i) => i.kind === 'link' && i.link.a === 'R1' && i.link.b === 'R2') as TopologyItem;
    // 95% when it was last counted, yet no high-load colour: that load is history.
    expect(trafficOverlay.decorate(linkItem, ctx())).toEqual({ classes: ['traffic-stale'], line: 'stale since 14:03:27' });
    const palette = { bg: '#000', raised: '#111', sunken: '#222', fg: '#fff', muted: '#888', border: '#333', accent: '#00f', ok: '#0f0', warn: '#ff0', bad: '#f00' };
    expect(trafficOverlay.styles(palette)).toContainEqual({ selector: 'edge.traffic-stale', style: { 'line-style': 'dotted', 'line-color': '#888' } });
  });
});

describe('overlay registry', () => {
  test('every overlay has its own key, a panel section and styles for both palettes', () => {
    const keys = overlays.map((o) => o.key);
    expect(new Set(keys).size).toBe(keys.length);
    const palette = { bg: '#000', raised: '#111', sunken: '#222', fg: '#fff', muted: '#888', border: '#333', accent: '#00f', ok: '#0f0', warn: '#ff0', bad: '#f00' };
    for (const o of overlays) {
      expect(o.section).toBeDefined();
      expect(o.styles(palette).length).toBeGreaterThan(0);
    }
  });
});
