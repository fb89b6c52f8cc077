/**
 * The topology view's state: what the console is connected to, the
 * scheduler's topology, the reservations that hold capacity, VIs per node,
 * saved positions, the selection and the overlays' settings.
 *
 * Live: `connection.changes` says when to (re)load; once loaded,
 * `scheduler.events` patches reservations and cloudlet status in place and a
 * slow poll of `topology.get` brings the controllers' node reports. Nothing
 * here knows about positions beyond storing them: the graph keeps every
 * element where it is and only asks to save what the user moved.
 */
import { defineStore } from 'pinia';
import { computed, ref, shallowRef, triggerRef } from 'vue';
import type { ConnectionStatus } from '../../main/protocol/consoleApi.ts';
import type { Reservation, ReservationState, Topology } from '../../main/protocol/domain.ts';
import type { SchedulerEvent } from '../../main/protocol/schedulerApi.ts';
import { toApiError, useApi } from '../api/index.ts';
import { schedulerCall, schedulerSubscribe } from '../api/relay.ts';
import { countReservations, reservationsByNode as groupByNode } from '../components/topology/overlays/reservationCounts.ts';
import type { OverlayContext, OverlayId, ResourceKey } from '../components/topology/overlays/topologyOverlay.ts';
import { indexTopology, type ViSummary } from '../composables/topology/topologyModel.ts';
import { startViFeed, type ViFeed } from '../composables/topology/viFeed.ts';

export interface Position {
  x: number;
  y: number;
}

export type TopologyPhase = 'disconnected' | 'connecting' | 'loading' | 'ready' | 'error';

/** Reservations that hold capacity on a node: the only ones the overlay counts. */
const holdingStates: ReservationState[] = ['pending_approval', 'approved', 'confirming', 'scheduled', 'active'];
const saveDelayMs = 800;
/** States in which a reservation's VI stops, freeing what its node reports as used. */
const finishing = new Set<ReservationState>(['expired', 'cancelled', 'terminated', 'failed']);
const refreshSoonMs = 2000;
const refreshSoonUpTo = 1000;
/** Node reports arrive only through topology.get; a big topology is polled less often. */
const pollMs = (nodes: number): number => (nodes > 1000 ? 30_000 : 5_000);

