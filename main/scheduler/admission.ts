/**
 * Admission over time (DESIGN.md section 5, the paper's section 3.4).
 *
 * A node can host a request only if, at every instant of every sub-slot,
 * each requested resource fits what the node has free then (tenants are also
 * held to capacity minus the ISP share). Among cloudlets that have such a
 * node, the preferred one wins when it fits; otherwise the one closest to
 * the requestor's PoP by RTT; inside it, the best fit (the node left with
 * the least room, so large holes stay open for large requests).
 *
 * The index lives in memory (one step function per node, see timeline.ts)
 * and is changed synchronously at decision time, so two concurrent requests
 * can never both take the same capacity; the store makes the same change
 * durable before anyone is told. It must always equal a recomputation from
 * the database's holds table (recompute.ts; a property test checks it).
 *
 * Refusals are as cheap as admissions: summaries of the
 * most that is free over time (freeSummary.ts) let a cloudlet, or a node,
 * that cannot fit be skipped without walking its step function. A refusal's
 * reason names the closest miss among the nodes of the first cloudlet whose
 * nodes are examined (the preferred one, else the closest), or a cloudlet
 * whose largest node is too small; finding a closer miss further away meant
 * walking every node, 60 times the cost of an admission. The decision with
 * the summaries equals the exhaustive walk (`exhaustive`, and what explain
 * does); a property test holds it to that.
 */
import type { Profile } from '../protocol/domain.ts';
import type { Explanation, Shortfall } from '../protocol/schedulerApi.ts';
import { FreeSummary, type SummaryOptions } from './freeSummary.ts';
import type { CloudletInfo, Inventory, NodeInfo, RankedCloudlet } from './inventory.ts';
import { NodeTimeline, resourceKeys, vec, type Violation } from './timeline.ts';

export interface AdmissionRequest {
  readonly providerId: string;
  /** The ISP's own services may use the ISP share. */
  readonly isp: boolean;
  readonly requestorPopId: string;
  readonly preferredCloudletId: string | null;
  readonly t0: number;
  readonly t1: number;
  readonly profile: Profile;
}

export interface DecideOptions {
  readonly explain?: boolean;
  /** Decide as if this reservation held nothing (explaining a stored reservation), without touching the index. */
  readonly absent?: string;
  /** Cloudlets already tried (a controller refused or timed out). */
  readonly excludeCloudlets?: ReadonlySet<string>;
  /** Why a whole cloudlet cannot take work now (stale reports), or null. */
  readonly cloudletSkip?: (cloudletId: string) => string | null;
  /** Why a node cannot take work now (reported down), or null. */
  readonly nodeSkip?: (nodeId: string) => string | null;
  /**
   * Walk every node of every candidate cloudlet instead of skipping those the
   * free-capacity summaries prove cannot fit. The decision is the same either
   * way (the property tests hold it to that); explain always walks everything.
   */
  readonly exhaustive?: boolean;
}

/** Why nothing fit, by the miss the reason names (null when admitted). */
export type RefusalKind = 'larger-than-any-node' | 'booked-out' | 'no-candidate';

type CloudletVerdict = Explanation['candidates'][number];
type NodeVerdict = CloudletVerdict['nodes'][number];

export interface Decision {
  readonly chosen: { cloudletId: string; nodeId: string } | null;
  readonly reason: string;
  readonly shortfall: Shortfall | null;
  readonly refusal: RefusalKind | null;
  /** Filled when options.explain is set. */
  readonly candidates: CloudletVerdict[];
}

interface Hold {
  readonly node: NodeInfo;
  readonly profile: Profile;
  readonly isp: boolean;
}

const iso = (ms: number): string => new Date(ms).toISOString().replace('.000Z', 'Z');
const describeSpan = (from: number, to: number): string => `${iso(from)} to ${iso(to)}`;

export class AdmissionIndex {
  readonly inventory: Inventory;
  readonly timelines: NodeTimeline[];
  /** Per cloudlet and node, the most that is free over runs of time (freeSummary.ts). */
  readonly summary: FreeSummary;
  private readonly holds = new Map<string, Hold>();
  private trimmedUntil = -Infinity;

