/**
 * The reservations that hold capacity on a node (pending approval through
 * active), by id, and what the overlays derive from them: the list per node
 * and the counts per node.
 */
import { computed, shallowRef, triggerRef } from 'vue';
import type { Reservation } from '../../../main/protocol/domain.ts';
import { holdingStates } from '../../../main/protocol/vocabulary.ts';
import { countReservations, reservationsByNode as groupByNode } from '../../composables/topology/reservationCounts.ts';

export function useHoldingReservations() {
  const reservations = shallowRef(new Map<string, Reservation>());
  const reservationsByNode = computed(() => groupByNode(reservations.value.values()));
  const reservationCounts = computed(() => countReservations(reservationsByNode.value));

  function replace(list: readonly Reservation[]): void {
    reservations.value = new Map(list.map((r) => [r.id, r]));
  }

  /** One reservation changed: keep it while it holds capacity, drop it once it no longer does. */
  function apply(r: Reservation): void {
    if (holdingStates.includes(r.state)) reservations.value.set(r.id, r);
    else reservations.value.delete(r.id);
    triggerRef(reservations);
  }

  return { reservations, reservationsByNode, reservationCounts, replace, apply };
}
