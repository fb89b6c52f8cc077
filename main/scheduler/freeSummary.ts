/**
 * Summaries of the most a tenant could find free, so admission can skip a
 * cloudlet (or a node) that cannot possibly fit without walking its step
 * functions (issue 10, defect 6: a booked-out request walked all 10,000 nodes).
 *
 * Time from `origin` is cut into `leaves` equal blocks (a power of two) and
 * arranged as a segment tree: tree node t covers a run of whole blocks. Per
 * node and tree node we keep, per resource, the least the node has free for
 * tenants anywhere in that run (a node that fits a request must have at least
 * the request's need free at every instant, so also at that worst one); per
 * cloudlet and tree node, the most of that over its nodes. A sub-slot that
 * fully covers a run whose cloudlet value is below its need proves that no node
 * of the cloudlet fits; the per-node values then prove it node by node.
 *
 * Only whole blocks inside a sub-slot are used, so every test is conservative:
 * it may fail to prune, never prune a node that fits. Values are stored as
 * 32-bit floats rounded up (half the memory, still never below the truth).
 * Everything is recomputed from the nodes' step functions (minTenantFree) for
 * the blocks a place or release touched, so the summary reads exactly what
 * the full walk reads. ISP requests (which may use the ISP share) are not
 * pruned: they are rare and the tenant values would understate their room.
 *
 * Memory: nodes x 2 x leaves x 4 floats (10,000 nodes, 128 leaves: 41 MB).
 */
import type { Inventory } from './inventory.ts';
import { EPS, type NodeTimeline } from './timeline.ts';

export interface SummaryOptions {
  /** Length of one block; a sub-slot shorter than a block is never pruned. Default 12 h. */
  readonly leafMs?: number;
  /** Blocks in the tree (a power of two). Default 128: 64 days of 12 h. */
  readonly leaves?: number;
}

/** The next float32 at or above x, so a stored value never understates the free capacity. */
function roundUp(x: number): number {
  const f = Math.fround(x);
  return f >= x ? f : f + Math.max(Math.abs(f) * 2 ** -23, 1e-30);
}

export class FreeSummary {
  readonly leafMs: number;
  readonly leaves: number;
  /** Start of block 0; null until the first build. */
  origin: number | null = null;
  private readonly inventory: Inventory;
  private readonly timelines: readonly NodeTimeline[];
  /** Per node: 2 x leaves tree nodes x 4 resources (index 0 unused, heap order). */
  private readonly byNode: Float32Array;
  /** Per cloudlet: the most over its nodes, same layout. */
  private readonly byCloudlet: Float32Array;
  private readonly cloudletOf: Int32Array;
  private readonly stride: number;
  private readonly scratch = [0, 0, 0, 0];
  private readonly scratchOld = [0, 0, 0, 0];
  /** Blocks before this one start before the trimmed past: unknown, never pruned. */
  private unknownBefore = 0;

  constructor(inventory: Inventory, timelines: readonly NodeTimeline[], options: SummaryOptions = {}) {
    this.inventory = inventory;
    this.timelines = timelines;
    this.leafMs = options.leafMs ?? 12 * 3_600_000;
    this.leaves = options.leaves ?? 128;
    if (!Number.isInteger(Math.log2(this.leaves))) throw new Error(`summary leaves must be a power of two, not ${this.leaves}`);
    this.stride = 2 * this.leaves * 4;
    this.byNode = new Float32Array(inventory.nodes.length * this.stride);
    this.byCloudlet = new Float32Array(inventory.cloudlets.length * this.stride);
    const cloudletIndex = new Map(inventory.cloudlets.map((c, i) => [c.id, i]));
    this.cloudletOf = Int32Array.from(inventory.nodes, (n) => cloudletIndex.get(n.cloudletId) ?? 0);
  }

  get ready(): boolean {
    return this.origin !== null;
  }

