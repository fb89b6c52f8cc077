/**
 * Health overlay: up, degraded, stale, down or unknown for cloudlets, nodes
 * and VIs. Each level has its own node shape, border style and (except up)
 * a label line with a symbol and a word, so it reads without colour.
 */
import type { TopologyItem } from '../../../composables/topology/topologyModel.ts';
import HealthSection from './HealthSection.vue';
import type { TopologyOverlay } from './topologyOverlay.ts';

export type HealthLevel = 'up' | 'degraded' | 'stale' | 'down' | 'unknown';

export const healthWords: Record<HealthLevel, { symbol: string; word: string; tone: 'ok' | 'warn' | 'bad' | 'idle' }> = {
  up: { symbol: '●', word: 'up', tone: 'ok' },
  degraded: { symbol: '▲', word: 'degraded', tone: 'warn' },
  stale: { symbol: '◌', word: 'stale', tone: 'warn' },
  down: { symbol: '■', word: 'down', tone: 'bad' },
  unknown: { symbol: '?', word: 'unknown', tone: 'idle' },
};

/** Why an item has its level, in words for the detail panel and the outline. */
export function healthOf(item: TopologyItem): { level: HealthLevel; reason: string } | undefined {
  switch (item.kind) {
    case 'cloudlet': {
      const c = item.cloudlet;
      if (!c.connected && c.status !== 'healthy') return { level: 'down', reason: 'controller not connected to the scheduler' };
      if (c.status === 'stale') return { level: 'stale', reason: 'no recent report from its controller' };
      if (c.status === 'unknown') return { level: 'unknown', reason: 'no report received yet' };
      return { level: 'up', reason: c.connected ? 'controller connected and reporting' : 'reporting' };
    }
    case 'node': {
      const { node, cloudlet } = item;
      // A stale cloudlet's node reports are old: say so rather than repeat them.
      if (cloudlet.status === 'stale') return { level: 'stale', reason: `cloudlet ${cloudlet.id} has not reported recently` };
      if (!node.reported) return { level: 'unknown', reason: 'no report received yet' };
      const h = node.reported.health;
      if (h === 'up') return { level: 'up', reason: 'reported up' };
      if (h === 'degraded') return { level: 'degraded', reason: 'reported degraded' };
      if (h === 'down') return { level: 'down', reason: 'reported down' };
      return { level: 'unknown', reason: 'the controller does not know' };
    }
    case 'vi': {
      const s = item.vi.state;
      if (s === 'running') return { level: 'up', reason: 'running' };
      if (s === 'failed' || s === 'crashed') return { level: 'down', reason: s };
      if (s === 'starting' || s === 'stopping' || s === 'restricted') return { level: 'degraded', reason: s };
      return { level: 'unknown', reason: s };
    }
    default:
      return undefined;
  }
}

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