  constructor(inventory: Inventory, options: { summary?: SummaryOptions } = {}) {
    this.inventory = inventory;
    this.timelines = inventory.nodes.map(() => new NodeTimeline());
    this.summary = new FreeSummary(inventory, this.timelines, options.summary);
  }

  get holdCount(): number {
    return this.holds.size;
  }

  holdOf(reservationId: string): Hold | undefined {
    return this.holds.get(reservationId);
  }

  /** Commits `profile` on the node for the reservation (replacing what it held). */
  place(reservationId: string, nodeId: string, profile: Profile, isp: boolean): void {
    const node = this.inventory.nodeById.get(nodeId);
    if (!node) throw new Error(`reservation ${reservationId} names node "${nodeId}", which is not in the inventory`);
    this.release(reservationId);
    const timeline = this.timelines[node.index] as NodeTimeline;
    for (const s of profile) timeline.add(s.from, s.to, vec(s.capacity), isp, 1);
    this.summarize(node, profile);
    this.holds.set(reservationId, { node, profile, isp });
  }

  /** Gives back everything the reservation holds; returns what it held. */
  release(reservationId: string): Hold | undefined {
    const hold = this.holds.get(reservationId);
    if (!hold) return undefined;
    const timeline = this.timelines[hold.node.index] as NodeTimeline;
    for (const s of hold.profile) timeline.add(s.from, s.to, vec(s.capacity), hold.isp, -1);
    this.summarize(hold.node, hold.profile);
    this.holds.delete(reservationId);
    return hold;
  }

  private summarize(node: NodeInfo, profile: Profile): void {
    let from = Infinity;
    let to = -Infinity;
    for (const s of profile) {
      from = Math.min(from, s.from);
      to = Math.max(to, s.to);
    }
    if (from < to) this.summary.nodeChanged(node.index, from, to);
  }

  /** Forgets the past on every node (what admission never asks about again). */
  trimBefore(now: number): void {
    for (const t of this.timelines) t.trimBefore(now);
    this.trimmedUntil = Math.max(this.trimmedUntil, now);
    this.summary.trimmed(this.trimmedUntil);
  }

  /** The first sub-slot and resource that does not fit on the node, or null. `needs` caches vec() of each sub-slot. */
  violationOn(node: NodeInfo, profile: Profile, isp: boolean, slack?: number[], needs?: readonly (readonly number[])[]): Violation | null {
    const timeline = this.timelines[node.index] as NodeTimeline;
    for (let i = 0; i < profile.length; i++) {
      const s = profile[i] as Profile[number];
      const need = needs?.[i] ?? vec(s.capacity);
      const bad = timeline.firstViolation(s.from, s.to, need, node.limits, isp, slack);
      if (bad) {
        bad.subSlot = i;
        return bad;
      }
    }
    return null;
  }

  /**
   * The first violation of `profile` on the node as if reservation `absent`
   * held nothing: the question a resize (its new profile against everyone
   * else) and an explanation (why it is where it is) ask. Answered by taking
   * the reservation's own hold off each need, piece by piece, so the index is
   * never changed to ask it. The violation reports the whole need and what
   * would be free without the hold.
   */
  violationWithout(absent: string, node: NodeInfo, profile: Profile, isp: boolean, slack?: number[]): Violation | null {
    const hold = this.holds.get(absent);
    if (!hold || hold.node !== node || hold.isp !== isp) return this.violationOn(node, profile, isp, slack);
    const timeline = this.timelines[node.index] as NodeTimeline;
    for (let i = 0; i < profile.length; i++) {
      const s = profile[i] as Profile[number];
      const want = vec(s.capacity);
      const cuts = [...new Set([s.from, s.to, ...hold.profile.flatMap((h) => [h.from, h.to]).filter((t) => t > s.from && t < s.to)])].sort((a, b) => a - b);
      for (let j = 0; j + 1 < cuts.length; j++) {
        const from = cuts[j] as number;
        const held = hold.profile.find((h) => h.from <= from && from < h.to);
        const mine = held ? vec(held.capacity) : [0, 0, 0, 0];
        const bad = timeline.firstViolation(from, cuts[j + 1] as number, want.map((x, k) => x - (mine[k] as number)), node.limits, isp, slack);
        if (bad) {
          bad.subSlot = i;
          bad.needed = want[bad.resource] as number;
          bad.free = Math.max(0, bad.free + (mine[bad.resource] as number));
          return bad;
        }
      }
    }
    return null;
  }

