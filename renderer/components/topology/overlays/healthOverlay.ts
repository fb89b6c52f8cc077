/**
 * Health overlay: up, degraded, stale, down or unknown for cloudlets, nodes
 * and VIs. Each level has its own node shape, border style and (except up)
 * a label line with a symbol and a word, so it reads without colour.
 */
import { healthOf, healthWords } from '../../../composables/topology/health.ts';
import HealthSection from './HealthSection.vue';
import type { TopologyOverlay } from '../../../composables/topology/topologyOverlay.ts';

export const healthOverlay: TopologyOverlay = {
  id: 'health',
  title: 'Health',
  key: 'h',
  description: 'Node and cloudlet health: shape and label show up, degraded, stale, down',
  defaultOn: true,
  decorate(item) {
    const h = healthOf(item);
    if (!h) return undefined;
    const w = healthWords[h.level];
    return { classes: [`health-${h.level}`], ...(h.level === 'up' ? {} : { line: `${w.symbol} ${w.word}` }) };
  },
  styles: (p) => [
    { selector: '.node.health-up, .vi.health-up', style: { 'border-color': p.ok } },
    { selector: '.node.health-degraded, .vi.health-degraded', style: { shape: 'diamond', 'border-color': p.warn, 'border-width': 3 } },
    { selector: '.node.health-stale', style: { 'border-style': 'dashed', 'border-color': p.warn, 'border-width': 3 } },
    { selector: '.node.health-down, .vi.health-down', style: { shape: 'octagon', 'border-color': p.bad, 'border-width': 4 } },
    { selector: '.node.health-unknown, .vi.health-unknown', style: { 'border-style': 'dotted', 'border-color': p.muted } },
    { selector: '.cloudlet.health-stale', style: { 'border-style': 'dashed', 'border-color': p.warn, 'border-width': 3 } },
    { selector: '.cloudlet.health-down', style: { 'border-style': 'double', 'border-color': p.bad, 'border-width': 5 } },
    { selector: '.cloudlet.health-unknown', style: { 'border-style': 'dotted', 'border-color': p.muted } },
  ],
  section: HealthSection,
};
