/**
 * What one node has committed over time, as a step function.
 *
 * Why a step function and not a slot array: 10,000 nodes x 43,200 one-minute
 * slots x 4 resources would be 1.7 G numbers; a node carries a handful of
 * reservations, so it changes value only a few dozen times in 30 days. A
 * check over [from, to) is one binary search plus a walk over the breakpoints
 * inside it, with an early exit at the first resource that does not fit.
 *
 * Each segment i covers [t[i], t[i+1]) (the last one runs to +infinity) and
 * carries 8 numbers: the total committed of each resource (every provider,
 * the ISP included) and the tenants' part of it (everyone but the ISP), so
 * the ISP's reserved share can be enforced for tenants alone. Before t[0]
 * nothing is committed. Adjacent equal segments are merged, so the function
 * stays as small as the reservations it holds.
 */
import type { Resources } from '../protocol/domain.ts';

export const W = 8;
/** Rounding noise below this is zero: capacities have at most a few decimals. */
export const EPS = 1e-7;

export const resourceKeys = ['cpu', 'memMiB', 'diskGiB', 'netMbps'] as const;

/** The limits a request is checked against on one node. */
export interface NodeLimits {
  /** Physical capacity: total committed must stay within it. */
  readonly capacity: readonly [number, number, number, number];
  /** Capacity minus the ISP share: what tenants together may commit. */
  readonly tenant: readonly [number, number, number, number];
}

export interface Violation {
  /** Index into resourceKeys. */
  resource: number;
  from: number;
  to: number;
  free: number;
  needed: number;
  /** Which sub-slot of the profile (set by the caller that walks the profile). */
  subSlot: number;
}

export function vec(r: Resources): [number, number, number, number] {
  return [r.cpu, r.memMiB, r.diskGiB, r.netMbps];
}

export class NodeTimeline {
  t: number[] = [];
  v: number[] = [];
  /** Nothing before this instant is kept (see trimBefore). */
  trimmedUntil = -Infinity;

