/**
 * The topology view's state: what the console is connected to, the
 * scheduler's topology and its live updates. The other concerns live in
 * stores/topology/ and are composed here into one store: reservations that
 * hold capacity, VIs per node, saved positions, the selection and the
 * overlays' settings.
 *
 * Live: `connection.changes` says when to (re)load; once loaded,
 * `scheduler.events` patches reservations and cloudlet status in place and a
 * slow poll of `topology.get` brings the controllers' node reports. A change
 * of lab or scheduler forgets what the previous one showed. Nothing here
 * knows about positions beyond storing them: the graph keeps every element
 * where it is and only asks to save what the user moved.
 */
import { defineStore } from 'pinia';
import { computed, ref, shallowRef } from 'vue';
import type { ConnectionStatus } from '../../main/protocol/consoleApi.ts';
import type { ReservationState, Topology } from '../../main/protocol/domain.ts';
import type { SchedulerEvent } from '../../main/protocol/schedulerApi.ts';
import { toApiError, useApi } from '../api/index.ts';
import { schedulerCall, schedulerSubscribe } from '../api/relay.ts';
import { indexTopology } from '../composables/topology/topologyModel.ts';
import { finalStates, holdingStates } from '../../main/protocol/vocabulary.ts';
import { useAlarmsStore } from './alarms.ts';
import { useHoldingReservations } from './topology/holdingReservations.ts';
import { useOverlaySettings } from './topology/overlaySettings.ts';
import { useSavedLayout } from './topology/savedLayout.ts';
import { useSelection } from './topology/selection.ts';
import { useViState } from './topology/viState.ts';

export type { Position } from './topology/savedLayout.ts';

export type TopologyPhase = 'disconnected' | 'connecting' | 'loading' | 'ready' | 'error';

/** States in which a reservation's VI stops, freeing what its node reports as used (a declined one never had a VI). */
const finishing = new Set<ReservationState>(finalStates.filter((s) => s !== 'declined'));
const refreshSoonMs = 2000;
const refreshSoonUpTo = 1000;
/** Node reports arrive only through topology.get; a big topology is polled less often. */
const pollMs = (nodes: number): number => (nodes > 1000 ? 30_000 : 5_000);

