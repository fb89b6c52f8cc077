/**
 * Where elements go when nobody has placed them yet. No force layout: it is
 * slow on thousands of nodes, and it moves everything when one thing changes.
 * Instead PoPs take saved positions, or a spot near a placed neighbour, or a
 * cell of a grid walked in breadth-first order of the link graph (so linked
 * PoPs land near each other), end hosts hanging off their router on the side
 * away from its other links; each cloudlet sits beside its PoP in the widest
 * gap between the PoP's links (below it when two gaps are as wide), so no
 * link runs through a cloudlet box, and its nodes in a small grid inside it
 * (a cloudlet drawn collapsed sits where the middle of that grid is). The
 * same inputs always give the same positions.
 */
import type { Topology } from '../../../main/protocol/domain.ts';
import { elementIdOf, endHostIds, type ViSummary } from './topologyModel.ts';

export interface Position {
  x: number;
  y: number;
}

// Nodes sit far enough apart for their overlay lines ("cpu 25% reserved · 4% used") not to run into each other.
export const spacing = { cell: 480, cloudletDrop: 160, cloudletGap: 420, host: 300, node: 170, nodeRow: 100, vi: 22 } as const;
/** Angle between end hosts hanging off the same router. */
const hostFan = Math.PI / 5;

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

function neighboursOf(links: Topology['links']): Map<string, string[]> {
  const neighbours = new Map<string, string[]>();
  for (const l of links) {
    neighbours.set(l.a, [...(neighbours.get(l.a) ?? []), l.b]);
    neighbours.set(l.b, [...(neighbours.get(l.b) ?? []), l.a]);
  }
  return neighbours;
}

/** Unit vector from `at` away from `others` (undefined when they balance out or there are none). */
function awayFrom(at: Position, others: Position[]): Position | undefined {
  let x = 0;
  let y = 0;
  for (const there of others) {
    const d = Math.hypot(there.x - at.x, there.y - at.y) || 1;
    x -= (there.x - at.x) / d;
    y -= (there.y - at.y) / d;
  }
  const len = Math.hypot(x, y);
  return len < 0.5 ? undefined : { x: x / len, y: y / len };
}

/** Unit vector into the widest angular gap between the directions to `others` (straight down when there are none, or on a tie). */
function widestGap(at: Position, others: Position[]): Position {
  const angles = others.map((p) => Math.atan2(p.y - at.y, p.x - at.x)).sort((a, b) => a - b);
  if (!angles.length) return { x: 0, y: 1 };
  const down = Math.PI / 2;
  let best = { width: -1, mid: down };
  angles.forEach((a, i) => {
    const next = i + 1 < angles.length ? (angles[i + 1] as number) : (angles[0] as number) + 2 * Math.PI;
    const width = next - a;
    const mid = a + width / 2;
    const offDown = (m: number): number => Math.abs(Math.atan2(Math.sin(m - down), Math.cos(m - down)));
    if (width > best.width + 1e-6 || (Math.abs(width - best.width) <= 1e-6 && offDown(mid) < offDown(best.mid))) best = { width, mid };
  });
  return { x: Math.cos(best.mid), y: Math.sin(best.mid) };
}

/**
 * End hosts (a user's machine on its access router) hang off their router
 * outwards, so the backbone keeps the line or ring it would have without them.
 */
function defaultPopPositions(topology: Topology): Map<string, Position> {
  const ends = endHostIds(topology);
  const neighbours = neighboursOf(topology.links);
  const routerOf = new Map<string, string>();
  for (const id of ends) {
    const router = neighbours.get(id)?.[0];
    if (router !== undefined && !ends.has(router)) routerOf.set(id, router);
  }
  const backbone: Topology = routerOf.size
    ? { ...topology, pops: topology.pops.filter((p) => !routerOf.has(p.id)), links: topology.links.filter((l) => !routerOf.has(l.a) && !routerOf.has(l.b)) }
    : topology;
  const out = backbonePositions(backbone);
  const backboneNeighbours = neighboursOf(backbone.links);
  const hostsOf = new Map<string, string[]>();
  for (const [host, router] of routerOf) hostsOf.set(router, [...(hostsOf.get(router) ?? []), host]);
  for (const [router, hosts] of hostsOf) {
    const at = out.get(router) ?? { x: 0, y: 0 };
    // Up when the router's links balance out: its cloudlets go below it.
    const outwards = awayFrom(at, (backboneNeighbours.get(router) ?? []).flatMap((n) => out.get(n) ?? [])) ?? { x: 0, y: -1 };
    hosts.forEach((id, k) => {
      const angle = Math.atan2(outwards.y, outwards.x) + (k - (hosts.length - 1) / 2) * hostFan;
      out.set(id, { x: at.x + Math.cos(angle) * spacing.host, y: at.y + Math.sin(angle) * spacing.host });
    });
  }
  return out;
}

function backbonePositions(topology: Topology): Map<string, Position> {
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
  const neighbours = neighboursOf(topology.links);
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
  /** Unit vector from a PoP into the widest gap between its links. */
  const awayFromLinks = (popId: string): Position => {
    const at = out.get(elementIdOf.pop(popId));
    return at ? widestGap(at, (neighbours.get(popId) ?? []).flatMap((n) => out.get(elementIdOf.pop(n)) ?? [])) : { x: 0, y: 1 };
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
