/**
 * Summaries of the most a tenant could find free, so admission can skip a
 * cloudlet (or a node) that cannot possibly fit without walking its step
 * functions (without them a booked-out request walked all 10,000 nodes).
 *
 * Time from `origin` is cut into `leaves` equal blocks (a power of two).
 *
 * Per node, a segment tree over the blocks holds, per resource, the least the
 * node has free for tenants anywhere in each run of blocks: a node that fits a
 * request has at least its need free at every instant, so also at that worst
 * one. The runs a sub-slot covers whole give the node's exact least free over
 * them in O(log blocks) reads, without its step function.
 *
 * Per cloudlet, for every window of 2^L blocks (up to a quarter of the span)
 * starting at every block (a sparse table), the most of that over its nodes.
 * A sub-slot covering blocks [a, b) is checked against the two largest
 * windows inside it, one flush with each end. Why windows and not the segment
 * tree's runs: the runs of a long sub-slot are short (alignment), and among a
 * hundred nodes one is nearly always idle for a week, while one idle for the
 * same sixteen days as the request is rare. On bench:scheduler (100 nodes a
 * cloudlet, a 29-day whole-node request) aligned runs took a refusal from 64
 * to 40 ms (loaded machine, same run); the windows to 0.24 ms against 15.8.
 *
 * Only whole blocks inside a sub-slot are used, so every test is conservative:
 * it may fail to prune, never prune a node that fits. Values are stored as
 * 32-bit floats rounded up (half the memory, never below the truth), and are
 * recomputed from the step functions (NodeTimeline.minTenantFree) for the
 * blocks a place or release touched, so they read exactly what the full walk
 * reads. ISP requests (which may use the ISP share) are not pruned: they are
 * rare and the tenant values would understate their room.
 *
 * Memory: nodes x 2 x leaves x 4 floats (10,000 nodes, 128 leaves: 41 MB),
 * plus cloudlets x leaves x (log2(leaves) - 1) x 4 x 5 bytes (100: 1.5 MB).
 */
import type { Inventory } from './inventory.ts';
import { EPS, type NodeTimeline } from './timeline.ts';

export interface SummaryOptions {
  /** Length of one block; a sub-slot shorter than a block is never pruned. Default 12 h. */
  readonly leafMs?: number;
  /** Blocks covered (a power of two). Default 128: 64 days of 12 h. */
  readonly leaves?: number;
}