  /** Free capacity of a node over [from, to) for this kind of provider. */
  headroom(nodeId: string, from: number, to: number, isp: boolean): { from: number; to: number; free: { cpu: number; memMiB: number; diskGiB: number; netMbps: number } }[] {
    const node = this.inventory.nodeById.get(nodeId);
    if (!node) return [];
    return (this.timelines[node.index] as NodeTimeline).freeOver(from, to, node.limits, isp).map((p) => ({
      from: p.from,
      to: p.to,
      free: { cpu: p.free[0] as number, memMiB: p.free[1] as number, diskGiB: p.free[2] as number, netMbps: p.free[3] as number },
    }));
  }

  decide(req: AdmissionRequest, options: DecideOptions = {}): Decision {
    const explain = options.explain ?? false;
    const candidates: CloudletVerdict[] = [];
    /** Why cloudlets were passed over, for a refusal that no cloudlet could even be considered. */
    const skipped: string[] = [];
    const peak = [0, 0, 0, 0];
    for (const s of req.profile) {
      const v = vec(s.capacity);
      for (let k = 0; k < 4; k++) peak[k] = Math.max(peak[k] as number, v[k] as number);
    }
    const ranked = this.inventory.rankFrom(req.requestorPopId);
    const preferred = req.preferredCloudletId ? ranked.find((r) => r.cloudlet.id === req.preferredCloudletId) : undefined;
    const order: RankedCloudlet[] = preferred ? [preferred, ...ranked.filter((r) => r !== preferred)] : ranked;

    const miss = new ClosestMiss();
    const needs = req.profile.map((s) => vec(s.capacity));
    // Pruning by the summaries: never for explain (it lists every node) nor for the ISP (see freeSummary.ts).
    const prune = !explain && !options.exhaustive && !req.isp && !options.absent;
    // Built on first use (not while a restart places every stored hold), from the trimmed past when known.
    if (prune && !this.summary.ready) this.summary.build(Number.isFinite(this.trimmedUntil) ? this.trimmedUntil : req.t0 - this.summary.spanMs / 4);
    const covered = prune ? this.summary.covered(req.profile) : [];
    // The reason names the closest miss among the nodes of the first cloudlet whose nodes are examined
    // (the preferred one, else the closest): walking every node of every cloudlet to find a better
    // miss elsewhere is what made refusals cost 60 times an admission.
    let missCloudletSeen = false;

    for (const entry of order) {
      const { cloudlet, distanceMs } = entry;
      const verdict: CloudletVerdict = {
        cloudletId: cloudlet.id,
        popId: cloudlet.popId,
        distanceMs: Number.isFinite(distanceMs) ? distanceMs : null,
        preferred: cloudlet.id === req.preferredCloudletId,
        skipped: null,
        nodesChecked: 0,
        nodesFitting: 0,
        nodes: [],
      };
      const skip = this.skipReason(cloudlet, distanceMs, req, peak, options, miss);
      if (skip) {
        if (skipped.length < 4) skipped.push(`${cloudlet.id} ${skip}`);
        if (explain) candidates.push({ ...verdict, skipped: skip });
        continue;
      }
      const missHere: boolean = !missCloudletSeen && this.hasNodeUp(cloudlet, options);
      missCloudletSeen ||= missHere;
      const pruneHere = !missHere && covered.length > 0;
      if (pruneHere && !this.summary.cloudletMayFit(cloudlet.index, covered, needs)) continue;
      const best = this.bestNodeIn(cloudlet, req, options, verdict, explain, missHere ? miss : null, needs, pruneHere ? covered : null);
      if (explain) candidates.push(verdict);
      if (best) {
        if (explain) {
          // The rest were not needed: say so rather than silently dropping them.
          for (const rest of order.slice(order.indexOf(entry) + 1)) {
            candidates.push({
              cloudletId: rest.cloudlet.id,
              popId: rest.cloudlet.popId,
              distanceMs: Number.isFinite(rest.distanceMs) ? rest.distanceMs : null,
              preferred: rest.cloudlet.id === req.preferredCloudletId,
              skipped: `not considered: ${cloudlet.id} ${verdict.preferred ? 'is preferred and fits' : 'is closer and fits'}`,
              nodesChecked: 0,
              nodesFitting: 0,
              nodes: [],
            });
          }
        }
        const why = verdict.preferred
          ? `the preferred cloudlet ${cloudlet.id} fits`
          : `${cloudlet.id} is the closest cloudlet that fits (${distanceMs} ms from ${req.requestorPopId})`;
        return {
          chosen: { cloudletId: cloudlet.id, nodeId: best.id },
          reason: `${why}; node ${best.id} is the best fit of ${verdict.nodesFitting}`,
          shortfall: null,
          refusal: null,
          candidates,
        };
      }
    }
    if (!miss.shortfall) {
      const why = skipped.length ? `: ${skipped.join('; ')}${order.length > skipped.length ? '; ...' : ''}` : '';
      return { chosen: null, reason: `no cloudlet could be considered${why}`, shortfall: null, refusal: 'no-candidate', candidates };
    }
    const s = miss.shortfall;
    return {
      chosen: null,
      reason:
        `no node can host the request: ${s.resource} does not fit from ${describeSpan(s.from, s.to)}; ` +
        `the closest miss is ${miss.where()}, with ${round(s.free)} free where ${round(s.needed)} is needed`,
      shortfall: s,
      refusal: miss.onNode ? 'booked-out' : 'larger-than-any-node',
      candidates,
    };
  }

