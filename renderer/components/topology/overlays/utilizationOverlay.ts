/**
 * Utilization overlay: per node and cloudlet, the share of one resource
 * reserved for VIs (what the controller allocated) and, for CPU and memory,
 * the share the VIs measurably use, labelled as such. The fill follows the
 * reserved share in three bands; a node reported down is drawn as down (its
 * own shape and word), never as full. The resource is chosen in the overlay's
 * toolbar control.
 */
import { readingBand, shareOf, utilizationOf } from '../../../composables/topology/utilization.ts';
import UtilizationResourcePicker from './UtilizationResourcePicker.vue';
import UtilizationSection from './UtilizationSection.vue';
import { resourceTitles, type ResourceKey, type TopologyOverlay } from '../../../composables/topology/topologyOverlay.ts';

const shortTitle: Record<ResourceKey, string> = { cpu: 'cpu', memMiB: 'mem', diskGiB: 'disk', netMbps: 'net' };

export const utilizationOverlay: TopologyOverlay = {
  id: 'utilization',
  title: 'Utilization',
  key: 'u',
  description: `Share of one resource (${Object.values(resourceTitles).join(', ')}) reserved for VIs, and measured in use, from the controllers' reports`,
  defaultOn: false,
  decorate(item, ctx) {
    const reading = utilizationOf(item, ctx.utilizationResource, ctx.visByNode);
    if (!reading) return undefined;
    const name = shortTitle[ctx.utilizationResource];
    const band = readingBand(reading);
    if (band === 'down') return { classes: ['util-down'], line: `${name}: node down` };
    const reserved = shareOf(reading.reserved, reading);
    if (reserved === null) return { classes: ['util-none'], line: `${name} n/a` };
    const measured = shareOf(reading.measured, reading);
    const used = measured === null ? '' : ` · ${Math.round(measured * 100)}% used`;
    return { classes: [`util-${band}`], line: `${name} ${Math.round(reserved * 100)}% reserved${used}` };
  },
  styles: (p) => [
    { selector: '.node.util-low, .cloudlet.collapsed.util-low', style: { 'background-color': p.ok, 'background-opacity': 0.35 } },
    { selector: '.node.util-mid, .cloudlet.collapsed.util-mid', style: { 'background-color': p.warn, 'background-opacity': 0.5 } },
    { selector: '.node.util-high, .cloudlet.collapsed.util-high', style: { 'background-color': p.bad, 'background-opacity': 0.6 } },
    { selector: '.node.util-none, .cloudlet.collapsed.util-none', style: { 'background-opacity': 0.15 } },
    // Down is not full: no fill, a hatched look from a dashed border in the muted colour.
    { selector: '.node.util-down, .cloudlet.collapsed.util-down', style: { 'background-opacity': 0, 'border-style': 'dashed', 'border-color': p.muted } },
  ],
  section: UtilizationSection,
  controls: UtilizationResourcePicker,
};
