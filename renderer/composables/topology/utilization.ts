/**
 * How much of one resource a node or cloudlet uses, from the controllers'
 * reports (total - available), and the band it falls in. The utilization
 * overlay draws it; the detail panel lists it per resource.
 */
import type { CloudletView, NodeView } from '../../../main/protocol/domain.ts';
import type { ResourceKey } from './topologyOverlay.ts';
import type { TopologyItem } from './topologyModel.ts';

export type UtilizationBand = 'low' | 'mid' | 'high' | 'none';

/** Used share (0..1) of `resource` on a node, or null before its first report. */
export function nodeUtilization(node: NodeView, resource: ResourceKey): number | null {
  const r = node.reported;
  if (!r) return null;
  const total = r.total[resource];
  if (total <= 0) return null;
  return Math.min(1, Math.max(0, (total - r.available[resource]) / total));
}

/** Used share over all reporting nodes of a cloudlet (sum used / sum total). */
export function cloudletUtilization(cloudlet: CloudletView, resource: ResourceKey): number | null {
  let used = 0;
  let total = 0;
  for (const n of cloudlet.nodes) {
    if (!n.reported) continue;
    used += n.reported.total[resource] - n.reported.available[resource];
    total += n.reported.total[resource];
  }
  return total > 0 ? Math.min(1, Math.max(0, used / total)) : null;
}

export function bandOf(share: number | null): UtilizationBand {
  if (share === null) return 'none';
  return share >= 0.8 ? 'high' : share >= 0.5 ? 'mid' : 'low';
}

export function utilizationOf(item: TopologyItem, resource: ResourceKey): number | null | undefined {
  if (item.kind === 'node') return nodeUtilization(item.node, resource);
  if (item.kind === 'cloudlet') return cloudletUtilization(item.cloudlet, resource);
  return undefined;
}
