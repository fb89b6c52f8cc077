/**
 * The scheduler's restart recovery: what it does before serving a store it
 * did not write in this process (every start is a restart as far as the store
 * is concerned). In order:
 *  1. restoreFromStore: memory from the store (the admission index from the
 *     holds table, holdings for billing, lifecycle timers, the controllers'
 *     last node reports), noting active reservations whose stored holds cover
 *     a resize nobody knows the controller applied (a crash in between);
 *  2. checkStore: refuse a store that breaks the invariants, before anything
 *     is built on it;
 *  3. resumeAfterRestart (from Scheduler.start): once each reservation's
 *     controller is back (or the wait runs out), confirm again what was being
 *     confirmed and settle the unsettled resizes. Both are the scheduler's own
 *     operations; this module only says when and logs what fails.
 */
import type { Profile, Reservation, Resources } from '../protocol/domain.ts';
import { holdingStates } from '../protocol/domain.ts';
import { sameProfile } from '../protocol/profile.ts';
import { resourceNames } from '../protocol/vocabulary.ts';
import type { AdmissionIndex } from './admission.ts';
import type { Billing } from './billing.ts';
import type { ControllerHub } from './controllers.ts';
import type { Inventory } from './inventory.ts';
import type { Lifecycle } from './lifecycle.ts';
import type { HoldRow, Store } from './store.ts';

/** The store broke an invariant a restart must not build on. */
export class InconsistentStoreError extends Error {
  override name = 'InconsistentStoreError';
}

/** What a reservation holds in the database, as a profile. */
export function profileOfHolds(rows: readonly HoldRow[]): Profile {
  return [...rows].sort((x, y) => x.from_ms - y.from_ms).map((h) => ({ from: h.from_ms, to: h.to_ms, capacity: { cpu: h.cpu, memMiB: h.mem_mib, diskGiB: h.disk_gib, netMbps: h.net_mbps } }));
}

export interface RestoreParts {
  store: Store;
  index: AdmissionIndex;
  billing: Billing;
  lifecycle: Lifecycle;
  hub: ControllerHub;
  /** Filled with every reservation that holds capacity. */
  live: Map<string, Reservation>;
  /** Filled with the active reservations whose stored holds are not their profile (a resize in flight at the crash). */
  unsettledResizes: Set<string>;
  isIsp(providerId: string): boolean;
}

/** Rebuilds memory from the store. */
export function restoreFromStore(p: RestoreParts): void {
  const held = p.store.holdsByReservation();
  for (const r of p.store.reservationsInStates(holdingStates)) {
    p.live.set(r.id, r);
    const rows = held.get(r.id);
    // The index holds what the database holds: more than the profile while a resize was waiting on its controller.
    const holds = rows ? profileOfHolds(rows) : r.profile;
    if (r.nodeId) p.index.place(r.id, r.nodeId, holds, p.isIsp(r.providerId));
    if (r.state === 'active' && !sameProfile(holds, r.profile)) p.unsettledResizes.add(r.id);
    p.billing.hold(r.id, r.providerId, r.profile);
    p.lifecycle.schedule(r.id, r.state === 'active' ? r.t1 : r.t0);
  }
  for (const row of p.store.nodeReports()) {
    p.hub.restoreNode(row.cloudlet_id, row.node_id, {
      at: row.at,
      total: JSON.parse(row.total_json) as Resources,
      available: JSON.parse(row.available_json) as Resources,
      health: row.health as 'up',
    });
  }
}

/**
 * Refuses to serve a store that breaks the invariants (a node over capacity
 * at some instant, `paid` not the sum of the ledger, holds out of step with
 * states): admitting on top of it would only spread the damage. Capacity is
 * checked on the index just rebuilt from the holds table (one pass over
 * each node's steps, where a naive recomputation would take seconds on a
 * large store).
 */
export function checkStore(p: { store: Store; index: AdmissionIndex; inventory: Inventory; database: string }): void {
  const always: Profile = [{ from: 0, to: 8.64e15, capacity: { cpu: 0, memMiB: 0, diskGiB: 0, netMbps: 0 } }];
  const problems = [
    // Nothing more fits on a node whose holds already exceed its capacity or its tenants' share.
    ...p.inventory.nodes.flatMap((node) => {
      const bad = p.index.violationOn(node, always, false);
      return bad ? [`node ${node.id} from ${new Date(bad.from).toISOString()} to ${new Date(bad.to).toISOString()}: its holds exceed what it offers in ${resourceNames[bad.resource]}`] : [];
    }),
    ...p.store.paidMismatches(20).map((m) => `reservation ${m.id}: paid ${m.paid} but its ledger sums to ${m.ledger}`),
    ...p.store.holdsOutOfStep(holdingStates, 20).map((m) => `reservation ${m.id} is ${m.state} but holds ${m.holds} sub-slot(s)`),
  ];
  if (problems.length === 0) return;
  throw new InconsistentStoreError(
    `scheduler store ${p.database} is inconsistent, refusing to serve it (${problems.length} problem(s)): ${problems.slice(0, 10).join('; ')}` +
      `${problems.length > 10 ? '; ...' : ''}. Restore a backup, or repair the holds and ledger tables, then start again.`,
  );
}

export interface ResumeParts {
  hub: ControllerHub;
  reconnectWaitMs: number;
  log(line: string): void;
  /** Confirms a reservation interrupted while approved or confirming (the controller treats a repeated prepare as idempotent). */
  reconfirm(id: string): Promise<unknown>;
  /** Tells the controller a stored profile again and holds just that (see Scheduler.settleResize). */
  settleResize(id: string): Promise<unknown>;
}

/**
 * Resumes what a restart interrupted: reservations that were confirming are
 * confirmed again once their controller is back (or the wait runs out, and
 * the next cloudlet is tried); unsettled resizes are settled.
 */
export function resumeAfterRestart(live: Iterable<Reservation>, unsettledResizes: ReadonlySet<string>, p: ResumeParts): void {
  const afterReconnect = async (r: Reservation, then: () => Promise<unknown>): Promise<void> => {
    if (r.cloudletId) await p.hub.whenAttached(r.cloudletId, p.reconnectWaitMs);
    try {
      await then();
    } catch (e) {
      p.log(`after restart, ${r.id}: ${(e as Error).message}`);
    }
  };
  for (const r of live) {
    if (r.state === 'confirming' || r.state === 'approved') void afterReconnect(r, () => p.reconfirm(r.id));
    if (unsettledResizes.has(r.id)) void afterReconnect(r, () => p.settleResize(r.id));
  }
}