export const useTopologyStore = defineStore('topology', () => {
  const connection = ref<ConnectionStatus>();
  const topology = shallowRef<Topology>();
  const phase = ref<TopologyPhase>('disconnected');
  /** What a long load is doing now, for the progress line. */
  const progress = ref<string>();
  const error = ref<string>();
  const eventsLost = ref(0);
  const lastUpdateAt = ref<number>();

  /** Positions are saved per topology: the connection's name (lab topology or profile). */
  const topologyKey = computed(() => (connection.value && connection.value.kind !== 'none' && connection.value.name ? connection.value.name : undefined));
  const nodeCount = computed(() => topology.value?.cloudlets.reduce((n, c) => n + c.nodes.length, 0) ?? 0);

  const holding = useHoldingReservations();
  const viState = useViState();
  const layout = useSavedLayout(topologyKey);
  const index = computed(() => indexTopology(topology.value, viState.vis.value));
  // Alarms are followed by their own store; the traffic overlay badges what is open.
  const openAlarms = computed(() => {
    const bySubject = new Map<string, number>();
    for (const a of useAlarmsStore().open) bySubject.set(a.subject, (bySubject.get(a.subject) ?? 0) + 1);
    return bySubject;
  });
  const overlaySettings = useOverlaySettings(holding.reservationCounts, holding.reservationsByNode, computed(() => index.value.visByNode), openAlarms);
  const selection = useSelection(index, viState.followCloudlet);

  let stopConnection: (() => Promise<void>) | undefined;
  let stopEvents: (() => Promise<void>) | undefined;
  let pollTimer: ReturnType<typeof setInterval> | undefined;
  /** Bumped by every load so an old load that finishes late is ignored. */
  let generation = 0;
  let refreshing: Promise<void> | undefined;
  let soonTimer: ReturnType<typeof setTimeout> | undefined;

  async function start(): Promise<void> {
    if (stopConnection) return;
    try {
      stopConnection = await useApi().subscribe('connection.changes', {}, (status) => void onConnection(status));
    } catch (e) {
      phase.value = 'error';
      error.value = `Cannot follow the connection status: ${toApiError(e).message}. Reload the window to try again.`;
    }
  }

  async function stop(): Promise<void> {
    generation += 1;
    stopPolling();
    viState.stopFeed();
    await layout.flushPositions();
    const ends = [stopEvents, stopConnection];
    stopEvents = stopConnection = undefined;
    await Promise.all(ends.map((end) => end?.().catch(() => undefined)));
  }

  /** Forgets everything the previous connection showed, so nothing stale stays on screen. */
  function forgetData(): void {
    topology.value = undefined;
    holding.replace([]);
    viState.clear();
    selection.select(undefined);
    layout.savedPositions.value = {};
    eventsLost.value = 0;
    lastUpdateAt.value = undefined;
  }

  async function onConnection(status: ConnectionStatus): Promise<void> {
    const previous = connection.value;
    connection.value = status;
    const sameTarget = previous !== undefined && previous.kind === status.kind && previous.name === status.name && previous.schedulerUrl === status.schedulerUrl;
    if (status.state === 'connected') {
      const wasConnected = previous?.state === 'connected' && sameTarget;
      if (!wasConnected || phase.value === 'error' || phase.value === 'disconnected') await load();
      return;
    }
    // The relayed subscription ends with the connection; drop it and wait for the next "connected".
    generation += 1;
    stopPolling();
    viState.stopFeed();
    const end = stopEvents;
    stopEvents = undefined;
    void end?.().catch(() => undefined);
    // Another lab or scheduler: what the old one showed must not stay on screen.
    if (!sameTarget && previous?.name) forgetData();
    if (status.state === 'failed') {
      phase.value = 'error';
      error.value = status.message || 'The connection failed.';
    } else if (status.state === 'starting' || status.state === 'reconnecting') {
      phase.value = 'connecting';
      error.value = undefined;
    } else {
      phase.value = 'disconnected';
      error.value = undefined;
      forgetData();
    }
  }

  /** Loads saved positions, the topology and reservations, then follows scheduler events. */
  async function load(): Promise<void> {
    const mine = ++generation;
    const key = topologyKey.value;
    performance.mark('topology:load-start');
    phase.value = 'loading';
    error.value = undefined;
    stopPolling();
    const previousEvents = stopEvents;
    stopEvents = undefined;
    await previousEvents?.().catch(() => undefined);
    // Events that arrive while the snapshot loads are applied after it, in order.
    const early: SchedulerEvent[] = [];
    let loaded = false;
    try {
      progress.value = 'Following scheduler events…';
      const end = await schedulerSubscribe('scheduler.events', {}, (event, lost) => {
        if (mine !== generation) return;
        if (lost > 0) onLost(lost);
        if (loaded) applyEvent(event);
        else early.push(event);
      });
      if (mine !== generation) {
        void end().catch(() => undefined);
        return;
      }
      stopEvents = end;
      progress.value = 'Reading saved layout…';
      const positions = await layout.read(key);
      progress.value = 'Loading topology…';
      const topo = await schedulerCall('topology.get', {});
      // Marks let bench/topologyRender.ts split the time to first render into its steps.
      performance.mark('topology:fetched');
      const nodes = topo.cloudlets.reduce((n, c) => n + c.nodes.length, 0);
      progress.value = `Loading reservations for ${nodes} nodes…`;
      const listed = await schedulerCall('reservation.list', { states: [...holdingStates], limit: 10_000 });
      if (mine !== generation) return;
      layout.savedPositions.value = positions;
      holding.replace(listed.reservations);
      topology.value = topo;
      loaded = true;
      for (const event of early) applyEvent(event);
      lastUpdateAt.value = Date.now();
      phase.value = 'ready';
      progress.value = undefined;
      performance.mark('topology:ready');
      startPolling(pollMs(nodes));
      viState.follow(topo.cloudlets);
    } catch (e) {
      if (mine !== generation) return;
      const step = (progress.value ?? 'Loading').replace(/…$/, '').toLowerCase();
      phase.value = 'error';
      progress.value = undefined;
      error.value = `Could not load the topology while ${step}: ${toApiError(e).message}. Check the connection, then press Retry.`;
    }
  }

  function onLost(lost: number): void {
    // Missed events cannot be replayed: take a fresh snapshot instead.
    eventsLost.value += lost;
    void refresh({ reservations: true });
  }

  /** Applies one scheduler event in place; positions are not the store's business. */
  function applyEvent(event: SchedulerEvent): void {
    if (event.kind === 'reservation') {
      const r = event.reservation;
      holding.apply(r);
      // A VI started or stopped changes what its node reports: fetch the reports soon after.
      if (r.state === 'active' || finishing.has(r.state)) refreshSoon();
    } else {
      const topo = topology.value;
      if (!topo) return;
      if (!topo.cloudlets.some((c) => c.id === event.cloudletId)) {
        // A cloudlet the snapshot does not know: fetch it rather than invent it.
        void refresh();
        return;
      }
      topology.value = {
        ...topo,
        cloudlets: topo.cloudlets.map((c) => (c.id === event.cloudletId ? { ...c, status: event.status, connected: event.connected } : c)),
      };
      // A cloudlet that comes back has fresh node reports (and a controller to ask for VIs).
      if (event.status === 'healthy') void refresh();
      if (event.connected) viState.followCloudlet(event.cloudletId);
    }
    lastUpdateAt.value = Date.now();
  }

  /** One refresh shortly after a burst of starts and stops; big topologies wait for their poll. */
  function refreshSoon(): void {
    if (nodeCount.value > refreshSoonUpTo || soonTimer) return;
    soonTimer = setTimeout(() => {
      soonTimer = undefined;
      void refresh();
    }, refreshSoonMs);
  }

  /** Fetches the topology again (and optionally reservations) without a loading phase. */
  function refresh(what: { reservations?: boolean } = {}): Promise<void> {
    if (refreshing) return refreshing;
    const mine = generation;
    refreshing = (async () => {
      try {
        const [topo, listed] = await Promise.all([
          schedulerCall('topology.get', {}),
          what.reservations ? schedulerCall('reservation.list', { states: [...holdingStates], limit: 10_000 }) : Promise.resolve(undefined),
        ]);
        if (mine !== generation) return;
        topology.value = topo;
        if (listed) holding.replace(listed.reservations);
        lastUpdateAt.value = Date.now();
      } catch (e) {
        if (mine === generation) error.value = `Could not refresh the topology: ${toApiError(e).message}. Showing the last data received.`;
      } finally {
        refreshing = undefined;
      }
    })();
    return refreshing;
  }

  function startPolling(ms: number): void {
    stopPolling();
    pollTimer = setInterval(() => {
      if (phase.value === 'ready') void refresh();
    }, ms);
  }

  function stopPolling(): void {
    if (pollTimer) clearInterval(pollTimer);
    pollTimer = undefined;
    if (soonTimer) clearTimeout(soonTimer);
    soonTimer = undefined;
  }

  return {
    connection,
    topology,
    reservations: holding.reservations,
    vis: viState.vis,
    savedPositions: layout.savedPositions,
    phase,
    progress,
    error,
    saveError: layout.saveError,
    viError: viState.viError,
    eventsLost,
    lastUpdateAt,
    selectedId: selection.selectedId,
    activeOverlays: overlaySettings.activeOverlays,
    utilizationResource: overlaySettings.utilizationResource,
    index,
    reservationsByNode: holding.reservationsByNode,
    reservationCounts: holding.reservationCounts,
    overlayContext: overlaySettings.overlayContext,
    selected: selection.selected,
    topologyKey,
    nodeCount,
    start,
    stop,
    load,
    refresh,
    applyEvent,
    recordPositions: layout.recordPositions,
    flushPositions: layout.flushPositions,
    setVis: viState.setVis,
    select: selection.select,
    toggleOverlay: overlaySettings.toggleOverlay,
  };
});