  /** Everything from the step functions, with block 0 starting at `origin`. */
  build(origin: number): void {
    this.origin = Math.floor(origin / this.leafMs) * this.leafMs;
    this.unknownBefore = 0;
    this.refreshLeaves(0, this.leaves);
  }

  /**
   * The step functions forgot the past before x (it now reads as free): the
   * blocks that start before x are marked unknown (+Infinity, never pruned),
   * and the origin moves once it lags a quarter of the tree behind.
   */
  trimmed(x: number): void {
    if (this.origin === null) return;
    if (x < this.origin || x > this.origin + (this.leaves * this.leafMs) / 4) {
      this.build(x);
      return;
    }
    const upTo = Math.min(this.leaves, Math.ceil((x - this.origin) / this.leafMs));
    if (upTo <= this.unknownBefore) return;
    for (const node of this.inventory.nodes) {
      const base = node.index * this.stride;
      this.byNode.fill(Infinity, base + (this.leaves + this.unknownBefore) * 4, base + (this.leaves + upTo) * 4);
    }
    this.refreshAbove(this.unknownBefore, upTo);
    this.unknownBefore = upTo;
  }

  /** Recomputes blocks [lo, hi) of every node, then every ancestor and every cloudlet value. */
  private refreshLeaves(lo: number, hi: number): void {
    if (hi <= lo) return;
    for (const node of this.inventory.nodes) this.recomputeLeaves(node.index, lo, hi);
    this.refreshAbove(lo, hi);
  }

  /** After blocks [lo, hi) changed for every node: their ancestors, and the cloudlet values of all of them. */
  private refreshAbove(lo: number, hi: number): void {
    const B = this.leaves;
    for (let a = (lo + B) >> 1, b = (hi - 1 + B) >> 1; a >= 1; a >>= 1, b >>= 1) {
      for (const node of this.inventory.nodes) for (let t = a; t <= b; t++) this.pullUp(node.index, t);
    }
    for (let c = 0; c < this.inventory.cloudlets.length; c++) {
      for (let a = lo + B, b = hi - 1 + B; a >= 1; a >>= 1, b >>= 1) for (let t = a; t <= b; t++) for (let k = 0; k < 4; k++) this.rescan(c, t, k);
    }
  }

  private recomputeLeaves(nodeIndex: number, lo: number, hi: number): void {
    const origin = this.origin as number;
    const node = this.inventory.nodes[nodeIndex];
    const timeline = this.timelines[nodeIndex];
    if (!node || !timeline) return;
    const out = this.scratch;
    const base = nodeIndex * this.stride;
    for (let j = lo; j < hi; j++) {
      const from = origin + j * this.leafMs;
      timeline.minTenantFree(from, from + this.leafMs, node.limits, out);
      const o = base + (this.leaves + j) * 4;
      for (let k = 0; k < 4; k++) this.byNode[o + k] = roundUp(out[k] as number);
    }
  }

  /** A node's value for tree node t: the least of its two halves. */
  private pullUp(nodeIndex: number, t: number): void {
    const base = nodeIndex * this.stride;
    const o = base + t * 4;
    const l = base + 2 * t * 4;
    const r = l + 4;
    for (let k = 0; k < 4; k++) this.byNode[o + k] = Math.min(this.byNode[l + k] as number, this.byNode[r + k] as number);
  }

  /** A cloudlet's value for tree node t and resource k: the most over its nodes. */
  private rescan(cloudletIndex: number, t: number, k: number): void {
    const cloudlet = this.inventory.cloudlets[cloudletIndex];
    if (!cloudlet) return;
    let most = -Infinity;
    for (const n of cloudlet.nodes) {
      const x = this.byNode[n.index * this.stride + t * 4 + k] as number;
      if (x > most) most = x;
    }
    this.byCloudlet[cloudletIndex * this.stride + t * 4 + k] = most;
  }

