/**
 * The slow, obvious answer the fast index must always agree with: commitment
 * per node recomputed from the database's holds table by summing, at every
 * instant where anything starts or ends, every hold that covers it. Used by
 * the property tests, the crash test and the `verify` path after a restart;
 * deliberately shares no code with timeline.ts.
 */
import type { AdmissionIndex } from './admission.ts';
import type { Inventory } from './inventory.ts';
import type { HoldRow } from './store.ts';

export interface NaiveNode {
  /** Sorted instants where commitment may change. */
  readonly instants: number[];
  /** For each instant: total cpu, mem, disk, net, then the tenants' part. */
  readonly used: number[][];
}

export function recomputeFromHolds(holds: readonly HoldRow[]): Map<string, NaiveNode> {
  const byNode = new Map<string, HoldRow[]>();
  for (const h of holds) {
    const list = byNode.get(h.node_id) ?? [];
    list.push(h);
    byNode.set(h.node_id, list);
  }
  const out = new Map<string, NaiveNode>();
  for (const [nodeId, list] of byNode) {
    const instants = [...new Set(list.flatMap((h) => [h.from_ms, h.to_ms]))].sort((a, b) => a - b);
    const used = instants.map((x) => {
      const sum = [0, 0, 0, 0, 0, 0, 0, 0];
      for (const h of list) {
        if (h.from_ms <= x && x < h.to_ms) {
          const amounts = [h.cpu, h.mem_mib, h.disk_gib, h.net_mbps];
          for (let k = 0; k < 4; k++) {
            sum[k] = (sum[k] as number) + (amounts[k] as number);
            if (!h.isp) sum[4 + k] = (sum[4 + k] as number) + (amounts[k] as number);
          }
        }
      }
      return sum;
    });
    out.set(nodeId, { instants, used });
  }
  return out;
}

/** Every place (node, instant, resource) where the naive sums exceed a limit. */
export function overbookings(naive: Map<string, NaiveNode>, inventory: Inventory): string[] {
  const problems: string[] = [];
  const names = ['cpu', 'memMiB', 'diskGiB', 'netMbps'];
  for (const [nodeId, n] of naive) {
    const node = inventory.nodeById.get(nodeId);
    if (!node) {
      problems.push(`holds name unknown node ${nodeId}`);
      continue;
    }
    n.instants.forEach((x, i) => {
      const u = n.used[i] as number[];
      for (let k = 0; k < 4; k++) {
        if ((u[k] as number) > (node.limits.capacity[k] as number) + 1e-6) {
          problems.push(`node ${nodeId} at ${new Date(x).toISOString()}: ${names[k]} ${u[k]} committed > capacity ${node.limits.capacity[k]}`);
        }
        if ((u[4 + k] as number) > (node.limits.tenant[k] as number) + 1e-6) {
          problems.push(`node ${nodeId} at ${new Date(x).toISOString()}: tenants hold ${names[k]} ${u[4 + k]} > ${node.limits.tenant[k]} (ISP share breached)`);
        }
      }
    });
  }
  return problems;
}

/** Differences between the index and the naive sums at every instant either knows of, from `since` on. */
export function indexDifferences(index: AdmissionIndex, naive: Map<string, NaiveNode>, since = -Infinity): string[] {
  const problems: string[] = [];
  for (const node of index.inventory.nodes) {
    const timeline = index.timelines[node.index];
    if (!timeline) continue;
    const n = naive.get(node.id);
    const instants = new Set<number>([...(n?.instants ?? []), ...timeline.t].filter((x) => x >= since));
    if (since > -Infinity) instants.add(since);
    for (const x of instants) {
      const fast = timeline.usedAt(x);
      let slow = [0, 0, 0, 0, 0, 0, 0, 0];
      if (n) {
        // The naive value at x is the one at the last naive instant <= x.
        let j = -1;
        for (let i = 0; i < n.instants.length; i++) if ((n.instants[i] as number) <= x) j = i;
        if (j >= 0) slow = n.used[j] as number[];
      }
      for (let k = 0; k < 8; k++) {
        if (Math.abs((fast[k] as number) - (slow[k] as number)) > 1e-6) {
          problems.push(`node ${node.id} at ${x}: index says ${fast.join(',')}, database says ${slow.join(',')}`);
          break;
        }
      }
    }
  }
  return problems;
}

