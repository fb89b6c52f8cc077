/**
 * What operators and the scheduler see of this cloudlet: VIs with their live
 * usage, and nodes with what is allocated and available now. Read-only.
 */
import type { NodeDetail, ViView } from '../protocol/controllerApi.ts';
import type { NodeReport, ReservationRouterFlows } from '../protocol/domain.ts';
import { resourceNames } from '../protocol/domain.ts';
import { NotFound } from '../protocol/errors.ts';
import type { CloudletDataPath } from './dataPath.ts';
import type { FrontRouter } from './frontRouter.ts';
import { zeroResources } from '../protocol/profile.ts';
import type { HoldBook } from './holds.ts';
import type { ControllerStore, ViRecord } from './store.ts';
import { isEnded } from './viLifecycle.ts';
import type { ViSupervisor } from './viSupervisor.ts';


export class CloudletViews {
  private readonly store: ControllerStore;
  private readonly supervisor: ViSupervisor;
  private readonly holds: HoldBook;
  dataPath: CloudletDataPath | undefined;
  router: FrontRouter | undefined;

  constructor(options: { store: ControllerStore; supervisor: ViSupervisor; holds: HoldBook }) {
    this.store = options.store;
    this.supervisor = options.supervisor;
    this.holds = options.holds;
  }

  vi(vi: ViRecord): ViView {
    const routerFlows = isEnded(vi) ? undefined : this.router?.steers(vi.id);
    return {
      id: vi.id,
      reservationId: vi.reservationId,
      providerId: vi.providerId,
      nodeId: vi.nodeId,
      program: vi.program,
      state: vi.state,
      pid: isEnded(vi) ? null : vi.pid,
      startedAt: vi.startedAt,
      endedAt: vi.endedAt,
      t1: vi.t1,
      capacity: vi.capacity,
      limits: vi.limits,
      isolation: vi.isolation,
      usage: this.usage(vi.id),
      exit: vi.exitCode !== null || vi.exitSignal !== null ? { code: vi.exitCode, signal: vi.exitSignal } : null,
      reason: vi.reason,
      quarantined: vi.quarantined === true,
      ...(routerFlows ? { routerFlows } : {}),
    };
  }

  /** Whether each live VI with rules serves traffic (router flows installed); undefined without a router. */
  routerFlows(): ReservationRouterFlows[] | undefined {
    if (!this.router) return undefined;
    return this.router.steering().flatMap(({ viId, flows }) => {
      const vi = this.store.vi(viId);
      return vi && !isEnded(vi) ? [{ reservationId: vi.reservationId, ...flows }] : [];
    });
  }

  /** The last usage sample, with the VI port's traffic when it has one. */
  usage(viId: string): ViView['usage'] {
    const usage = this.supervisor.usage(viId);
    const traffic = this.dataPath?.lastTraffic(viId);
    return usage && traffic ? { ...usage, traffic } : usage;
  }

  node(nodeId: string): NodeDetail {
    const node = this.holds.node(nodeId);
    if (!node) throw new NotFound(this.holds.unknownNode(nodeId));
    const allocated = this.holds.allocatedNow(nodeId);
    const health = this.store.nodeHealth(nodeId);
    const available = { ...zeroResources };
    for (const r of resourceNames) available[r] = health.health === 'down' ? 0 : Math.max(0, node.capacity[r] - allocated[r]);
    const vis = this.store.vis().filter((v) => v.nodeId === nodeId && !isEnded(v)).length;
    return { id: nodeId, capacity: node.capacity, allocated, available, health: health.health, reason: health.reason, vis };
  }

  nodes(): NodeDetail[] {
    return this.holds.allNodes().map((n) => this.node(n.id));
  }

  nodeReports(): NodeReport[] {
    return this.nodes().map((n) => ({ nodeId: n.id, total: n.capacity, available: n.available, health: n.health }));
  }
}
