/**
 * Reservation counts per node, derived from the reservation list: the data
 * side of the reservations overlay, kept free of components so the topology
 * store can use it.
 */
import type { Reservation, ReservationState } from '../../../main/protocol/domain.ts';
import type { ReservationCounts } from './topologyOverlay.ts';
import type { TopologyItem } from './topologyModel.ts';

export const bucketOf: Partial<Record<ReservationState, keyof ReservationCounts>> = {
  active: 'active',
  approved: 'scheduled',
  confirming: 'scheduled',
  scheduled: 'scheduled',
  pending_approval: 'pending',
};

/** Reservations placed on each node (by node id) that still hold capacity, newest first. */
export function reservationsByNode(reservations: Iterable<Reservation>): Map<string, Reservation[]> {
  const byNode = new Map<string, Reservation[]>();
  for (const r of reservations) {
    if (!r.nodeId || !bucketOf[r.state]) continue;
    const list = byNode.get(r.nodeId) ?? [];
    list.push(r);
    byNode.set(r.nodeId, list);
  }
  for (const list of byNode.values()) list.sort((a, b) => b.t0 - a.t0);
  return byNode;
}

export function countReservations(byNode: ReadonlyMap<string, Reservation[]>): Map<string, ReservationCounts> {
  const counts = new Map<string, ReservationCounts>();
  for (const [nodeId, list] of byNode) {
    const c: ReservationCounts = { active: 0, scheduled: 0, pending: 0 };
    for (const r of list) {
      const bucket = bucketOf[r.state];
      if (bucket) c[bucket] += 1;
    }
    counts.set(nodeId, c);
  }
  return counts;
}

export function countsOf(item: TopologyItem, counts: ReadonlyMap<string, ReservationCounts>): ReservationCounts | undefined {
  if (item.kind === 'node') return counts.get(item.id) ?? { active: 0, scheduled: 0, pending: 0 };
  if (item.kind !== 'cloudlet') return undefined;
  const sum: ReservationCounts = { active: 0, scheduled: 0, pending: 0 };
  for (const n of item.cloudlet.nodes) {
    const c = counts.get(n.id);
    if (!c) continue;
    sum.active += c.active;
    sum.scheduled += c.scheduled;
    sum.pending += c.pending;
  }
  return sum;
}

export function describeCounts(c: ReservationCounts): string {
  const parts = [`${c.active} active`, `${c.scheduled} scheduled`];
  if (c.pending) parts.push(`${c.pending} pending`);
  return parts.join(' · ');
}
