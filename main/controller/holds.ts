/**
 * The capacity this cloudlet has promised, per reservation: prepared (two-phase
 * confirm under way, lapses unless committed), committed, running, ended. The
 * controller answers the scheduler from these holds alone, so a node is never
 * overbooked at any instant even when the scheduler's view is stale.
 *
 * Every hold leaves the books through `end()`, the one "hold ended" transition.
 */
import { createHash } from 'node:crypto';
import type { Profile, Resources } from '../protocol/domain.ts';
import { capacityAt, zeroResources } from '../protocol/profile.ts';
import { redactedArgs } from '../services/catalog.ts';
import { resourceNames } from '../protocol/domain.ts';
import type { ControllerStore, Hold } from './store.ts';

export interface NodeSpec {
  readonly id: string;
  readonly capacity: Resources;
}

/** The VI that runs a reservation's hold: readable when the reservation id is safe as a name, hashed otherwise. */
export function viIdOf(reservationId: string): string {
  return /^[A-Za-z0-9][A-Za-z0-9._-]{0,100}$/.test(reservationId) ? `vi-${reservationId}` : `vi-${createHash('sha256').update(reservationId).digest('hex').slice(0, 24)}`;
}

/** The largest capacity a profile holds anywhere in [from, to). */
function peakOver(profile: Profile, from: number, to: number): Resources {
  const peak = { ...zeroResources };
  for (const s of profile) {
    if (s.to <= from || s.from >= to) continue;
    for (const r of resourceNames) peak[r] = Math.max(peak[r], s.capacity[r]);
  }
  return peak;
}

export class HoldBook {
  private readonly store: ControllerStore;
  private readonly cloudletId: string;
  private readonly nodes: readonly NodeSpec[];
  private readonly now: () => number;

  constructor(options: { store: ControllerStore; cloudletId: string; nodes: readonly NodeSpec[]; now: () => number }) {
    this.store = options.store;
    this.cloudletId = options.cloudletId;
    this.nodes = options.nodes;
    this.now = options.now;
  }

  get(reservationId: string): Hold | undefined {
    return this.store.hold(reservationId);
  }

  /** Every hold not yet ended. */
  active(): Hold[] {
    return this.store.activeHolds();
  }

  put(hold: Hold): void {
    this.store.putHold(hold);
  }

  /** Ends the reservation's hold (its capacity is free again); a no-op when there is none or it already ended. */
  end(reservationId: string): void {
    const hold = this.store.hold(reservationId);
    // Secret arguments (keys) leave the books with the hold.
    if (hold && hold.state !== 'ended') this.store.putHold({ ...hold, state: 'ended', service: { ...hold.service, args: redactedArgs(hold.service.program, hold.service.args) } });
  }

  node(nodeId: string): NodeSpec | undefined {
    return this.nodes.find((n) => n.id === nodeId);
  }

  allNodes(): readonly NodeSpec[] {
    return this.nodes;
  }

  /** The error text for a node this cloudlet does not have. */
  unknownNode(nodeId: string): string {
    return `node "${nodeId}" is not in cloudlet ${this.cloudletId} (nodes: ${this.nodes.map((n) => n.id).join(', ')})`;
  }

  /** Holds that count on a node now: prepared ones only until they lapse. */
  on(nodeId: string, except?: string): Hold[] {
    const now = this.now();
    return this.store.activeHolds().filter((h) => h.nodeId === nodeId && h.reservationId !== except && (h.state !== 'prepared' || (h.expiresAt ?? Infinity) > now));
  }

  /** What the node's holds take at this instant. */
  allocatedNow(nodeId: string): Resources {
    const now = this.now();
    const allocated = { ...zeroResources };
    for (const h of this.on(nodeId)) {
      const c = capacityAt(h.profile, now);
      for (const r of resourceNames) allocated[r] += c[r];
    }
    return allocated;
  }

  /** Why `profile` does not fit on the node next to the other holds, or null when it does. */
  fits(nodeId: string, profile: Profile, reservationId: string): string | null {
    const node = this.node(nodeId);
    if (!node) return this.unknownNode(nodeId);
    const others = this.on(nodeId, reservationId);
    for (const slot of profile) {
      for (const r of resourceNames) {
        const used = others.reduce((sum, h) => sum + peakOver(h.profile, slot.from, slot.to)[r], 0);
        if (used + slot.capacity[r] > node.capacity[r] + 1e-9) {
          return `node ${nodeId} has ${Math.max(0, node.capacity[r] - used)} ${r} free from ${new Date(slot.from).toISOString()} to ${new Date(slot.to).toISOString()}, ${slot.capacity[r]} requested`;
        }
      }
    }
    return null;
  }
}
