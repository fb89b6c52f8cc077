/**
 * The topology as cytoscape element definitions: PoPs, links (labelled with
 * RTT and capacity), cloudlets as compound nodes holding their nodes, nodes
 * holding their VIs, and a dashed edge attaching each cloudlet to its PoP.
 * Active overlays add classes and one label line each. Each definition also
 * carries a signature, so the graph can skip elements that did not change.
 */
import type { ElementDefinition } from 'cytoscape';
import type { OverlayContext, TopologyOverlay } from './topologyOverlay.ts';
import { elementIdOf, type TopologyIndex, type TopologyItem } from './topologyModel.ts';

export interface GraphElement {
  def: ElementDefinition;
  /** label + classes: what changes when data changes. */
  signature: string;
  group: 'nodes' | 'edges';
  /** Leaf nodes get a position; compounds take theirs from their children. */
  leaf: boolean;
}

const kindOrder: Record<TopologyItem['kind'], number> = { pop: 0, cloudlet: 1, node: 2, vi: 3, link: 4 };

/** The classes (its kind, then each active overlay's) and label lines an item is drawn with; the outline shows the same. */
export function overlayDecoration(item: TopologyItem, overlays: readonly TopologyOverlay[], ctx: OverlayContext): { classes: string; lines: string[] } {
  const classes: string[] = [item.kind];
  const lines: string[] = [];
  for (const overlay of overlays) {
    const d = overlay.decorate(item, ctx);
    if (!d) continue;
    classes.push(...d.classes);
    if (d.line) lines.push(d.line);
  }
  return { classes: classes.join(' '), lines };
}

/**
 * `collapsed(cloudletId)`: draw that cloudlet as one node summarising its
 * nodes, without them (the level of detail of big topologies; see
 * useTopologyGraph.ts).
 */
export function buildGraphElements(index: TopologyIndex, overlays: readonly TopologyOverlay[], ctx: OverlayContext, collapsed: (cloudletId: string) => boolean = () => false): GraphElement[] {
  const out: GraphElement[] = [];
  const items = [...index.items.values()].sort((a, b) => kindOrder[a.kind] - kindOrder[b.kind]);
  for (const item of items) {
    const cloudletOf = item.kind === 'node' ? item.cloudlet.id : item.kind === 'vi' ? item.vi.cloudletId : undefined;
    if (cloudletOf !== undefined && collapsed(cloudletOf)) continue;
    const folded = item.kind === 'cloudlet' && collapsed(item.id);
    const { classes: decorated, lines } = overlayDecoration(item, overlays, ctx);
    const classes = folded ? `${decorated} collapsed` : decorated;
    const label = [folded && item.kind === 'cloudlet' ? `${item.label} · ${item.cloudlet.nodes.length} nodes` : item.label, ...lines].join('\n');
    const signature = `${label}|${classes}`;
    switch (item.kind) {
      case 'pop':
        out.push({ group: 'nodes', leaf: true, signature, def: { group: 'nodes', data: { id: item.elementId, label }, classes } });
        break;
      case 'cloudlet':
        out.push({ group: 'nodes', leaf: folded, signature, def: { group: 'nodes', data: { id: item.elementId, label }, classes } });
        out.push({
          group: 'edges',
          leaf: false,
          signature: 'attach',
          def: { group: 'edges', data: { id: `attach:${item.id}`, source: elementIdOf.pop(item.cloudlet.popId), target: item.elementId }, classes: 'attach' },
        });
        break;
      case 'node': {
        const hasVis = index.visByNode.has(item.id);
        out.push({ group: 'nodes', leaf: !hasVis, signature, def: { group: 'nodes', data: { id: item.elementId, label, parent: elementIdOf.cloudlet(item.cloudlet.id) }, classes } });
        break;
      }
      case 'vi':
        out.push({ group: 'nodes', leaf: true, signature, def: { group: 'nodes', data: { id: item.elementId, label, parent: elementIdOf.node(item.vi.nodeId) }, classes } });
        break;
      case 'link':
        out.push({
          group: 'edges',
          leaf: false,
          signature,
          def: {
            group: 'edges',
            data: { id: item.elementId, label, source: elementIdOf.pop(item.link.a), target: elementIdOf.pop(item.link.b), width: linkWidth(item.link.capacityMbps) },
            classes,
          },
        });
        break;
    }
  }
  // Edges whose ends are missing (a link to an unlisted PoP) would make cytoscape throw.
  const nodeIds = new Set(out.filter((e) => e.group === 'nodes').map((e) => e.def.data.id));
  return out.filter((e) => e.group === 'nodes' || (nodeIds.has(e.def.data.source as string) && nodeIds.has(e.def.data.target as string)));
}

/** Wider lines for fatter pipes: 1.5 px at 10 Mb/s to 7 px at 100 Gb/s, on a log scale. */
export function linkWidth(capacityMbps: number): number {
  const l = Math.log10(Math.max(10, Math.min(100_000, capacityMbps)));
  return Math.round((1.5 + ((l - 1) / 4) * 5.5) * 10) / 10;
}
