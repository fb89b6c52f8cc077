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
