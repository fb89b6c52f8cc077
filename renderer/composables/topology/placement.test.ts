import { describe, expect, test } from 'vitest';
import { deterlab } from '../../../test/support/consoleFakes.ts';
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
