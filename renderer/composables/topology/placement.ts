/**
 * Where elements go when nobody has placed them yet. No force layout: it is
 * slow on thousands of nodes, and it moves everything when one thing changes.
 * Instead PoPs take saved positions, or a spot near a placed neighbour, or a
 * cell of a grid walked in breadth-first order of the link graph (so linked
 * PoPs land near each other); each cloudlet sits beside its PoP on the side
 * away from the PoP's links (below it when the links pull both ways), so no
 * link runs through a cloudlet box, and its nodes in a small grid inside it
 * (a cloudlet drawn collapsed sits where the middle of that grid is). The
 * same inputs always give the same positions.
 */
import type { Topology } from '../../../main/protocol/domain.ts';
import { elementIdOf, type ViSummary } from './topologyModel.ts';

export interface Position {
  x: number;
  y: number;
}

// Nodes sit far enough apart for their overlay lines ("cpu 25% reserved · 4% used") not to run into each other.
export const spacing = { cell: 480, cloudletDrop: 160, cloudletGap: 420, node: 170, nodeRow: 100, vi: 22 } as const;

/** PoP ids in breadth-first order over the links, starting from each unvisited PoP in input order. */
export function breadthFirstPops(topology: Topology): string[] {
  const neighbours = new Map<string, string[]>();
  for (const l of topology.links) {
    neighbours.set(l.a, [...(neighbours.get(l.a) ?? []), l.b]);
    neighbours.set(l.b, [...(neighbours.get(l.b) ?? []), l.a]);
  }
  const seen = new Set<string>();
  const order: string[] = [];
  for (const pop of topology.pops) {
    if (seen.has(pop.id)) continue;
    seen.add(pop.id);
    const queue = [pop.id];
    for (let i = 0; i < queue.length; i++) {
      const id = queue[i] as string;
      order.push(id);
      for (const n of neighbours.get(id) ?? []) {
        if (!seen.has(n)) {
          seen.add(n);
          queue.push(n);
        }
      }
    }
  }
  // Links may name PoPs the topology does not list; they get no cell.
  const popIds = new Set(topology.pops.map((p) => p.id));
  return order.filter((id) => popIds.has(id));
}

function defaultPopPositions(topology: Topology): Map<string, Position> {
  const order = breadthFirstPops(topology);
  const out = new Map<string, Position>();
  const n = order.length;
  if (n <= 8) {
    // A handful of PoPs read best on a line (a path like the DeterLab testbed) or a ring.
    const ring = n > 4;
    order.forEach((id, i) => {
      const angle = (2 * Math.PI * i) / n - Math.PI / 2;
      out.set(id, ring ? { x: Math.cos(angle) * spacing.cell * 1.2, y: Math.sin(angle) * spacing.cell * 0.9 } : { x: i * spacing.cell, y: 0 });
    });
    return out;
  }
  // Snake through the grid so consecutive (linked) PoPs stay adjacent at row ends too.
  const cols = Math.ceil(Math.sqrt(n));
  order.forEach((id, i) => {
    const row = Math.floor(i / cols);
    const col = row % 2 === 0 ? i % cols : cols - 1 - (i % cols);
    out.set(id, { x: col * spacing.cell, y: row * spacing.cell });
  });
  return out;
}

/**
 * Positions for every leaf element (PoPs, nodes without VIs, VIs, and
 * cloudlets for when they are drawn collapsed), keyed by
 * element id. `known` gives positions that must be kept (the graph's current
 * ones, then saved ones); everything else is placed near its parent.
 */
/**
 * Top-left node position of the k-th cloudlet of a PoP, its grid of cols x
 * rows nodes centred `cloudletDrop` plus half its size away from the PoP in
 * direction `dir`; further cloudlets of the same PoP step sideways.
 */
function besidePop(pop: Position, dir: Position, k: number, cols: number, rows: number): Position {
  const w = (cols - 1) * spacing.node;
  const h = (rows - 1) * spacing.nodeRow;
  // How far the grid's centre must be to keep its near edge `cloudletDrop` from the PoP, whatever the direction.
  const reach = spacing.cloudletDrop + Math.abs(dir.x) * (w / 2) + Math.abs(dir.y) * (h / 2);
  const side = { x: -dir.y, y: dir.x };
  const cx = pop.x + dir.x * reach + side.x * k * spacing.cloudletGap;
  const cy = pop.y + dir.y * reach + side.y * k * spacing.cloudletGap;
  return { x: cx - w / 2, y: cy - h / 2 };
}

