/**
 * The ISP's inventory as the scheduler reasons about it: PoPs joined by links
 * with an RTT, cloudlets at PoPs, nodes in cloudlets with their capacity and
 * the part of it tenants may use (capacity minus the ISP share). Distances
 * are shortest paths by link RTT (Dijkstra), computed once per requestor PoP
 * and cached, since the topology only changes with the config.
 */
import type { Resources } from '../protocol/domain.ts';
import type { SchedulerConfig } from './config.ts';
import type { NodeLimits } from './timeline.ts';
import { vec } from './timeline.ts';

export interface NodeInfo {
  readonly id: string;
  readonly index: number;
  readonly cloudletId: string;
  readonly capacity: Resources;
  readonly limits: NodeLimits;
}

export interface CloudletInfo {
  readonly id: string;
  /** Position in Inventory.cloudlets. */
  readonly index: number;
  readonly popId: string;
  readonly ispShare: number;
  readonly nodes: readonly NodeInfo[];
  /** Per resource, the most any single node offers: a request above it cannot fit here. */
  readonly maxCapacity: readonly number[];
  readonly maxTenant: readonly number[];
}

export interface RankedCloudlet {
  readonly cloudlet: CloudletInfo;
  /** Shortest RTT path from the requestor's PoP; Infinity when unreachable. */
  readonly distanceMs: number;
}

export class Inventory {
  readonly pops = new Map<string, { id: string; name: string }>();
  readonly links: SchedulerConfig['topology']['links'];
  readonly cloudlets: CloudletInfo[] = [];
  readonly cloudletById = new Map<string, CloudletInfo>();
  readonly nodes: NodeInfo[] = [];
  readonly nodeById = new Map<string, NodeInfo>();
  private readonly adjacency = new Map<string, { to: string; rttMs: number }[]>();
  private readonly rankCache = new Map<string, RankedCloudlet[]>();

  constructor(topology: SchedulerConfig['topology'], defaultShare: number) {
    for (const p of topology.pops) {
      this.pops.set(p.id, { id: p.id, name: p.name ?? p.id });
      this.adjacency.set(p.id, []);
    }
    this.links = topology.links;
    for (const l of topology.links) {
      this.adjacency.get(l.a)?.push({ to: l.b, rttMs: l.rttMs });
      this.adjacency.get(l.b)?.push({ to: l.a, rttMs: l.rttMs });
    }
    for (const c of topology.cloudlets) {
      const share = c.ispShare ?? defaultShare;
      const nodes: NodeInfo[] = c.nodes.map((n) => {
        const capacity = vec(n.capacity);
        const info: NodeInfo = {
          id: n.id,
          index: this.nodes.length,
          cloudletId: c.id,
          capacity: n.capacity,
          limits: { capacity, tenant: capacity.map((x) => x * (1 - share)) as unknown as NodeLimits['tenant'] },
        };
        this.nodes.push(info);
        this.nodeById.set(n.id, info);
        return info;
      });
      const maxOf = (pick: (n: NodeInfo) => readonly number[]): number[] =>
        [0, 1, 2, 3].map((k) => Math.max(...nodes.map((n) => pick(n)[k] as number)));
      const info: CloudletInfo = {
        id: c.id,
        index: this.cloudlets.length,
        popId: c.popId,
        ispShare: share,
        nodes,
        maxCapacity: maxOf((n) => n.limits.capacity),
        maxTenant: maxOf((n) => n.limits.tenant),
      };
      this.cloudlets.push(info);
      this.cloudletById.set(c.id, info);
    }
  }

  /** Shortest RTT from `popId` to every PoP (Dijkstra; the graph is small). */
  distancesFrom(popId: string): Map<string, number> {
    const dist = new Map<string, number>([[popId, 0]]);
    const done = new Set<string>();
    // A linear scan for the closest open PoP: O(V^2), fine for hundreds of PoPs and cached.
    for (;;) {
      let best: string | undefined;
      let bestD = Infinity;
      for (const [p, d] of dist) {
        if (!done.has(p) && d < bestD) {
          best = p;
          bestD = d;
        }
      }
      if (best === undefined) break;
      done.add(best);
      for (const e of this.adjacency.get(best) ?? []) {
        const d = bestD + e.rttMs;
        if (d < (dist.get(e.to) ?? Infinity)) dist.set(e.to, d);
      }
    }
    return dist;
  }

  /** Cloudlets closest first (ties by id, so the order is stable). */
  rankFrom(popId: string): RankedCloudlet[] {
    const cached = this.rankCache.get(popId);
    if (cached) return cached;
    const dist = this.distancesFrom(popId);
    const ranked = this.cloudlets
      .map((cloudlet) => ({ cloudlet, distanceMs: dist.get(cloudlet.popId) ?? Infinity }))
      .sort((a, b) => a.distanceMs - b.distanceMs || (a.cloudlet.id < b.cloudlet.id ? -1 : a.cloudlet.id > b.cloudlet.id ? 1 : 0));
    this.rankCache.set(popId, ranked);
    return ranked;
  }
}