  /** The node's commitments changed over [from, to): refresh the blocks that overlap it and their ancestors. */
  nodeChanged(nodeIndex: number, from: number, to: number): void {
    if (this.origin === null) return;
    const lo = Math.max(this.unknownBefore, Math.floor((from - this.origin) / this.leafMs));
    const hi = Math.min(this.leaves, Math.ceil((to - this.origin) / this.leafMs));
    if (hi <= lo) return;
    const B = this.leaves;
    const c = this.cloudletOf[nodeIndex] as number;
    const base = nodeIndex * this.stride;
    const old = this.scratchOld;
    for (let a = lo + B, b = hi - 1 + B; a >= 1; a >>= 1, b >>= 1) {
      for (let t = a; t <= b; t++) {
        const o = base + t * 4;
        for (let k = 0; k < 4; k++) old[k] = this.byNode[o + k] as number;
        if (t >= B) this.recomputeLeaves(nodeIndex, t - B, t - B + 1);
        else this.pullUp(nodeIndex, t);
        // The cloudlet's most: raised in place, rescanned only when this node held it and went down.
        const oc = c * this.stride + t * 4;
        for (let k = 0; k < 4; k++) {
          const mine = this.byNode[o + k] as number;
          const most = this.byCloudlet[oc + k] as number;
          if (mine > most) this.byCloudlet[oc + k] = mine;
          else if (mine < (old[k] as number) && (old[k] as number) >= most) this.rescan(c, t, k);
        }
      }
    }
  }

  /**
   * The tree nodes that sub-slots [from, to) cover whole, each with the need
   * it must meet, flattened as (tree node, sub-slot) pairs for the checks below.
   */
  covered(profile: readonly { from: number; to: number }[]): number[] {
    const pairs: number[] = [];
    if (this.origin === null) return pairs;
    const B = this.leaves;
    for (let i = 0; i < profile.length; i++) {
      const s = profile[i] as { from: number; to: number };
      let l = Math.max(0, Math.ceil((s.from - this.origin) / this.leafMs)) + B;
      let r = Math.min(B, Math.floor((s.to - this.origin) / this.leafMs)) + B;
      while (l < r) {
        if (l & 1) pairs.push(l++, i);
        if (r & 1) pairs.push(--r, i);
        l >>= 1;
        r >>= 1;
      }
    }
    return pairs;
  }

  /** False when some covered run leaves every node of the cloudlet short of a need. */
  cloudletMayFit(cloudletIndex: number, pairs: readonly number[], needs: readonly (readonly number[])[]): boolean {
    return this.mayFit(this.byCloudlet, cloudletIndex * this.stride, pairs, needs);
  }

  /** False when some covered run leaves the node short of a need. */
  nodeMayFit(nodeIndex: number, pairs: readonly number[], needs: readonly (readonly number[])[]): boolean {
    return this.mayFit(this.byNode, nodeIndex * this.stride, pairs, needs);
  }

  private mayFit(values: Float32Array, base: number, pairs: readonly number[], needs: readonly (readonly number[])[]): boolean {
    for (let p = 0; p < pairs.length; p += 2) {
      const o = base + (pairs[p] as number) * 4;
      const need = needs[pairs[p + 1] as number] as readonly number[];
      for (let k = 0; k < 4; k++) if ((need[k] as number) > (values[o + k] as number) + EPS) return false;
    }
    return true;
  }

  /** The stored value of one node for one block, for tests that compare it with a recomputation. */
  leafOf(nodeIndex: number, leaf: number): number[] {
    const o = nodeIndex * this.stride + (this.leaves + leaf) * 4;
    return Array.from(this.byNode.subarray(o, o + 4));
  }

  /** The stored value of one cloudlet for one tree node, for tests. */
  cloudletValue(cloudletIndex: number, t: number): number[] {
    const o = cloudletIndex * this.stride + t * 4;
    return Array.from(this.byCloudlet.subarray(o, o + 4));
  }
}
