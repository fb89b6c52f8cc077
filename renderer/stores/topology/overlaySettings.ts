/** Which overlays are on, the resource the utilization overlay shows, and what overlays may read. */
import { computed, ref, type Ref } from 'vue';
import type { Reservation } from '../../../main/protocol/domain.ts';
import type { ViSummary } from '../../composables/topology/topologyModel.ts';
import type { OverlayContext, OverlayId, ReservationCounts, ResourceKey } from '../../composables/topology/topologyOverlay.ts';

export function useOverlaySettings(
  counts: Readonly<Ref<ReadonlyMap<string, ReservationCounts>>>,
  byNode: Readonly<Ref<ReadonlyMap<string, Reservation[]>>>,
  visByNode: Readonly<Ref<ReadonlyMap<string, ViSummary[]>>>,
  openAlarms: Readonly<Ref<ReadonlyMap<string, number>>>,
) {
  const activeOverlays = ref<OverlayId[]>(['health']);
  const utilizationResource = ref<ResourceKey>('cpu');
  const overlayContext = computed<OverlayContext>(() => ({
    reservationCounts: counts.value,
    reservationsByNode: byNode.value,
    utilizationResource: utilizationResource.value,
    visByNode: visByNode.value,
    openAlarms: openAlarms.value,
  }));

  function toggleOverlay(id: OverlayId): void {
    activeOverlays.value = activeOverlays.value.includes(id) ? activeOverlays.value.filter((o) => o !== id) : [...activeOverlays.value, id];
  }

  return { activeOverlays, utilizationResource, overlayContext, toggleOverlay };
}
