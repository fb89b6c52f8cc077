/**
 * What the traffic overlay reads: bits and packets per second at the VIs'
 * data-plane ports (from the controllers' usage samples), summed per node and
 * cloudlet, as a share of the network capacity reserved (VI) or installed
 * (node, cloudlet), in three bands like the utilization overlay; and the open
 * alarms about the item or what runs on it. Links: the load their routers'
 * ports counted (topology.get), the busier direction against the link's
 * capacity; a link no router counts (the lab's userspace traffic source) has
 * no data, which is not the same as idle; a link whose count stopped arriving
 * (the scheduler marks it stale) shows when it was last counted, not a load.
 */
import type { Link, ShownLinkLoad } from '../../../main/protocol/domain.ts';
import type { TopologyItem, ViSummary, ViTraffic } from './topologyModel.ts';

export type LoadBand = 'idle' | 'low' | 'mid' | 'high';

export interface TrafficReading {
  /** Sum over the VIs that report a port (null: none does). */
  traffic: ViTraffic | null;
  /** Network capacity the share is taken of, in bit/s (null: unknown). */
  capacityBps: number | null;
  vis: ViSummary[];
  alarms: number;
}

function sum(vis: readonly ViSummary[]): ViTraffic | null {
  const withPort = vis.filter((v) => v.traffic);
  if (!withPort.length) return null;
  return withPort.reduce<ViTraffic>(
    (t, v) => ({ inPps: t.inPps + (v.traffic?.inPps ?? 0), outPps: t.outPps + (v.traffic?.outPps ?? 0), inBps: t.inBps + (v.traffic?.inBps ?? 0), outBps: t.outBps + (v.traffic?.outBps ?? 0) }),
    { inPps: 0, outPps: 0, inBps: 0, outBps: 0 },
  );
}

export function trafficReading(item: TopologyItem, visByNode: ReadonlyMap<string, ViSummary[]>, openAlarms: ReadonlyMap<string, number>): TrafficReading | undefined {
  const alarmsOf = (vis: readonly ViSummary[], extra: string[] = []) => [...vis.map((v) => v.id), ...extra].reduce((n, id) => n + (openAlarms.get(id) ?? 0), 0);
  if (item.kind === 'vi') {
    return { traffic: item.vi.traffic ?? null, capacityBps: item.vi.netMbps ? item.vi.netMbps * 1e6 : null, vis: [item.vi], alarms: alarmsOf([item.vi]) };
  }
  if (item.kind === 'node') {
    const vis = visByNode.get(item.id) ?? [];
    return { traffic: sum(vis), capacityBps: item.node.capacity.netMbps * 1e6, vis, alarms: alarmsOf(vis, [item.id]) };
  }
  if (item.kind === 'cloudlet') {
    const nodes = item.cloudlet.nodes;
    const vis = nodes.flatMap((n) => visByNode.get(n.id) ?? []);
    return { traffic: sum(vis), capacityBps: nodes.reduce((t, n) => t + n.capacity.netMbps, 0) * 1e6, vis, alarms: alarmsOf(vis, nodes.map((n) => n.id)) };
  }
  return undefined;
}

export interface LinkReading {
  link: Link;
  /** null: no router counts this link. */
  load: ShownLinkLoad | null;
  capacityBps: number;
}

export function linkReading(item: TopologyItem): LinkReading | undefined {
  if (item.kind !== 'link') return undefined;
  return { link: item.link, load: item.link.load ?? null, capacityBps: item.link.capacityMbps * 1e6 };
}

/** The busier direction's share of the capacity (a link is full when one way is); null without data. */
export function linkShare(r: LinkReading): number | null {
  return r.load ? Math.max(r.load.abBps, r.load.baBps) / r.capacityBps : null;
}

export function loadShare(r: TrafficReading): number | null {
  if (!r.traffic || !r.capacityBps) return null;
  return (r.traffic.inBps + r.traffic.outBps) / r.capacityBps;
}

export function loadBand(share: number | null): LoadBand {
  if (share === null || share === 0) return 'idle';
  return share < 0.5 ? 'low' : share < 0.8 ? 'mid' : 'high';
}

/** A time of day, local, to the second ("14:03:27"): when a link was last counted. */
export function formatClock(ms: number): string {
  const d = new Date(ms);
  const pad = (n: number): string => String(n).padStart(2, '0');
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** "12.3 Mbit/s", "850 bit/s". */
export function formatBps(bps: number): string {
  const steps = ['bit/s', 'kbit/s', 'Mbit/s', 'Gbit/s', 'Tbit/s'];
  let v = bps;
  let i = 0;
  while (v >= 1000 && i < steps.length - 1) {
    v /= 1000;
    i++;
  }
  return `${i === 0 ? Math.round(v) : v.toFixed(v < 10 ? 2 : 1)} ${steps[i]}`;
}
