/** The topology overlays, in toolbar order. */
import { healthOverlay } from './healthOverlay.ts';
import { reservationsOverlay } from './reservationsOverlay.ts';
import type { OverlayId, TopologyOverlay } from '../../../composables/topology/topologyOverlay.ts';
import { trafficOverlay } from './trafficOverlay.ts';
import { utilizationOverlay } from './utilizationOverlay.ts';

export const overlays: readonly TopologyOverlay[] = [healthOverlay, utilizationOverlay, reservationsOverlay, trafficOverlay];

export function overlayById(id: OverlayId): TopologyOverlay | undefined {
  return overlays.find((o) => o.id === id);
}