  /** Index of the segment containing x, or -1 before the first breakpoint. */
  indexAt(x: number): number {
    const t = this.t;
    let lo = 0;
    let hi = t.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if ((t[mid] as number) <= x) {
        found = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return found;
  }

  private split(x: number): number {
    const i = this.indexAt(x);
    if (i >= 0 && this.t[i] === x) return i;
    const copy = i >= 0 ? this.v.slice(i * W, i * W + W) : new Array<number>(W).fill(0);
    this.t.splice(i + 1, 0, x);
    this.v.splice((i + 1) * W, 0, ...copy);
    return i + 1;
  }

  /** Adds (sign 1) or removes (sign -1) `amount` over [from, to). */
  add(from: number, to: number, amount: readonly number[], isp: boolean, sign: 1 | -1): void {
    const a = Math.max(from, this.trimmedUntil);
    if (to <= a) return;
    const i0 = this.split(a);
    const i1 = this.split(to);
    const v = this.v;
    for (let i = i0; i < i1; i++) {
      const o = i * W;
      for (let k = 0; k < 4; k++) {
        const d = sign * (amount[k] as number);
        let x = (v[o + k] as number) + d;
        if (Math.abs(x) < EPS) x = 0;
        v[o + k] = x;
        if (!isp) {
          let y = (v[o + 4 + k] as number) + d;
          if (Math.abs(y) < EPS) y = 0;
          v[o + 4 + k] = y;
        }
      }
    }
    this.coalesce(Math.max(0, i0 - 1), Math.min(this.t.length - 1, i1 + 1));
  }

  /** Merges equal neighbours in [lo, hi] and drops leading all-zero segments. */
  private coalesce(lo: number, hi: number): void {
    const v = this.v;
    for (let i = hi; i > lo; i--) {
      if (i >= this.t.length) continue;
      let same = true;
      for (let k = 0; k < W; k++) {
        if (v[i * W + k] !== v[(i - 1) * W + k]) {
          same = false;
          break;
        }
      }
      if (same) {
        this.t.splice(i, 1);
        v.splice(i * W, W);
      }
    }
    while (this.t.length > 0 && v.slice(0, W).every((x) => x === 0) && this.trimmedUntil === -Infinity) {
      this.t.splice(0, 1);
      v.splice(0, W);
    }
  }

  /** Forgets segments that ended before x; past time is never asked about again. */
  trimBefore(x: number): void {
    const i = this.indexAt(x);
    if (i > 0) {
      this.t.splice(0, i);
      this.v.splice(0, i * W);
    }
    this.trimmedUntil = Math.max(this.trimmedUntil, x);
  }

  /**
   * The first place in [from, to) where `need` does not fit, or null. For a
   * tenant both the tenant limit and the physical capacity apply; the ISP is
   * bounded by capacity alone. `slack` (when given) receives, per resource,
   * the least room left after placing `need`, for best-fit ranking.
   */
  firstViolation(from: number, to: number, need: readonly number[], limits: NodeLimits, isp: boolean, slack?: number[]): Violation | null {
    const t = this.t;
    const v = this.v;
    const cap = limits.capacity;
    const ten = limits.tenant;
    let i = this.indexAt(from);
    let segStart = from;
    if (i < 0) {
      // Before the first breakpoint nothing is committed.
      const end = t.length > 0 ? Math.min(t[0] as number, to) : to;
      const bad = checkFree(from, end, need, cap, ten, isp, v, -1, slack);
      if (bad) return bad;
      if (t.length === 0 || (t[0] as number) >= to) return null;
      i = 0;
      segStart = t[0] as number;
    }
    for (; i < t.length; i++) {
      const start = Math.max(t[i] as number, segStart);
      if (start >= to) break;
      const end = i + 1 < t.length ? Math.min(t[i + 1] as number, to) : to;
      const bad = checkFree(start, end, need, cap, ten, isp, v, i * W, slack);
      if (bad) return bad;
    }
    return null;
  }

  /** Free capacity per segment over [from, to), for the console's headroom view. */
  freeOver(from: number, to: number, limits: NodeLimits, isp: boolean): { from: number; to: number; free: number[] }[] {
    const out: { from: number; to: number; free: number[] }[] = [];
    const push = (a: number, b: number, used: number[], tenantUsed: number[]): void => {
      if (b <= a) return;
      const free = used.map((u, k) => {
        const f = (limits.capacity[k] as number) - u;
        return isp ? f : Math.min(f, (limits.tenant[k] as number) - (tenantUsed[k] as number));
      });
      out.push({ from: a, to: b, free: free.map((x) => Math.max(0, x)) });
    };
    const first = this.t.length ? (this.t[0] as number) : Infinity;
    if (from < first) push(from, Math.min(first, to), [0, 0, 0, 0], [0, 0, 0, 0]);
    for (let i = Math.max(0, this.indexAt(from)); i < this.t.length; i++) {
      const a = Math.max(this.t[i] as number, from);
      if (a >= to) break;
      const b = Math.min(i + 1 < this.t.length ? (this.t[i + 1] as number) : Infinity, to);
      push(a, b, this.v.slice(i * W, i * W + 4), this.v.slice(i * W + 4, i * W + 8));
    }
    return out;
  }

  /**
   * The least a tenant has free of each resource over [from, to), into `out`
   * (capacity minus everything committed, and the tenant limit minus what
   * tenants committed, whichever is smaller). Summaries (freeSummary.ts) are
   * built from it, so they read exactly what firstViolation reads.
   */
  minTenantFree(from: number, to: number, limits: NodeLimits, out: number[]): void {
    const t = this.t;
    const v = this.v;
    const cap = limits.capacity;
    const ten = limits.tenant;
    for (let k = 0; k < 4; k++) out[k] = Infinity;
    let i = this.indexAt(from);
    if (i < 0) {
      // Before the first breakpoint nothing is committed.
      if (t.length === 0 || (t[0] as number) > from) for (let k = 0; k < 4; k++) out[k] = Math.min(cap[k] as number, ten[k] as number);
      i = 0;
    }
    for (; i < t.length && (t[i] as number) < to; i++) {
      const o = i * W;
      for (let k = 0; k < 4; k++) {
        const free = Math.min((cap[k] as number) - (v[o + k] as number), (ten[k] as number) - (v[o + 4 + k] as number));
        if (free < (out[k] as number)) out[k] = free;
      }
    }
  }

  /** Total committed at instant x (all providers), for tests and reports. */
  usedAt(x: number): number[] {
    const i = this.indexAt(x);
    return i < 0 ? [0, 0, 0, 0, 0, 0, 0, 0] : this.v.slice(i * W, i * W + W);
  }
}

/** Checks one segment (offset o into v, or -1 for "nothing committed"). Hot path: no allocation. */
function checkFree(
  from: number, to: number, need: readonly number[], cap: readonly number[], ten: readonly number[], isp: boolean,
  v: readonly number[], o: number, slack: number[] | undefined,
): Violation | null {
  for (let k = 0; k < 4; k++) {
    const n = need[k] as number;
    let free = (cap[k] as number) - (o < 0 ? 0 : (v[o + k] as number));
    if (!isp) {
      const tenantFree = (ten[k] as number) - (o < 0 ? 0 : (v[o + 4 + k] as number));
      if (tenantFree < free) free = tenantFree;
    }
    if (n > free + EPS) return { resource: k, from, to, free: Math.max(0, free), needed: n, subSlot: -1 };
    if (slack) {
      const room = free - n;
      if (room < (slack[k] as number)) slack[k] = room;
    }
  }
  return null;
}
