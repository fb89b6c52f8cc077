/**
 * A generated ISP for the topology benchmark: PoPs scattered over a plane,
 * each linked to its nearest neighbours (a sparse, planar-ish graph like a
 * real backbone: about 2.5 links per PoP), RTT from distance, and one cloudlet
 * of `nodesPerCloudlet` nodes per PoP. Seeded, so every run draws the same ISP.
 */
import type { Topology } from '../main/protocol/domain.ts';

export interface FixtureOptions {
  pops: number;
  nodesPerCloudlet: number;
  seed?: number;
}

function random(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    // xorshift32: plenty for placing points.
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 0x1_0000_0000;
  };
}

const capacity = { cpu: 32, memMiB: 131_072, diskGiB: 2000, netMbps: 10_000 };

export function generateTopology({ pops, nodesPerCloudlet, seed = 7 }: FixtureOptions): Topology {
  const rnd = random(seed);
  const points = Array.from({ length: pops }, (_, i) => ({ id: `p${String(i + 1).padStart(4, '0')}`, x: rnd() * 10_000, y: rnd() * 6_000 }));
  const links = new Map<string, { a: string; b: string; rttMs: number; capacityMbps: number }>();
  // A spanning chain in x order keeps the graph connected; two nearest neighbours add the mesh.
  const byX = [...points].sort((p, q) => p.x - q.x);
  const addLink = (p: (typeof points)[number], q: (typeof points)[number]): void => {
    const [a, b] = p.id < q.id ? [p, q] : [q, p];
    const key = `${a.id}~${b.id}`;
    if (links.has(key) || a.id === b.id) return;
    const km = Math.hypot(a.x - b.x, a.y - b.y);
    links.set(key, { a: a.id, b: b.id, rttMs: Math.max(0.2, Math.round((km / 100) * 10) / 10), capacityMbps: [1000, 10_000, 40_000, 100_000][Math.floor(rnd() * 4)] ?? 10_000 });
  };
  for (let i = 1; i < byX.length; i++) addLink(byX[i - 1] as (typeof points)[number], byX[i] as (typeof points)[number]);
  const cell = 400;
  const grid = new Map<string, (typeof points)[number][]>();
  for (const p of points) {
    const k = `${Math.floor(p.x / cell)},${Math.floor(p.y / cell)}`;
    grid.set(k, [...(grid.get(k) ?? []), p]);
  }
  for (const p of points) {
    const cx = Math.floor(p.x / cell);
    const cy = Math.floor(p.y / cell);
    const near: (typeof points)[number][] = [];
    for (let dx = -1; dx <= 1; dx++) for (let dy = -1; dy <= 1; dy++) near.push(...(grid.get(`${cx + dx},${cy + dy}`) ?? []));
    near
      .filter((q) => q.id !== p.id)
      .sort((q, r) => Math.hypot(q.x - p.x, q.y - p.y) - Math.hypot(r.x - p.x, r.y - p.y))
      .slice(0, 2)
      .forEach((q) => addLink(p, q));
  }
  const now = Date.now();
  const cloudlets = points.map((p, i) => ({
    id: `c${String(i + 1).padStart(4, '0')}`,
    popId: p.id,
    controllerUrl: null,
    connected: true,
    status: 'healthy' as const,
    lastReportAt: now,
    ispShare: 0.1,
    nodes: Array.from({ length: nodesPerCloudlet }, (_, j) => {
      const used = rnd();
      const health = rnd() < 0.02 ? ('down' as const) : rnd() < 0.04 ? ('degraded' as const) : ('up' as const);
      return {
        id: `n${String(i + 1).padStart(4, '0')}-${j + 1}`,
        cloudletId: `c${String(i + 1).padStart(4, '0')}`,
        capacity,
        reported: {
          at: now,
          total: capacity,
          available: { cpu: Math.round(capacity.cpu * (1 - used)), memMiB: Math.round(capacity.memMiB * (1 - used / 2)), diskGiB: 1500, netMbps: 8000 },
          health,
        },
      };
    }),
  }));
  return { pops: points.map((p) => ({ id: p.id, name: p.id })), links: [...links.values()], cloudlets };
}
