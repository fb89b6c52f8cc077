/**
 * Reservations overlay: per node, how many reservations are active now,
 * scheduled (approved, confirming or scheduled) and pending approval, from
 * `reservation.list` kept current by `scheduler.events`. Cloudlets sum their
 * nodes. Nodes holding any reservation get a thicker border and a count line.
 */
import { countsOf, describeCounts } from '../../../composables/topology/reservationCounts.ts';
import ReservationsSection from './ReservationsSection.vue';
import type { TopologyOverlay } from '../../../composables/topology/topologyOverlay.ts';

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
