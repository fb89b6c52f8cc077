/**
 * What an overlay is (ONOS-style plug-in): a small module that brings its own
 * graph styles, a toolbar toggle with a key binding, a decoration of each item
 * (classes and one label line) and a section of the detail panel. The view
 * knows only this interface; adding an overlay means adding a module to
 * `overlays` in overlayRegistry.ts.
 */
import type { StylesheetJson } from 'cytoscape';
import type { Component } from 'vue';
import type { Reservation } from '../../../main/protocol/domain.ts';
import type { TopologyItem, ViSummary } from './topologyModel.ts';

export type OverlayId = 'health' | 'utilization' | 'reservations' | 'traffic';

export const resourceKeys = ['cpu', 'memMiB', 'diskGiB', 'netMbps'] as const;
export type ResourceKey = (typeof resourceKeys)[number];
export const resourceTitles: Record<ResourceKey, string> = { cpu: 'CPU', memMiB: 'memory', diskGiB: 'disk', netMbps: 'network' };

export interface ReservationCounts {
  active: number;
  scheduled: number;
  pending: number;
}

/** Everything an overlay may read besides the item itself. */
export interface OverlayContext {
  reservationCounts: ReadonlyMap<string, ReservationCounts>;
  reservationsByNode: ReadonlyMap<string, Reservation[]>;
  utilizationResource: ResourceKey;
  /** VIs per node (with their usage samples), for what is measured beside what is reserved. */
  visByNode: ReadonlyMap<string, ViSummary[]>;
  /** Open (unacknowledged) alarms by subject: a VI id, a node id. */
  openAlarms: ReadonlyMap<string, number>;
}

/** Colours resolved from the theme's CSS variables (the canvas cannot read them itself). */
export interface GraphPalette {
  bg: string;
  raised: string;
  sunken: string;
  fg: string;
  muted: string;
  border: string;
  accent: string;
  ok: string;
  warn: string;
  bad: string;
}

export interface OverlayDecoration {
  classes: string[];
  /** One short line added under the element's label; shape or words, never colour alone. */
  line?: string;
}

export interface TopologyOverlay {
  id: OverlayId;
  title: string;
  /** The key that toggles it (lower case letter). */
  key: string;
  description: string;
  defaultOn: boolean;
  styles(palette: GraphPalette): StylesheetJson;
  decorate(item: TopologyItem, ctx: OverlayContext): OverlayDecoration | undefined;
  /** Detail-panel section; receives `item` (TopologyItem) as its only prop. */
  section: Component;
  /** Extra toolbar controls shown while the overlay is on (e.g. the resource picker). */
  controls?: Component;
}
