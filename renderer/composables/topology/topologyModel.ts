/**
 * The topology as the view works with it: every PoP, link, cloudlet, node and
 * VI as an item with a graph element id, indexed once per change so the graph,
 * the outline, the search box and the detail panel all read the same thing.
 *
 * Element ids carry a kind prefix ("pop:R1", "node:C11") because the domain
 * does not promise that a PoP and a node never share an id; the outline and
 * tests use the plain domain id.
 */
import type { CloudletView, Link, NodeView, Pop, Topology } from '../../../main/protocol/domain.ts';

/** A VI as the topology shows it; filled from the controllers' contract once it lands. */
export interface ViSummary {
  id: string;
  nodeId: string;
  cloudletId: string;
  reservationId: string | null;
  /** The controller's word for it (starting, running, failed, stopped...). */
  state: string;
  program: string | null;
  /** Last usage sample (CPU cores, memory) from the controller, if any. */
  usage: { cpuCores: number; memMiB: number } | null;
  /** Rates at its data-plane port from the last usage sample (absent: no port or no sample yet). */
  traffic?: ViTraffic;
  /** Network capacity it reserved (the traffic overlay's 100 %). */
  netMbps?: number;
  /** Quarantined by an operator: running, its rules removed, what it emits dropped. */
  quarantined?: boolean;
}

export interface ViTraffic {
  inPps: number;
  outPps: number;
  inBps: number;
  outBps: number;
}

export type TopologyItem =
  /** `host`: an end host (no cloudlet, one link at most), listed as a host rather than a PoP. */
  | { kind: 'pop'; elementId: string; id: string; label: string; pop: Pop; cloudletIds: string[]; host: boolean }
  | { kind: 'link'; elementId: string; id: string; label: string; link: Link }
  | { kind: 'cloudlet'; elementId: string; id: string; label: string; cloudlet: CloudletView }
  | { kind: 'node'; elementId: string; id: string; label: string; node: NodeView; cloudlet: CloudletView }
  | { kind: 'vi'; elementId: string; id: string; label: string; vi: ViSummary };

export type ItemKind = TopologyItem['kind'];

export const elementIdOf = {
  pop: (id: string) => `pop:${id}`,
  link: (link: Pick<Link, 'a' | 'b'>) => `link:${link.a}~${link.b}`,
  cloudlet: (id: string) => `cloudlet:${id}`,
  node: (id: string) => `node:${id}`,
  vi: (id: string) => `vi:${id}`,
} as const;

export interface TopologyIndex {
  items: Map<string, TopologyItem>;
  /** VIs of each node (by node domain id). */
  visByNode: Map<string, ViSummary[]>;
}

/** End hosts: PoPs with no cloudlet and at most one link (a user's or a server's machine, not a router). */
export function endHostIds(topology: Pick<Topology, 'pops' | 'links' | 'cloudlets'>): Set<string> {
  const withCloudlet = new Set(topology.cloudlets.map((c) => c.popId));
  const linkCount = new Map<string, number>();
  for (const l of topology.links) for (const end of [l.a, l.b]) linkCount.set(end, (linkCount.get(end) ?? 0) + 1);
  return new Set(topology.pops.filter((p) => !withCloudlet.has(p.id) && (linkCount.get(p.id) ?? 0) <= 1).map((p) => p.id));
}

export function indexTopology(topology: Topology | undefined, vis: ReadonlyMap<string, ViSummary[]>): TopologyIndex {
  const items = new Map<string, TopologyItem>();
  const visByNode = new Map<string, ViSummary[]>();
  if (!topology) return { items, visByNode };
  const cloudletsByPop = new Map<string, string[]>();
  for (const c of topology.cloudlets) {
    const list = cloudletsByPop.get(c.popId) ?? [];
    list.push(c.id);
    cloudletsByPop.set(c.popId, list);
  }
  const hosts = endHostIds(topology);
  for (const pop of topology.pops) {
    const cloudletIds = cloudletsByPop.get(pop.id) ?? [];
    const host = hosts.has(pop.id);
    items.set(elementIdOf.pop(pop.id), { kind: 'pop', elementId: elementIdOf.pop(pop.id), id: pop.id, label: pop.name || pop.id, pop, cloudletIds, host });
  }
  for (const link of topology.links) {
    const elementId = elementIdOf.link(link);
    items.set(elementId, { kind: 'link', elementId, id: `${link.a}~${link.b}`, label: linkLabel(link), link });
  }
  for (const cloudlet of topology.cloudlets) {
    items.set(elementIdOf.cloudlet(cloudlet.id), { kind: 'cloudlet', elementId: elementIdOf.cloudlet(cloudlet.id), id: cloudlet.id, label: cloudlet.id, cloudlet });
    for (const node of cloudlet.nodes) {
      items.set(elementIdOf.node(node.id), { kind: 'node', elementId: elementIdOf.node(node.id), id: node.id, label: node.id, node, cloudlet });
      const nodeVis = vis.get(node.id) ?? [];
      if (nodeVis.length) visByNode.set(node.id, nodeVis);
      for (const vi of nodeVis) items.set(elementIdOf.vi(vi.id), { kind: 'vi', elementId: elementIdOf.vi(vi.id), id: vi.id, label: vi.program ? `${vi.id} (${vi.program})` : vi.id, vi });
    }
  }
  return { items, visByNode };
}

export function linkLabel(link: Link): string {
  return `${formatRtt(link.rttMs)} · ${formatMbps(link.capacityMbps)}`;
}

export function formatRtt(ms: number): string {
  return ms < 10 ? `${Number(ms.toFixed(2))} ms` : `${Math.round(ms)} ms`;
}

export function formatMbps(mbps: number): string {
  if (mbps >= 1000 && mbps % 1000 === 0) return `${mbps / 1000} Gb/s`;
  if (mbps >= 1000) return `${(mbps / 1000).toFixed(1)} Gb/s`;
  return `${mbps} Mb/s`;
}

/**
 * Items whose id or label contains the query (case-insensitive), PoPs and
 * cloudlets before nodes, exact id matches first; at most `limit`.
 */
export function searchItems(items: ReadonlyMap<string, TopologyItem>, query: string, limit = 20): TopologyItem[] {
  const q = query.trim().toLowerCase();
  if (!q) return [];
  const rank: Record<ItemKind, number> = { pop: 0, cloudlet: 1, node: 2, vi: 3, link: 4 };
  const hits: { item: TopologyItem; score: number }[] = [];
  for (const item of items.values()) {
    const id = item.id.toLowerCase();
    const label = item.label.toLowerCase();
    if (!id.includes(q) && !label.includes(q)) continue;
    const exact = id === q ? 0 : id.startsWith(q) || label.startsWith(q) ? 1 : 2;
    hits.push({ item, score: exact * 10 + rank[item.kind] });
  }
  hits.sort((x, y) => x.score - y.score || x.item.id.localeCompare(y.item.id, undefined, { numeric: true }));
  return hits.slice(0, limit).map((h) => h.item);
}