/**
 * Places where the free-capacity summaries (freeSummary.ts) disagree with the
 * naive sums: a block whose stored least-free is below the truth (it could
 * prune a node that fits), or above it when the block is known (a summary that
 * drifted and would stop pruning), and a cloudlet value other than the most of
 * its nodes (or, where marked loose, below it). Blocks stored as unknown (+Infinity, the trimmed past) only have
 * to be unknown.
 */
export function summaryDifferences(index: AdmissionIndex, naive: Map<string, NaiveNode>): string[] {
  const problems: string[] = [];
  const summary = index.summary;
  if (summary.origin === null) return problems;
  const origin = summary.origin;
  for (const node of index.inventory.nodes) {
    const n = naive.get(node.id);
    for (let j = 0; j < summary.leaves; j++) {
      const from = origin + j * summary.leafMs;
      const to = from + summary.leafMs;
      const stored = summary.leafOf(node.index, j);
      if (stored.every((x) => x === Infinity)) continue;
      // The naive least free over [from, to): at `from` and at every instant inside.
      const truth = [0, 1, 2, 3].map((k) => Math.min(node.limits.capacity[k] as number, node.limits.tenant[k] as number));
      const at = (x: number): number[] => {
        let j2 = -1;
        if (n) for (let i = 0; i < n.instants.length; i++) if ((n.instants[i] as number) <= x) j2 = i;
        return j2 >= 0 && n ? (n.used[j2] as number[]) : [0, 0, 0, 0, 0, 0, 0, 0];
      };
      const instants = [from, ...(n?.instants.filter((x) => x > from && x < to) ?? [])];
      for (const x of instants) {
        const u = at(x);
        for (let k = 0; k < 4; k++) {
          const free = Math.min((node.limits.capacity[k] as number) - (u[k] as number), (node.limits.tenant[k] as number) - (u[4 + k] as number));
          truth[k] = Math.min(truth[k] as number, free);
        }
      }
      for (let k = 0; k < 4; k++) {
        const s = stored[k] as number;
        const t = truth[k] as number;
        const tolerance = 1e-6 * Math.max(1, Math.abs(t));
        if (s < t - tolerance || s > t + tolerance) {
          problems.push(`node ${node.id} block ${j} (${new Date(from).toISOString()}): summary says ${s} free of resource ${k}, the holds say ${t}`);
        }
      }
    }
  }
  // Each window: the node's tree agrees with its blocks, and the cloudlet holds the most over its nodes.
  for (const c of index.inventory.cloudlets) {
    for (let i = 0; i < summary.leaves; i++) {
      const least = c.nodes.map(() => [Infinity, Infinity, Infinity, Infinity]);
      for (let L = 0; L < summary.windowLevels && i + (1 << L) <= summary.leaves; L++) {
        const most = [-Infinity, -Infinity, -Infinity, -Infinity];
        c.nodes.forEach((n, m) => {
          const mine = least[m] as number[];
          for (let j = L === 0 ? i : i + (1 << (L - 1)); j < i + (1 << L); j++) {
            const leaf = summary.leafOf(n.index, j);
            for (let k = 0; k < 4; k++) mine[k] = Math.min(mine[k] as number, leaf[k] as number);
          }
          const fromTree = summary.nodeOver(n.index, i, i + (1 << L));
          if (fromTree.some((x, k) => x !== mine[k])) problems.push(`node ${n.id} blocks ${i}+${1 << L}: its tree says ${fromTree.join(',')}, its blocks ${mine.join(',')}`);
          for (let k = 0; k < 4; k++) most[k] = Math.max(most[k] as number, mine[k] as number);
        });
        // Exact, or (where its holder went down since) an upper bound.
        const stored = summary.cloudletWindow(c.index, L, i);
        if (stored.most.some((x, k) => (stored.loose[k] ? x < (most[k] as number) : x !== most[k]))) {
          problems.push(`cloudlet ${c.id} blocks ${i}+${1 << L}: summary says ${stored.most.join(',')} (loose: ${stored.loose.join(',')}), its nodes say ${most.join(',')}`);
        }
      }
    }
  }
  return problems;
}