  /** Whether any node of the cloudlet may take work (none reported down). */
  private hasNodeUp(cloudlet: CloudletInfo, options: DecideOptions): boolean {
    if (!options.nodeSkip) return cloudlet.nodes.length > 0;
    return cloudlet.nodes.some((n) => !options.nodeSkip?.(n.id));
  }

  private skipReason(
    cloudlet: CloudletInfo,
    distanceMs: number,
    req: AdmissionRequest,
    peak: readonly number[],
    options: DecideOptions,
    miss: ClosestMiss,
  ): string | null {
    if (options.excludeCloudlets?.has(cloudlet.id)) return 'already tried: its controller refused or did not answer';
    if (!Number.isFinite(distanceMs)) return `no path from PoP ${req.requestorPopId} to PoP ${cloudlet.popId}`;
    const external = options.cloudletSkip?.(cloudlet.id);
    if (external) return external;
    const max = req.isp ? cloudlet.maxCapacity : cloudlet.maxTenant;
    for (let k = 0; k < 4; k++) {
      if ((peak[k] as number) > (max[k] as number) + 1e-7) {
        // The largest node cannot take it even when empty: no need to look at nodes.
        const sub = req.profile.find((s) => (vec(s.capacity)[k] as number) === peak[k]) ?? req.profile[0];
        miss.note(k, sub?.from ?? req.t0, sub?.to ?? req.t1, peak[k] as number, max[k] as number, cloudlet, null, req.isp);
        return `${resourceKeys[k]}: the request peaks at ${round(peak[k] as number)} but the largest node here offers ${round(max[k] as number)}${req.isp ? '' : ` after the ISP share of ${cloudlet.ispShare * 100}%`}`;
      }
    }
    return null;
  }