/** The next float32 at or above x, so a stored value never overstates a shortage. */
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
  private readonly levels: number;
  /** Per node: a segment tree in heap order (2 x leaves slots, slot 0 unused) x 4 resources. */
  private readonly byNode: Float32Array;
  private readonly nodeStride: number;
  /** Per cloudlet, level L and start block i: the most over its nodes of their least free over [i, i + 2^L). */
  private readonly byCloudlet: Float32Array;
  /**
   * Set where the node holding a cloudlet's most went down: the stored value
   * is then an upper bound (still safe to prune with), made exact again only
   * when a check needs it. Rescanning a hundred nodes at every place made the
   * p99 of a place 9 ms; most of those windows are never asked about.
   */
  private readonly loose: Uint8Array;
  private readonly cloudletStride: number;
  private readonly cloudletOf: Int32Array;
  private readonly scratch = [0, 0, 0, 0];
  private readonly window = new Float64Array(4);
  private readonly oldWindows: Float64Array;
  private readonly newWindows: Float64Array;
  private readonly sliding: Float64Array;
  /** Blocks before this one start before the trimmed past: unknown (+Infinity), never pruned. */
  private unknownBefore = 0;

  constructor(inventory: Inventory, timelines: readonly NodeTimeline[], options: SummaryOptions = {}) {
    this.inventory = inventory;
    this.timelines = timelines;
    this.leafMs = options.leafMs ?? 12 * 3_600_000;
    this.leaves = options.leaves ?? 128;
    if (!Number.isInteger(Math.log2(this.leaves)) || this.leaves < 2) throw new Error(`summary leaves must be a power of two of at least 2, not ${this.leaves}`);
    // Windows up to a quarter of the span: longer ones would only serve requests longer than the horizon.
    this.levels = Math.max(1, Math.log2(this.leaves) - 1);
    this.nodeStride = 2 * this.leaves * 4;
    this.cloudletStride = this.levels * this.leaves * 4;
    this.byNode = new Float32Array(inventory.nodes.length * this.nodeStride);
    this.byCloudlet = new Float32Array(inventory.cloudlets.length * this.cloudletStride);
    this.loose = new Uint8Array(inventory.cloudlets.length * this.cloudletStride);
    const cloudletIndex = new Map(inventory.cloudlets.map((c) => [c.id, c.index]));
    this.cloudletOf = Int32Array.from(inventory.nodes, (n) => cloudletIndex.get(n.cloudletId) ?? 0);
    this.oldWindows = new Float64Array(this.levels * this.leaves * 4);
    this.newWindows = new Float64Array(this.levels * this.leaves * 4);
    this.sliding = new Float64Array(this.leaves * 4);
  }

  /** How much time the blocks cover from the origin. */
  get spanMs(): number {
    return this.leaves * this.leafMs;
  }

  get ready(): boolean {
    return this.origin !== null;
  }

  /** Everything from the step functions, with block 0 starting at `origin` (rounded down to a block). */
  build(origin: number): void {
    this.origin = Math.floor(origin / this.leafMs) * this.leafMs;
    this.unknownBefore = 0;
    for (const node of this.inventory.nodes) this.recomputeLeaves(node.index, 0, this.leaves);
    this.refreshAll();
  }

  /**
   * The step functions forgot the past before x (it now reads as free): the
   * blocks that start before x become unknown, and the origin moves once it
   * lags a quarter of the span behind (or lies ahead of x).
   */
  trimmed(x: number): void {
    if (this.origin === null) return;
    if (x < this.origin || x > this.origin + this.spanMs / 4) {
      this.build(x);
      return;
    }
    const upTo = Math.min(this.leaves, Math.ceil((x - this.origin) / this.leafMs));
    if (upTo <= this.unknownBefore) return;
    for (const node of this.inventory.nodes) {
      const base = node.index * this.nodeStride;
      this.byNode.fill(Infinity, base + (this.leaves + this.unknownBefore) * 4, base + (this.leaves + upTo) * 4);
    }
    this.unknownBefore = upTo;
    this.refreshAll();
  }

  /** Every node's tree above its blocks, then every cloudlet window, folding node by node. */
  private refreshAll(): void {
    const B = this.leaves;
    this.byCloudlet.fill(-Infinity);
    this.loose.fill(0);
    const w = this.newWindows;
    for (const node of this.inventory.nodes) {
      for (let t = B - 1; t >= 1; t--) this.pullUp(node.index, t);
      this.windowsAround(node.index, 0, B, w);
      const c = this.cloudletOf[node.index] as number;
      for (let L = 0; L < this.levels; L++) {
        for (let i = 0; i < B - (1 << L) + 1; i++) {
          const o = (c * this.levels + L) * B * 4 + i * 4;
          for (let k = 0; k < 4; k++) {
            const x = w[(L * B + i) * 4 + k] as number;
            if (x > (this.byCloudlet[o + k] as number)) this.byCloudlet[o + k] = x;
          }
        }
      }
    }
  }

  private recomputeLeaves(nodeIndex: number, lo: number, hi: number): void {
    const origin = this.origin as number;
    const node = this.inventory.nodes[nodeIndex];
    const timeline = this.timelines[nodeIndex];
    if (!node || !timeline) return;
    const out = this.scratch;
    const base = nodeIndex * this.nodeStride;
    for (let j = lo; j < hi; j++) {
      const from = origin + j * this.leafMs;
      timeline.minTenantFree(from, from + this.leafMs, node.limits, out);
      const o = base + (this.leaves + j) * 4;
      for (let k = 0; k < 4; k++) this.byNode[o + k] = roundUp(out[k] as number);
    }
  }

  /** A node's value for tree node t: the least of its two halves. */
  private pullUp(nodeIndex: number, t: number): void {
    const base = nodeIndex * this.nodeStride;
    const o = base + t * 4;
    const l = base + 2 * t * 4;
    const r = l + 4;
    for (let k = 0; k < 4; k++) this.byNode[o + k] = Math.min(this.byNode[l + k] as number, this.byNode[r + k] as number);
  }

  /** The node's least free over blocks [lo, hi), from its tree, into this.window. */
  private nodeLeast(nodeIndex: number, lo: number, hi: number): Float64Array {
    const out = this.window;
    out.fill(Infinity);
    const base = nodeIndex * this.nodeStride;
    let l = lo + this.leaves;
    let r = hi + this.leaves;
    while (l < r) {
      if (l & 1) this.foldMin(base + l++ * 4, out);
      if (r & 1) this.foldMin(base + --r * 4, out);
      l >>= 1;
      r >>= 1;
    }
    return out;
  }

  private foldMin(o: number, out: Float64Array): void {
    for (let k = 0; k < 4; k++) {
      const x = this.byNode[o + k] as number;
      if (x < (out[k] as number)) out[k] = x;
    }
  }

  /**
   * The node's least free in every window that overlaps blocks [lo, hi), into
   * out[(L x leaves + i) x 4 + k], by doubling from its blocks (window (i, L) is
   * the least of (i, L-1) and (i + 2^(L-1), L-1)) over just the stretch they span.
   */
  private windowsAround(nodeIndex: number, lo: number, hi: number, out: Float64Array): void {
    const B = this.leaves;
    const reach = (1 << (this.levels - 1)) - 1;
    const s0 = Math.max(0, lo - reach);
    const e0 = Math.min(B, hi + reach);
    const w = this.sliding;
    const base = nodeIndex * this.nodeStride + B * 4;
    for (let i = s0 * 4; i < e0 * 4; i++) w[i] = this.byNode[base + i] as number;
    for (let L = 0; L < this.levels; L++) {
      const size = 1 << L;
      const half = size >> 1;
      const end = Math.min(hi, e0 - size + 1);
      // Ascending, in place: (i + half) still holds level L-1 when (i) is replaced.
      for (let i = s0; i < e0 - size + 1; i++) {
        for (let k = 0; k < 4; k++) {
          if (L > 0) w[i * 4 + k] = Math.min(w[i * 4 + k] as number, w[(i + half) * 4 + k] as number);
          if (i >= lo - size + 1 && i < end) out[(L * B + i) * 4 + k] = w[i * 4 + k] as number;
        }
      }
    }
  }

  /** The node's commitments changed over [from, to): refresh the blocks that overlap it, their runs and windows. */
  nodeChanged(nodeIndex: number, from: number, to: number): void {
    if (this.origin === null) return;
    const B = this.leaves;
    const lo = Math.max(this.unknownBefore, Math.floor((from - this.origin) / this.leafMs));
    const hi = Math.min(B, Math.ceil((to - this.origin) / this.leafMs));
    if (hi <= lo) return;
    const old = this.oldWindows;
    const now = this.newWindows;
    this.windowsAround(nodeIndex, lo, hi, old);
    this.recomputeLeaves(nodeIndex, lo, hi);
    for (let a = (lo + B) >> 1, b = (hi - 1 + B) >> 1; a >= 1; a >>= 1, b >>= 1) for (let t = a; t <= b; t++) this.pullUp(nodeIndex, t);
    this.windowsAround(nodeIndex, lo, hi, now);
    const c = this.cloudletOf[nodeIndex] as number;
    for (let L = 0; L < this.levels; L++) {
      const size = 1 << L;
      for (let i = Math.max(0, lo - size + 1); i < Math.min(hi, B - size + 1); i++) {
        const o = (c * this.levels + L) * B * 4 + i * 4;
        for (let k = 0; k < 4; k++) {
          const mine = now[(L * B + i) * 4 + k] as number;
          const before = old[(L * B + i) * 4 + k] as number;
          const most = this.byCloudlet[o + k] as number;
          if (mine > most) this.byCloudlet[o + k] = mine;
          // This node may have held the most and gone down: the most is now at most what is stored.
          else if (mine < before && before >= most) this.loose[o + k] = 1;
        }
      }
    }
  }

  /** The most over the cloudlet's nodes of their least free of resource k over blocks [lo, hi); stops early at `ceiling` (what is stored, which it cannot exceed). */
  private mostOver(cloudletIndex: number, lo: number, hi: number, k: number, ceiling: number): number {
    const cloudlet = this.inventory.cloudlets[cloudletIndex];
    let most = -Infinity;
    for (const n of cloudlet?.nodes ?? []) {
      const x = this.nodeLeast(n.index, lo, hi)[k] as number;
      if (x > most) most = x;
      if (most >= ceiling) break;
    }
    return most;
  }

  /** The block range [a, b) each sub-slot covers whole, flattened as (a, b) pairs; empty ones left out. */
  covered(profile: readonly { from: number; to: number }[]): number[] {
    const spans: number[] = [];
    if (this.origin === null) return spans;
    for (let i = 0; i < profile.length; i++) {
      const s = profile[i] as { from: number; to: number };
      const a = Math.max(this.unknownBefore, Math.ceil((s.from - this.origin) / this.leafMs));
      const b = Math.min(this.leaves, Math.floor((s.to - this.origin) / this.leafMs));
      if (a < b) spans.push(a, b, i);
    }
    return spans;
  }

  /** False when, in some sub-slot, the largest windows inside it leave every node of the cloudlet short of its need. */
  cloudletMayFit(cloudletIndex: number, spans: readonly number[], needs: readonly (readonly number[])[]): boolean {
    const B = this.leaves;
    for (let p = 0; p < spans.length; p += 3) {
      const a = spans[p] as number;
      const b = spans[p + 1] as number;
      const need = needs[spans[p + 2] as number] as readonly number[];
      const L = Math.min(this.levels - 1, Math.floor(Math.log2(b - a)));
      const row = (cloudletIndex * this.levels + L) * B * 4;
      for (const i of [a, b - (1 << L)]) {
        for (let k = 0; k < 4; k++) {
          const o = row + i * 4 + k;
          if (this.loose[o] && (need[k] as number) <= (this.byCloudlet[o] as number) + EPS) {
            this.byCloudlet[o] = this.mostOver(cloudletIndex, i, i + (1 << L), k, this.byCloudlet[o] as number);
            this.loose[o] = 0;
          }
          if ((need[k] as number) > (this.byCloudlet[o] as number) + EPS) return false;
        }
      }
    }
    return true;
  }

  /** False when, in some sub-slot, the node is short of its need somewhere in the blocks it covers whole. */
  nodeMayFit(nodeIndex: number, spans: readonly number[], needs: readonly (readonly number[])[]): boolean {
    for (let p = 0; p < spans.length; p += 3) {
      const w = this.nodeLeast(nodeIndex, spans[p] as number, spans[p + 1] as number);
      const need = needs[spans[p + 2] as number] as readonly number[];
      for (let k = 0; k < 4; k++) if ((need[k] as number) > (w[k] as number) + EPS) return false;
    }
    return true;
  }

  /** A node's stored least free over one block, for tests that compare it with a recomputation. */
  leafOf(nodeIndex: number, leaf: number): number[] {
    const o = nodeIndex * this.nodeStride + (this.leaves + leaf) * 4;
    return Array.from(this.byNode.subarray(o, o + 4));
  }

  /** A node's least free over blocks [lo, hi) from its tree, for tests. */
  nodeOver(nodeIndex: number, lo: number, hi: number): number[] {
    return Array.from(this.nodeLeast(nodeIndex, lo, hi));
  }

  /** A cloudlet's stored window value (start block i, 2^L blocks) and which resources are only upper bounds, for tests. */
  cloudletWindow(cloudletIndex: number, L: number, i: number): { most: number[]; loose: boolean[] } {
    const o = (cloudletIndex * this.levels + L) * this.leaves * 4 + i * 4;
    return { most: Array.from(this.byCloudlet.subarray(o, o + 4)), loose: Array.from(this.loose.subarray(o, o + 4), (x) => x === 1) };
  }

  get windowLevels(): number {
    return this.levels;
  }
}
