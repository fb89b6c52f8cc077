/**
 * Reservations as the operator works them: the pending queue with each
 * request's admission analysis, the active and past lists with filter and
 * sort, and the approve, decline, cancel and resize actions. Kept live from
 * the scheduler's event stream; emptied as soon as the console switches to
 * another lab or scheduler, and reloaded when it is connected.
 */
import { defineStore } from 'pinia';
import { computed, ref, shallowRef, watch } from 'vue';
import type { Reservation, ReservationState, Resources, Transition } from '../../main/protocol/domain.ts';
import type { Explanation } from '../../main/protocol/schedulerApi.ts';
import { finalStates, holdingStates, reservationStates } from '../../main/protocol/vocabulary.ts';
import { toApiError } from '../api/index.ts';
import { schedulerCall, schedulerSubscribe } from '../api/relay.ts';
import { useConnectionStore } from './connection.ts';

export const pendingStates: readonly ReservationState[] = ['pending_approval'];
/** Every state that is neither waiting for approval nor over. */
export const activeStates: readonly ReservationState[] = reservationStates.filter((s) => !pendingStates.includes(s) && !finalStates.includes(s));
export const pastStates: readonly ReservationState[] = finalStates;

export interface Quote {
  charge: number;
  refund: number;
  fine: number;
}

/** A node as the calendar lists it (one row each), with where it sits. */
export interface NodePlace {
  nodeId: string;
  cloudletId: string;
  popId: string;
}

export type SortKey = 't0' | 't1' | 'createdAt' | 'providerId' | 'state' | 'price' | 'nodeId';

/** States of a reservation an operator has approved and that is not over yet. */
const approvedStates: readonly ReservationState[] = holdingStates.filter((s) => !pendingStates.includes(s));

