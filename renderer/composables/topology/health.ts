/**
 * Health of cloudlets, nodes and VIs in words: up, degraded, stale, down or
 * unknown, each with a symbol and a tone so it reads without colour. The
 * health overlay draws it; the outline and the detail panel say it.
 */
import type { TopologyItem } from './topologyModel.ts';

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
