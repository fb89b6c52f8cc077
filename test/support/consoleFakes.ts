/**
 * Test doubles for the topology view: the DeterLab topology as the scheduler
 * reports it, reservations, and a fake console bridge that serves them and
 * lets a test push connection changes and scheduler events. Test support for
 * the renderer's store, component and view tests (never bundled).
 */
import { vi } from 'vitest';
import type { ConnectionStatus } from '../../main/protocol/consoleApi.ts';
import type { CloudletView, NodeView, Reservation, Resources, Topology } from '../../main/protocol/domain.ts';
import type { ViEvent, ViView } from '../../main/protocol/controllerApi.ts';
import type { SchedulerEvent } from '../../main/protocol/schedulerApi.ts';
import { setApiForTests, type ConsoleBridge } from '../../renderer/api/index.ts';

export const at = 1_780_000_000_000;
const capacity: Resources = { cpu: 8, memMiB: 16384, diskGiB: 250, netMbps: 1000 };

export function nodeView(id: string, cloudletId: string, usedCpu = 2, health: 'up' | 'degraded' | 'down' | 'unknown' = 'up'): NodeView {
  return { id, cloudletId, capacity, reported: { at, total: capacity, available: { ...capacity, cpu: capacity.cpu - usedCpu }, health } };
}

export function cloudletView(id: string, popId: string, nodes: string[], extra: Partial<CloudletView> = {}): CloudletView {
  return { id, popId, controllerUrl: null, connected: true, status: 'healthy', lastReportAt: at, ispShare: 0.1, nodes: nodes.map((n) => nodeView(n, id)), ...extra };
}

export function deterlab(): Topology {
  return {
    pops: [
      { id: 'A', name: 'Host A' },
      { id: 'R1', name: 'Router R1' },
      { id: 'R2', name: 'Router R2' },
      { id: 'B', name: 'Host B' },
    ],
    links: [
      { a: 'A', b: 'R1', rttMs: 0.2, capacityMbps: 1000 },
      { a: 'R1', b: 'R2', rttMs: 0.4, capacityMbps: 1000 },
      { a: 'R2', b: 'B', rttMs: 0.2, capacityMbps: 1000 },
    ],
    cloudlets: [cloudletView('C1', 'R1', ['C11', 'C12', 'C13']), cloudletView('C2', 'R2', ['C21', 'C22', 'C23'])],
  };
}

export function reservation(id: string, nodeId: string, state: Reservation['state']): Reservation {
  return {
    id,
    providerId: 'acme',
    requestorPopId: 'A',
    preferredCloudletId: null,
    t0: at,
    t1: at + 3_600_000,
    profile: [{ from: at, to: at + 3_600_000, capacity: { cpu: 2, memMiB: 1024, diskGiB: 1, netMbps: 100 } }],
    service: { mode: 'transparent', program: 'ids', args: {}, rules: [] },
    state,
    cloudletId: nodeId.slice(0, 2),
    nodeId,
    price: 1,
    paid: 0,
    createdAt: at,
    updatedAt: at,
    reason: '',
  };
}

export function viView(id: string, nodeId: string, state: ViView['state'], program = 'ids'): ViView {
  return {
    id,
    reservationId: `r-${id}`,
    providerId: 'acme',
    nodeId,
    program,
    state,
    pid: null,
    startedAt: at,
    endedAt: null,
    t1: at + 3_600_000,
    capacity: { cpu: 1, memMiB: 512, diskGiB: 1, netMbps: 100 },
    limits: { cpu: 1, memMiB: 512, ppsCap: null },
    isolation: { namespaces: [], cgroup: 'none', rlimits: [], notes: [] },
    usage: null,
    exit: null,
    reason: '',
    quarantined: false,
  };
}

export const connected: ConnectionStatus = { kind: 'lab', name: 'deterlab', schedulerUrl: 'ws://127.0.0.1:1', state: 'connected', message: 'connected', progress: null };

export interface FakeConsole {
  api: {
    layoutGet: ReturnType<typeof vi.fn>;
    layoutSave: ReturnType<typeof vi.fn>;
    schedulerCall: ReturnType<typeof vi.fn>;
    useLab: ReturnType<typeof vi.fn>;
  };
  setTopology(t: Topology): void;
  setReservations(r: Reservation[]): void;
  pushConnection(status: ConnectionStatus): void;
  pushEvent(event: SchedulerEvent, lost?: number): void;
  /** VIs each cloudlet's controller lists (vi.list). */
  setVis(cloudletId: string, vis: ViView[]): void;
  pushViEvent(cloudletId: string, event: ViEvent): void;
  /** Lets queued promises settle. */
  settle(): Promise<void>;
}

export function installFakeConsole(options: { positions?: Record<string, { x: number; y: number }>; failTopology?: string } = {}): FakeConsole {
  let topology = deterlab();
  let reservations: Reservation[] = [];
  const visByCloudlet = new Map<string, ViView[]>();
  const controllerCall = vi.fn(async ({ cloudletId, method }: { cloudletId: string; method: string }) => {
    if (method === 'vi.list') return { vis: structuredClone(visByCloudlet.get(cloudletId) ?? []) };
    throw new Error(`unexpected controller method ${method}`);
  });
  const sinks = new Map<string, (item: unknown, lost: number) => void>();
  const layoutGet = vi.fn(async () => ({ positions: options.positions ?? {} }));
  const layoutSave = vi.fn(async () => ({}));
  const useLab = vi.fn(async () => connected);
  const schedulerCall = vi.fn(async ({ method }: { method: string }) => {
    if (method === 'topology.get') {
      if (options.failTopology) throw new Error(options.failTopology);
      return structuredClone(topology);
    }
    if (method === 'reservation.list') return { reservations: structuredClone(reservations) };
    throw new Error(`unexpected scheduler method ${method}`);
  });
  const subscribe = vi.fn(async (topic: string, params: { topic?: string; cloudletId?: string }, onItem: (item: unknown, lost: number) => void) => {
    const key = topic === 'scheduler.subscribe' ? `scheduler:${params.topic}` : topic === 'controller.subscribe' ? `controller:${params.cloudletId}:${params.topic}` : topic;
    sinks.set(key, onItem);
    return async () => undefined;
  });
  setApiForTests({
    layout: { get: layoutGet, save: layoutSave },
    scheduler: { call: schedulerCall },
    controller: { call: controllerCall },
    connection: { useLab },
    subscribe,
  } as unknown as ConsoleBridge);
  const settle = async (): Promise<void> => {
    for (let i = 0; i < 10; i++) await Promise.resolve();
    await new Promise((r) => setTimeout(r, 0));
  };
  return {
    api: { layoutGet, layoutSave, schedulerCall, useLab },
    setTopology: (t) => (topology = t),
    setReservations: (r) => (reservations = r),
    pushConnection: (status) => sinks.get('connection.changes')?.(status, 0),
    pushEvent: (event, lost = 0) => sinks.get('scheduler:scheduler.events')?.(event, lost),
    setVis: (cloudletId, list) => visByCloudlet.set(cloudletId, list),
    pushViEvent: (cloudletId, event) => sinks.get(`controller:${cloudletId}:vi.events`)?.(event, 0),
    settle,
  };
}
