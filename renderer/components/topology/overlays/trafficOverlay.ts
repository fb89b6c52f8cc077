/**
 * Traffic overlay: per VI, node and cloudlet, the bit rate at the VIs'
 * data-plane ports and its share of the network capacity (reserved by the VI,
 * installed on the node or cloudlet), with a fill in three bands and a label
 * line that says the rate; open alarms add a "⚠ n" badge and a thick border.
 * Links: the rates each way their routers' ports counted, coloured by the
 * busier direction's share of the link's capacity; dashed, "no data", where
 * no router counts them; dotted and grey, "stale since HH:MM:SS", where the
 * count stopped arriving (scheduler's rule, linkLoads.ts): old rates are not
 * coloured as if they were the present.
 */
import { formatBps, formatClock, linkReading, linkShare, loadBand, loadShare, trafficReading } from '../../../composables/topology/trafficLoad.ts';
import type { TopologyOverlay } from '../../../composables/topology/topologyOverlay.ts';
import TrafficSection from './TrafficSection.vue';

export const trafficOverlay: TopologyOverlay = {
  id: 'traffic',
  title: 'Traffic',
  key: 't',
  description: "Bit rates at the VIs' ports (per VI, node, cloudlet) and on links as a share of network capacity, and open alarms",
  defaultOn: false,
  decorate(item, ctx) {
    const l = linkReading(item);
    if (l) {
      if (!l.load) return { classes: ['traffic-nodata'], line: 'no data' };
      if (l.load.stale) return { classes: ['traffic-stale'], line: `stale since ${formatClock(l.load.at)}` };
      const share = linkShare(l) ?? 0;
      return { classes: [`traffic-${loadBand(share)}`], line: `→ ${formatBps(l.load.abBps)} · ← ${formatBps(l.load.baBps)} (${Math.round(share * 100)}%)` };
    }
    const r = trafficReading(item, ctx.visByNode, ctx.openAlarms);
    if (!r) return undefined;
    const share = loadShare(r);
    const classes = [`traffic-${loadBand(share)}`, ...(r.alarms ? ['traffic-alarm'] : [])];
    const badge = r.alarms ? `⚠ ${r.alarms} · ` : '';
    if (!r.traffic) return { classes, line: `${badge}no port traffic` };
    const rate = formatBps(r.traffic.inBps + r.traffic.outBps);
    return { classes, line: `${badge}${rate}${share === null ? '' : ` (${Math.round(share * 100)}%)`}` };
  },
  styles: (p) => [
    { selector: '.node.traffic-low, .vi.traffic-low, .cloudlet.collapsed.traffic-low', style: { 'background-color': p.ok, 'background-opacity': 0.35 } },
    { selector: '.node.traffic-mid, .vi.traffic-mid, .cloudlet.collapsed.traffic-mid', style: { 'background-color': p.warn, 'background-opacity': 0.5 } },
    { selector: '.node.traffic-high, .vi.traffic-high, .cloudlet.collapsed.traffic-high', style: { 'background-color': p.bad, 'background-opacity': 0.6 } },
    { selector: 'edge.traffic-low', style: { 'line-color': p.ok } },
    { selector: 'edge.traffic-mid', style: { 'line-color': p.warn } },
    { selector: 'edge.traffic-high', style: { 'line-color': p.bad } },
    { selector: 'edge.traffic-nodata', style: { 'line-style': 'dashed' } },
    { selector: 'edge.traffic-stale', style: { 'line-style': 'dotted', 'line-color': p.muted } },
    { selector: '.traffic-alarm', style: { 'border-color': p.bad, 'border-width': 4, 'border-style': 'double' } },
  ],
  section: TrafficSection,
};
