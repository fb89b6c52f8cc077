/**
 * Utilization overlay: the share of one resource in use (total - available,
 * as the controller last reported it), per node and summed per cloudlet. The
 * resource is chosen in the overlay's toolbar control. The fill steps through
 * three bands and the label always carries the percentage.
 */
import { bandOf, utilizationOf } from '../../../composables/topology/utilization.ts';
import UtilizationResourcePicker from './UtilizationResourcePicker.vue';
import UtilizationSection from './UtilizationSection.vue';
import { resourceTitles, type ResourceKey, type TopologyOverlay } from '../../../composables/topology/topologyOverlay.ts';

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
