import { describe, expect, test } from 'vitest';
import globalwanLab from '../../../resources/labs/globalwan.json';
import type { Topology } from '../../../main/protocol/domain.ts';
import { cloudletView, deterlab } from '../../../test/support/consoleFakes.ts';
import { breadthFirstPops, placeElements } from './placement.ts';
import { searchItems, indexTopology } from './topologyModel.ts';

describe('placement', () => {
  test('the same topology always gets the same positions, and saved ones win', () => {
    const t = deterlab();
    const first = placeElements(t, new Map(), () => undefined);
    const again = placeElements(t, new Map(), () => undefined);
    expect([...again]).toEqual([...first]);
    const saved = placeElements(t, new Map(), (id) => (id === 'pop:R2' ? { x: 1, y: 2 } : undefined));
    expect(saved.get('pop:R2')).toEqual({ x: 1, y: 2 });
  });

  test('a path of PoPs is laid out along a line in link order, each cloudlet under its PoP', () => {
    const t = deterlab();
    expect(breadthFirstPops(t)).toEqual(['A', 'R1', 'R2', 'B']);
    const p = placeElements(t, new Map(), () => undefined);
    const xs = ['A', 'R1', 'R2', 'B'].map((id) => p.get(`pop:${id}`)!.x);
    expect([...xs].sort((a, b) => a - b)).toEqual(xs);
    const r1 = p.get('pop:R1')!;
    const c11 = p.get('node:C11')!;
    expect(c11.y).toBeGreaterThan(r1.y);
    expect(Math.abs(c11.x - r1.x)).toBeLessThan(200);
  });

  test('on the Global WAN ring with its hosts no link runs through a cloudlet and no host sits on one: each cloudlet sits in the widest gap between its links', () => {
    const t: Topology = {
      pops: globalwanLab.pops.map((p) => ({ id: p.id, name: p.name })),
      links: globalwanLab.links.map((l) => ({ a: l.a, b: l.b, rttMs: 10, capacityMbps: l.capacityMbps })),
      cloudlets: globalwanLab.cloudlets.map((c) => cloudletView(c.id, c.popId, c.nodes.map((n) => n.id))),
    };
    const p = placeElements(t, new Map(), () => undefined);
    const distance = (q: { x: number; y: number }, a: { x: number; y: number }, b: { x: number; y: number }): number => {
      const dx = b.x - a.x;
      const dy = b.y - a.y;
      const u = Math.max(0, Math.min(1, ((q.x - a.x) * dx + (q.y - a.y) * dy) / (dx * dx + dy * dy)));
      return Math.hypot(q.x - (a.x + u * dx), q.y - (a.y + u * dy));
    };
    for (const c of t.cloudlets) {
      for (const n of c.nodes) {
        const q = p.get(`node:${n.id}`)!;
        for (const l of t.links) expect(distance(q, p.get(`pop:${l.a}`)!, p.get(`pop:${l.b}`)!), `${n.id} and link ${l.a}-${l.b}`).toBeGreaterThan(60);
        for (const h of ['A', 'B', 'X', 'Y']) expect(Math.hypot(q.x - p.get(`pop:${h}`)!.x, q.y - p.get(`pop:${h}`)!.y), `${n.id} and host ${h}`).toBeGreaterThan(150);
      }
    }
    // The users and attackers hang off their own routers, nearer to them than to any other PoP.
    for (const [host, router] of [['A', 'HKG'], ['B', 'BCN'], ['X', 'NYC'], ['Y', 'MIA']] as const) {
      const at = p.get(`pop:${host}`)!;
      const nearest = t.pops.filter((o) => o.id !== host).sort((u, v) => Math.hypot(p.get(`pop:${u.id}`)!.x - at.x, p.get(`pop:${u.id}`)!.y - at.y) - Math.hypot(p.get(`pop:${v.id}`)!.x - at.x, p.get(`pop:${v.id}`)!.y - at.y))[0];
      expect(nearest?.id, host).toBe(router);
    }
  });

  test('a large topology fills a grid with no two PoPs on the same spot', () => {
    const pops = Array.from({ length: 400 }, (_, i) => ({ id: `p${i}`, name: `p${i}` }));
    const links = pops.slice(1).map((p, i) => ({ a: `p${i}`, b: p.id, rttMs: 1, capacityMbps: 1000 }));
    const p = placeElements({ pops, links, cloudlets: [] }, new Map(), () => undefined);
    const spots = new Set([...p.values()].map((q) => `${q.x},${q.y}`));
    expect(spots.size).toBe(400);
  });
});

describe('search', () => {
  test('exact ids first, then prefixes; PoPs and cloudlets before nodes', () => {
    const items = indexTopology(deterlab(), new Map()).items;
    expect(searchItems(items, 'c2').map((i) => i.id)).toEqual(['C2', 'C21', 'C22', 'C23']);
    expect(searchItems(items, 'router').map((i) => i.id)).toEqual(['R1', 'R2']);
    expect(searchItems(items, '   ')).toEqual([]);
  });
});