export const useReservationsStore = defineStore('reservations', () => {
  const byId = shallowRef(new Map<string, Reservation>());
  const loading = ref(false);
  const error = ref<string>();
  const explanations = ref(new Map<string, Explanation | string>());
  const filterText = ref('');
  const sortKey = ref<SortKey>('t0');
  const sortAscending = ref(true);
  const currency = ref('EUR');
  const nodes = ref<NodePlace[]>([]);
  /** The last request that arrived (by event, not by a load) waiting for approval: others views notify. */
  const arrived = ref<Reservation>();
  /** The last reservation that failed after it was approved (at confirmation or at its start): announced wherever the operator is. */
  const failedAfterApproval = ref<Reservation>();
  let unsubscribe: (() => Promise<void>) | undefined;

  /** Forgets the previous connection's reservations, so none stays on screen with live buttons. */
  function reset(): void {
    const end = unsubscribe;
    unsubscribe = undefined;
    void end?.().catch(() => undefined);
    byId.value = new Map();
    explanations.value = new Map();
    nodes.value = [];
    arrived.value = undefined;
    failedAfterApproval.value = undefined;
    error.value = undefined;
  }
  watch(() => useConnectionStore().target, reset);

  function upsert(r: Reservation): void {
    const next = new Map(byId.value);
    next.set(r.id, r);
    byId.value = next;
  }

  const all = computed(() => [...byId.value.values()]);
  const pending = computed(() => all.value.filter((r) => pendingStates.includes(r.state)).sort((a, b) => a.createdAt - b.createdAt));

  function matches(r: Reservation, text: string): boolean {
    if (!text) return true;
    const hay = `${r.id} ${r.providerId} ${r.state} ${r.cloudletId ?? ''} ${r.nodeId ?? ''} ${r.service.program} ${r.requestorPopId}`.toLowerCase();
    return text
      .toLowerCase()
      .split(/\s+/)
      .every((word) => hay.includes(word));
  }

  function sorted(list: Reservation[]): Reservation[] {
    const key = sortKey.value;
    const dir = sortAscending.value ? 1 : -1;
    return [...list].sort((a, b) => {
      const x = a[key] ?? '';
      const y = b[key] ?? '';
      return (x < y ? -1 : x > y ? 1 : 0) * dir || a.id.localeCompare(b.id);
    });
  }

  const active = computed(() => sorted(all.value.filter((r) => activeStates.includes(r.state) && matches(r, filterText.value))));
  const past = computed(() => sorted(all.value.filter((r) => pastStates.includes(r.state) && matches(r, filterText.value))));

  function sortBy(key: SortKey): void {
    if (sortKey.value === key) sortAscending.value = !sortAscending.value;
    else {
      sortKey.value = key;
      sortAscending.value = true;
    }
  }

  async function load(): Promise<void> {
    loading.value = true;
    error.value = undefined;
    try {
      await unsubscribe?.();
      // Subscribe first so nothing that changes during the load is missed.
      unsubscribe = await schedulerSubscribe('scheduler.events', {}, (event) => {
        if (event.kind !== 'reservation') return;
        const r = event.reservation;
        const before = byId.value.get(r.id)?.state;
        if (pendingStates.includes(r.state) && before !== r.state) arrived.value = r;
        if (r.state === 'failed' && before !== undefined && approvedStates.includes(before)) failedAfterApproval.value = r;
        upsert(r);
      });
      const [{ reservations }, info] = await Promise.all([schedulerCall('reservation.list', { limit: 10_000 }), schedulerCall('scheduler.info', {})]);
      currency.value = info.currency;
      const next = new Map(byId.value);
      for (const r of reservations) next.set(r.id, r);
      byId.value = next;
    } catch (e) {
      error.value = `Could not load reservations: ${toApiError(e).message}`;
    } finally {
      loading.value = false;
    }
  }

  /** The nodes of the connected scheduler's topology, for the calendar's rows and the dialogs' paths. */
  async function loadNodes(): Promise<void> {
    try {
      const topology = await schedulerCall('topology.get', {});
      nodes.value = topology.cloudlets.flatMap((c) => c.nodes.map((n) => ({ nodeId: n.id, cloudletId: c.id, popId: c.popId })));
    } catch (e) {
      error.value = `Could not load the nodes: ${toApiError(e).message}`;
    }
  }

  /**
   * How many reservations would end with the connected lab: asked of the
   * scheduler at the moment of the question, not taken from what is loaded.
   */
  async function openCounts(): Promise<{ pending: number; active: number }> {
    const { reservations } = await schedulerCall('reservation.list', { states: [...pendingStates, ...activeStates], limit: 10_000 });
    const pending = reservations.filter((r) => pendingStates.includes(r.state)).length;
    return { pending, active: reservations.length - pending };
  }

  /** Every state transition of one reservation, oldest first; throws what the scheduler said. */
  async function history(id: string): Promise<Transition[]> {
    return (await schedulerCall('reservation.get', { id })).transitions ?? [];
  }

  async function explain(id: string): Promise<Explanation | string> {
    const known = explanations.value.get(id);
    if (known) return known;
    let result: Explanation | string;
    try {
      result = await schedulerCall('admission.explain', { reservationId: id });
    } catch (e) {
      result = `No admission analysis: ${toApiError(e).message}`;
    }
    explanations.value = new Map(explanations.value).set(id, result);
    return result;
  }

  async function act<T>(what: string, run: () => Promise<T>): Promise<T | undefined> {
    error.value = undefined;
    try {
      return await run();
    } catch (e) {
      error.value = `${what} failed: ${toApiError(e).message}`;
      return undefined;
    }
  }

  const approve = (id: string, reason = 'approved by operator') =>
    act('Approve', async () => {
      const r = await schedulerCall('reservation.approve', { id, reason });
      upsert(r);
      return r;
    });
  const decline = (id: string, reason: string) =>
    act('Decline', async () => {
      const r = await schedulerCall('reservation.decline', { id, reason });
      upsert(r);
      return r;
    });
  const cancel = (id: string, reason: string) =>
    act('Cancel', async () => {
      const r = await schedulerCall('reservation.cancel', { id, reason });
      upsert(r.reservation);
      return r;
    });
  const resize = (id: string, capacity: Resources, reason: string) =>
    act('Resize', async () => {
      const r = await schedulerCall('reservation.resize', { id, capacity, reason });
      upsert(r.reservation);
      return r;
    });

  /** What cancel or resize would cost now, or why it cannot be done (shown in the confirmation). */
  async function quote(id: string, q: { action: 'cancel' } | { action: 'resize'; capacity: Resources }): Promise<Quote | string> {
    try {
      return await schedulerCall('reservation.quote', { id, ...q });
    } catch (e) {
      return `Not possible: ${toApiError(e).message}`;
    }
  }

  return { quote, byId, all, pending, active, past, loading, error, explanations, filterText, sortKey, sortAscending, currency, nodes, arrived, failedAfterApproval, sortBy, load, loadNodes, openCounts, history, explain, approve, decline, cancel, resize, upsert };
});