export function placeElements(topology: Topology, visByNode: ReadonlyMap<string, ViSummary[]>, known: (elementId: string) => Position | undefined): Map<string, Position> {
  const out = new Map<string, Position>();
  let defaults: Map<string, Position> | undefined;
  const neighbours = new Map<string, string[]>();
  for (const l of topology.links) {
    neighbours.set(l.a, [...(neighbours.get(l.a) ?? []), l.b]);
    neighbours.set(l.b, [...(neighbours.get(l.b) ?? []), l.a]);
  }
  const unplaced: string[] = [];
  for (const pop of topology.pops) {
    const p = known(elementIdOf.pop(pop.id));
    if (p) out.set(elementIdOf.pop(pop.id), p);
    else unplaced.push(pop.id);
  }
  const anyKnown = out.size > 0;
  for (const [i, id] of unplaced.entries()) {
    const placedNeighbour = anyKnown ? (neighbours.get(id) ?? []).map((n) => out.get(elementIdOf.pop(n))).find((p) => p !== undefined) : undefined;
    if (placedNeighbour) {
      // Beside a neighbour that stays put, fanned out so several newcomers do not overlap.
      const angle = (i * 2.4) % (2 * Math.PI);
      out.set(elementIdOf.pop(id), { x: placedNeighbour.x + Math.cos(angle) * spacing.cell * 0.8, y: placedNeighbour.y + Math.sin(angle) * spacing.cell * 0.8 });
    } else {
      defaults ??= defaultPopPositions(topology);
      out.set(elementIdOf.pop(id), defaults.get(id) ?? { x: 0, y: 0 });
    }
  }
  /** Unit vector from a PoP away from its linked neighbours (straight down when they balance out). */
  const awayFromLinks = (popId: string): Position => {
    const at = out.get(elementIdOf.pop(popId));
    let x = 0;
    let y = 0;
    for (const n of neighbours.get(popId) ?? []) {
      const there = out.get(elementIdOf.pop(n));
      if (!at || !there) continue;
      const d = Math.hypot(there.x - at.x, there.y - at.y) || 1;
      x -= (there.x - at.x) / d;
      y -= (there.y - at.y) / d;
    }
    const len = Math.hypot(x, y);
    return len < 0.5 ? { x: 0, y: 1 } : { x: x / len, y: y / len };
  };
  const cloudletIndexAtPop = new Map<string, number>();
  for (const cloudlet of topology.cloudlets) {
    const k = cloudletIndexAtPop.get(cloudlet.popId) ?? 0;
    cloudletIndexAtPop.set(cloudlet.popId, k + 1);
    const pop = out.get(elementIdOf.pop(cloudlet.popId)) ?? { x: 0, y: 0 };
    const cols = Math.max(1, Math.ceil(Math.sqrt(cloudlet.nodes.length)));
    // The first placed node anchors the rest, so a moved cloudlet's newcomers join it.
    const anchorIndex = cloudlet.nodes.findIndex((n) => known(elementIdOf.node(n.id)) !== undefined);
    const anchorNode = anchorIndex >= 0 ? cloudlet.nodes[anchorIndex] : undefined;
    const anchorPos = anchorNode ? known(elementIdOf.node(anchorNode.id)) : undefined;
    const rows = Math.ceil(cloudlet.nodes.length / cols);
    // A cloudlet shown collapsed (one node) has a position of its own: expanding it grows around it.
    const collapsedAt = anchorPos ? undefined : known(elementIdOf.cloudlet(cloudlet.id));
    const origin =
      anchorPos && anchorIndex >= 0
        ? { x: anchorPos.x - (anchorIndex % cols) * spacing.node, y: anchorPos.y - Math.floor(anchorIndex / cols) * spacing.nodeRow }
        : collapsedAt
          ? { x: collapsedAt.x - ((cols - 1) * spacing.node) / 2, y: collapsedAt.y - ((rows - 1) * spacing.nodeRow) / 2 }
          : besidePop(pop, awayFromLinks(cloudlet.popId), k, cols, rows);
    let sumX = 0;
    let sumY = 0;
    cloudlet.nodes.forEach((node, j) => {
      const id = elementIdOf.node(node.id);
      const p = known(id) ?? { x: origin.x + (j % cols) * spacing.node, y: origin.y + Math.floor(j / cols) * spacing.nodeRow };
      sumX += p.x;
      sumY += p.y;
      const nodeVis = visByNode.get(node.id);
      if (!nodeVis?.length) {
        out.set(id, p);
        return;
      }
      // A node with VIs becomes a compound: its VIs sit in a row where the node was.
      nodeVis.forEach((vi, v) => {
        const viId = elementIdOf.vi(vi.id);
        out.set(viId, known(viId) ?? { x: p.x + (v - (nodeVis.length - 1) / 2) * spacing.vi, y: p.y });
      });
    });
    const n = Math.max(1, cloudlet.nodes.length);
    out.set(elementIdOf.cloudlet(cloudlet.id), collapsedAt ?? { x: Math.round(sumX / n), y: Math.round(sumY / n) });
  }
  return out;
}
