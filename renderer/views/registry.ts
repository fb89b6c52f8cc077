/**
 * The console's views, in the order the navigation shows them. A view is a
 * component with an id (the URL hash), a title and a keyboard shortcut
 * (Alt+digit, in order), and optionally a count for its navigation badge;
 * App.vue knows nothing else about them.
 */
import type { Component } from 'vue';
import { useReservationsStore } from '../stores/reservations.ts';
import { useAlarmsStore } from '../stores/alarms.ts';
import AlarmsView from './AlarmsView.vue';
import AuditView from './AuditView.vue';
import ExperimentsView from './ExperimentsView.vue';
import ReservationsView from './ReservationsView.vue';
import TerminalsView from './TerminalsView.vue';
import TopologyView from './TopologyView.vue';
import TrafficView from './TrafficView.vue';

export interface ViewEntry {
  id: string;
  title: string;
  component: Component;
  /** What waits there (shown as a badge on its navigation item; 0 shows none). */
  badge?: () => { count: number; label: string };
}

export const views: ViewEntry[] = [
  { id: 'topology', title: 'Topology', component: TopologyView },
  {
    id: 'reservations',
    title: 'Reservations',
    component: ReservationsView,
    badge: () => {
      const count = useReservationsStore().pending.length;
      return { count, label: `${count} request${count === 1 ? '' : 's'} waiting for approval` };
    },
  },
  { id: 'traffic', title: 'Traffic', component: TrafficView },
  {
    id: 'alarms',
    title: 'Alarms',
    component: AlarmsView,
    badge: () => {
      const alarms = useAlarmsStore();
      const count = alarms.open.length;
      return { count, label: `${count} open alarm${count === 1 ? '' : 's'}${alarms.openCritical ? `, ${alarms.openCritical} critical` : ''}` };
    },
  },
  { id: 'audit', title: 'Audit', component: AuditView },
  { id: 'terminals', title: 'Terminals', component: TerminalsView },
  { id: 'experiments', title: 'Experiments', component: ExperimentsView },
];

/**
 * The shortcuts that work in every view (App.vue handles them), for each
 * view's keyboard help. A function: the views import this module too.
 */
export function appShortcutRows(): { keys: string[]; action: string }[] {
  return [
    { keys: views.map((_, i) => `Alt+${i + 1}`), action: `Show ${views.map((v) => v.title).join(', ')} (in this order)` },
    { keys: ['Ctrl+Shift+T'], action: 'Open a local terminal' },
  ];
}
