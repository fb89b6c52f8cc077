/**
 * Reservations overlay: per node, how many reservations are active now,
 * scheduled (approved, confirming or scheduled) and pending approval, from
 * `reservation.list` kept current by `scheduler.events`. Cloudlets sum their
 * nodes. Nodes holding any reservation get a thicker border and a count line.
 */
import type { TopologyItem } from '../../../composables/topology/topologyModel.ts';
export { countReservations, reservationsByNode } from './reservationCounts.ts';
import ReservationsSection from './ReservationsSection.vue';
import type { ReservationCounts, TopologyOverlay } from './topologyOverlay.ts';

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
  const parts = [`${c.active} active`, `${c.scheduled} sched`];
  if (c.pending) parts.push(`${c.pending} pending`);
  return parts.join(' · ');
}

export const reservationsOverlay: TopologyOverlay = {
  id: 'reservations',
  title: 'Reservations',
  key: 'r',
  description: 'Per node: reservations active now, scheduled, and pending approval',
  defaultOn: false,
  decorate(item, ctx) {
    const c = countsOf(item, ctx.reservationCounts);
    if (!c) return undefined;
    const any = c.active + c.scheduled + c.pending > 0;
    return any ? { classes: [c.active ? 'resv-active' : 'resv-some'], line: describeCounts(c) } : { classes: ['resv-none'] };
  },
  styles: (p) => [
    { selector: '.node.resv-active, .cloudlet.collapsed.resv-active', style: { 'border-width': 5, 'underlay-color': p.accent, 'underlay-opacity': 0.35, 'underlay-padding': 6 } },
    { selector: '.node.resv-some, .cloudlet.collapsed.resv-some', style: { 'border-width': 4, 'underlay-color': p.accent, 'underlay-opacity': 0.15, 'underlay-padding': 4 } },
  ],
  section: ReservationsSection,
};