export const useTopologyStore = defineStore('topology', () => {
  const connection = ref<ConnectionStatus>();
  const topology = shallowRef<Topology>();
  const reservations = shallowRef(new Map<string, Reservation>());
  const vis = shallowRef(new Map<string, ViSummary[]>());
  /** Saved positions (element id -> position) of the loaded topology. */
  const savedPositions = shallowRef<Record<string, Position>>({});
  const phase = ref<TopologyPhase>('disconnected');
  /** What a long load is doing now, for the progress line. */
  const progress = ref<string>();
  const error = ref<string>();
  const saveError = ref<string>();
  /** Why some VIs are missing (a controller that did not answer). */
  const viError = ref<string>();
  const eventsLost = ref(0);
  const lastUpdateAt = ref<number>();
  const selectedId = ref<string>();
  const activeOverlays = ref<OverlayId[]>(['health']);
  const utilizationResource = ref<ResourceKey>('cpu');

  const index = computed(() => indexTopology(topology.value, vis.value));
  const reservationsByNode = computed(() => groupByNode(reservations.value.values()));
  const reservationCounts = computed(() => countReservations(reservationsByNode.value));
  const overlayContext = computed<OverlayContext>(() => ({
    reservationCounts: reservationCounts.value,
    reservationsByNode: reservationsByNode.value,
    utilizationResource: utilizationResource.value,
  }));
  const selected = computed(() => (selectedId.value ? index.value.items.get(selectedId.value) : undefined));
  /** Positions are saved per topology: the connection's name (lab topology or profile). */
  const topologyKey = computed(() => (connection.value && connection.value.kind !== 'none' && connection.value.name ? connection.value.name : undefined));
  const nodeCount = computed(() => topology.value?.cloudlets.reduce((n, c) => n + c.nodes.length, 0) ?? 0);

  let stopConnection: (() => Promise<void>) | undefined;
  let stopEvents: (() => Promise<void>) | undefined;
  let viFeed: ViFeed | undefined;
  let pollTimer: ReturnType<typeof setInterval> | undefined;
  let saveTimer: ReturnType<typeof setTimeout> | undefined;
  let unsaved: Record<string, Position> = {};
  let unsavedKey: string | undefined;
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
    stopViFeed();
    await flushPositions();
    const ends = [stopEvents, stopConnection];
    stopEvents = stopConnection = undefined;
    await Promise.all(ends.map((end) => end?.().catch(() => undefined)));
  }

  async function onConnection(status: ConnectionStatus): Promise<void> {
    const previous = connection.value;
    connection.value = status;
    if (status.state === 'connected') {
      const sameTarget = previous?.state === 'connected' && previous.kind === status.kind && previous.name === status.name;
      if (!sameTarget || phase.value === 'error' || phase.value === 'disconnected') await load();
      return;
    }
    // The relayed subscription ends with the connection; drop it and wait for the next "connected".
    generation += 1;
    stopPolling();
    stopViFeed();
    const end = stopEvents;
    stopEvents = undefined;
    void end?.().catch(() => undefined);
    if (status.state === 'failed') {
      phase.value = 'error';
      error.value = status.message || 'The connection failed.';
    } else if (status.state === 'starting' || status.state === 'reconnecting') {
      phase.value = 'connecting';
      error.value = undefined;
    } else {
      phase.value = 'disconnected';
      error.value = undefined;
      topology.value = undefined;
      reservations.value = new Map();
      selectedId.value = undefined;
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
      const positions = key ? await useApi().layout.get({ topology: key }).then((r) => r.positions, () => ({})) : {};
      progress.value = 'Loading topology…';
      const topo = await schedulerCall('topology.get', {});
      // Marks let bench/topologyRender.ts split the time to first render into its steps.
      performance.mark('topology:fetched');
      const nodes = topo.cloudlets.reduce((n, c) => n + c.nodes.length, 0);
      progress.value = `Loading reservations for ${nodes} nodes…`;
      const listed = await schedulerCall('reservation.list', { states: holdingStates, limit: 10_000 });
      if (mine !== generation) return;
      savedPositions.value = positions;
      reservations.value = new Map(listed.reservations.map((r) => [r.id, r]));
      topology.value = topo;
      loaded = true;
      for (const event of early) applyEvent(event);
      lastUpdateAt.value = Date.now();
      phase.value = 'ready';
      progress.value = undefined;
      performance.mark('topology:ready');
      startPolling(pollMs(nodes));
      stopViFeed();
      viFeed = startViFeed(topo.cloudlets, setVis, (message) => (viError.value = message));
    } catch (e) {
      if (mine !== generation) return;
      const step = (progress.value ?? 'Loading').replace(/…$/, '').toLowerCase();
      phase.value = 'error';
      progress.value = undefined;
      error.value = `Could not load the topology while ${step}: ${toApiError(e).message}. Check the connection, then press Retry.`;
    }
  }

  function stopViFeed(): void {
    const feed = viFeed;
    viFeed = undefined;
    void feed?.stop();
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
      if (holdingStates.includes(r.state)) reservations.value.set(r.id, r);
      else reservations.value.delete(r.id);
      triggerRef(reservations);
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
      if (event.connected) viFeed?.follow(event.cloudletId);
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
          what.reservations ? schedulerCall('reservation.list', { states: holdingStates, limit: 10_000 }) : Promise.resolve(undefined),
        ]);
        if (mine !== generation) return;
        topology.value = topo;
        if (listed) reservations.value = new Map(listed.reservations.map((r) => [r.id, r]));
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

  /** Remembers positions the user gave elements and saves them shortly after (one call per burst). */
  function recordPositions(positions: Record<string, Position>): void {
    const key = topologyKey.value;
    if (!key) return;
    if (unsavedKey !== key) unsaved = {};
    unsavedKey = key;
    savedPositions.value = { ...savedPositions.value, ...positions };
    Object.assign(unsaved, positions);
    if (saveTimer) clearTimeout(saveTimer);
    saveTimer = setTimeout(() => void flushPositions(), saveDelayMs);
  }

  async function flushPositions(): Promise<void> {
    if (saveTimer) clearTimeout(saveTimer);
    saveTimer = undefined;
    const key = unsavedKey;
    const positions = unsaved;
    unsaved = {};
    if (!key || Object.keys(positions).length === 0) return;
    try {
      await useApi().layout.save({ topology: key, positions });
      saveError.value = undefined;
    } catch (e) {
      saveError.value = `Could not save the layout: ${toApiError(e).message}. Positions are kept in this window.`;
    }
  }

  /** VIs reported by a cloudlet's controller replace that cloudlet's previous list. */
  function setVis(cloudletId: string, list: ViSummary[]): void {
    const next = new Map(vis.value);
    for (const [nodeId, nodeVis] of next) if (nodeVis[0]?.cloudletId === cloudletId) next.delete(nodeId);
    for (const vi of list) next.set(vi.nodeId, [...(next.get(vi.nodeId) ?? []), vi]);
    vis.value = next;
  }

  function select(elementId: string | undefined): void {
    const item = elementId ? index.value.items.get(elementId) : undefined;
    selectedId.value = item ? elementId : undefined;
    // Big topologies follow VIs only where the operator looks.
    const cloudletId = item?.kind === 'cloudlet' ? item.id : item?.kind === 'node' ? item.cloudlet.id : item?.kind === 'vi' ? item.vi.cloudletId : undefined;
    if (cloudletId) viFeed?.follow(cloudletId);
  }

  function toggleOverlay(id: OverlayId): void {
    activeOverlays.value = activeOverlays.value.includes(id) ? activeOverlays.value.filter((o) => o !== id) : [...activeOverlays.value, id];
  }

  return {
    connection,
    topology,
    reservations,
    vis,
    savedPositions,
    phase,
    progress,
    error,
    saveError,
    viError,
    eventsLost,
    lastUpdateAt,
    selectedId,
    activeOverlays,
    utilizationResource,
    index,
    reservationsByNode,
    reservationCounts,
    overlayContext,
    selected,
    topologyKey,
    nodeCount,
    start,
    stop,
    load,
    refresh,
    applyEvent,
    recordPositions,
    flushPositions,
    setVis,
    select,
    toggleOverlay,
  };
});