  private bestNodeIn(
    cloudlet: CloudletInfo,
    req: AdmissionRequest,
    options: DecideOptions,
    verdict: CloudletVerdict,
    explain: boolean,
    miss: ClosestMiss | null,
    needs: readonly (readonly number[])[],
    covered: readonly number[] | null,
  ): NodeInfo | null {
    let best: NodeInfo | null = null;
    let bestLeftover = Infinity;
    const verdicts: NodeVerdict[] = [];
    const slack = [0, 0, 0, 0];
    for (const node of cloudlet.nodes) {
      const down = options.nodeSkip?.(node.id);
      if (down) {
        if (explain) verdicts.push({ nodeId: node.id, fits: false, leftover: null, shortfall: null, reason: down });
        continue;
      }
      verdict.nodesChecked++;
      if (covered && !this.summary.nodeMayFit(node.index, covered, needs)) continue;
      slack[0] = slack[1] = slack[2] = slack[3] = Infinity;
      const bad = options.absent ? this.violationWithout(options.absent, node, req.profile, req.isp, slack) : this.violationOn(node, req.profile, req.isp, slack, needs);
      if (bad) {
        miss?.note(bad.resource, bad.from, bad.to, bad.needed, bad.free, cloudlet, node, req.isp);
        if (explain) {
          const shortfall: Shortfall = { resource: resourceKeys[bad.resource] as Shortfall['resource'], from: bad.from, to: bad.to, needed: bad.needed, free: bad.free };
          verdicts.push({
            nodeId: node.id,
            fits: false,
            leftover: null,
            shortfall,
            reason: `sub-slot ${bad.subSlot + 1} needs ${round(bad.needed)} ${shortfall.resource} but only ${round(bad.free)} is free from ${describeSpan(bad.from, bad.to)}`,
          });
        }
        continue;
      }
      verdict.nodesFitting++;
      const limit = req.isp ? node.limits.capacity : node.limits.tenant;
      let leftover = 0;
      for (let k = 0; k < 4; k++) leftover += (limit[k] as number) > 0 ? (slack[k] as number) / (limit[k] as number) : 0;
      leftover /= 4;
      if (explain) verdicts.push({ nodeId: node.id, fits: true, leftover, shortfall: null, reason: `fits, leaving ${(leftover * 100).toFixed(1)}% room on average` });
      if (leftover < bestLeftover - 1e-12) {
        best = node;
        bestLeftover = leftover;
      }
    }
    if (explain) {
      verdicts.sort((a, b) => Number(b.fits) - Number(a.fits) || (a.leftover ?? 0) - (b.leftover ?? 0));
      verdict.nodes = verdicts.slice(0, 32);
    }
    return best;
  }
}

/** The failure closest to fitting (smallest relative deficit), kept without allocating per node. */
class ClosestMiss {
  private deficit = Infinity;
  private resource = 0;
  private from = 0;
  private to = 0;
  private needed = 0;
  private free = 0;
  private cloudlet: CloudletInfo | null = null;
  private node: NodeInfo | null = null;
  private isp = false;

  note(resource: number, from: number, to: number, needed: number, free: number, cloudlet: CloudletInfo, node: NodeInfo | null, isp: boolean): void {
    const deficit = needed > 0 ? (needed - free) / needed : 1;
    if (deficit >= this.deficit) return;
    this.deficit = deficit;
    this.resource = resource;
    this.from = from;
    this.to = to;
    this.needed = needed;
    this.free = free;
    this.cloudlet = cloudlet;
    this.node = node;
    this.isp = isp;
  }

  get onNode(): boolean {
    return this.node !== null;
  }

  get shortfall(): Shortfall | null {
    if (!this.cloudlet) return null;
    return { resource: resourceKeys[this.resource] as Shortfall['resource'], from: this.from, to: this.to, needed: this.needed, free: this.free };
  }

  where(): string {
    const name = resourceKeys[this.resource];
    if (this.node) return `node ${this.node.id} in cloudlet ${this.cloudlet?.id}`;
    return `cloudlet ${this.cloudlet?.id}, whose largest node offers ${round(this.free)} ${name}${this.isp ? '' : ' after the ISP share'}`;
  }
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}
