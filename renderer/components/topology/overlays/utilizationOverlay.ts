/**
 * Utilization overlay: the share of one resource in use (total - available,
 * as the controller last reported it), per node and summed per cloudlet. The
 * resource is chosen in the overlay's toolbar control. The fill steps through
 * three bands and the label always carries the percentage.
 */
import type { CloudletView, NodeView } from '../../../../main/protocol/domain.ts';
import type { TopologyItem } from '../../../composables/topology/topologyModel.ts';
import UtilizationResourcePicker from './UtilizationResourcePicker.vue';
import UtilizationSection from './UtilizationSection.vue';
import { resourceTitles, type ResourceKey, type TopologyOverlay } from './topologyOverlay.ts';

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

const shortTitle: Record<ResourceKey, string> = { cpu: 'cpu', memMiB: 'mem', diskGiB: 'disk', netMbps: 'net' };

export const utilizationOverlay: TopologyOverlay = {
  id: 'utilization',
  title: 'Utilization',
  key: 'u',
  description: `Share of one resource in use (${Object.values(resourceTitles).join(', ')}), from the controllers' reports`,
  defaultOn: false,
  decorate(item, ctx) {
    const share = utilizationOf(item, ctx.utilizationResource);
    if (share === undefined) return undefined;
    const name = shortTitle[ctx.utilizationResource];
    return { classes: [`util-${bandOf(share)}`], line: share === null ? `${name} n/a` : `${name} ${Math.round(share * 100)}%` };
  },
  styles: (p) => [
    { selector: '.node.util-low, .cloudlet.collapsed.util-low', style: { 'background-color': p.ok, 'background-opacity': 0.35 } },
    { selector: '.node.util-mid, .cloudlet.collapsed.util-mid', style: { 'background-color': p.warn, 'background-opacity': 0.5 } },
    { selector: '.node.util-high, .cloudlet.collapsed.util-high', style: { 'background-color': p.bad, 'background-opacity': 0.6 } },
    { selector: '.node.util-none, .cloudlet.collapsed.util-none', style: { 'background-opacity': 0.15 } },
  ],
  section: UtilizationSection,
  controls: UtilizationResourcePicker,
};
