/**
 * What a NOC operator may do to this cloudlet (DESIGN.md section 5): restrict
 * a suspect VI's caps, terminate it (rules first, so its traffic falls back to
 * legacy forwarding), mark a node down or up. Every action is audited before
 * it takes effect, and the audit entry joins the scheduler's chain.
 */
import type { NodeDetail, ViLimits, ViView } from '../protocol/controllerApi.ts';
import { Conflict, Invalid } from '../protocol/errors.ts';
import type { Alarms, LocalAudit } from './alarms.ts';
import type { Actor, CloudletEvents } from './cloudlet.ts';
import type { EvidenceRings } from './evidenceRing.ts';
import type { ControllerStore, ViRecord } from './store.ts';
import { isEnded, type ViLifecycle } from './viLifecycle.ts';
import type { ViSupervisor } from './viSupervisor.ts';
import type { CloudletViews } from './views.ts';

export interface OperatorActionsOptions {
  cloudletId: string;
  store: ControllerStore;
  supervisor: ViSupervisor;
  vis: ViLifecycle;
  views: CloudletViews;
  alarms: Alarms;
  audit: LocalAudit;
  events: CloudletEvents;
  evidence?: EvidenceRings | undefined;
}

export class OperatorActions {
  private readonly cloudletId: string;
  private readonly store: ControllerStore;
  private readonly supervisor: ViSupervisor;
  private readonly vis: ViLifecycle;
  private readonly views: CloudletViews;
  private readonly alarms: Alarms;
  private readonly audit: LocalAudit;
  private readonly events: CloudletEvents;
  private readonly evidence: EvidenceRings | undefined;

  constructor(o: OperatorActionsOptions) {
    this.cloudletId = o.cloudletId;
    this.store = o.store;
    this.supervisor = o.supervisor;
    this.vis = o.vis;
    this.views = o.views;
    this.alarms = o.alarms;
    this.audit = o.audit;
    this.events = o.events;
    this.evidence = o.evidence;
  }

  restrict(actor: Actor, viId: string, caps: { cpu?: number; memMiB?: number; ppsCap?: number; mbpsCap?: number }, reason: string): { vi: ViView; problems: string[] } {
    const vi = this.vis.require(viId);
    if (vi.state !== 'running') throw new Conflict(`VI ${viId} is ${vi.state}: only a running VI can be restricted`);
    const reserved = { cpu: vi.capacity.cpu, memMiB: vi.capacity.memMiB, mbpsCap: vi.capacity.netMbps };
    for (const r of ['cpu', 'memMiB', 'mbpsCap'] as const) {
      const v = caps[r];
      if (v !== undefined && v > reserved[r]) {
        throw new Invalid(`${r} ${v} is above VI ${viId}'s reserved ${reserved[r]}: restrict only lowers caps (at most ${reserved[r]})`);
      }
    }
    const limits: ViLimits = {
      cpu: caps.cpu ?? vi.limits.cpu,
      memMiB: caps.memMiB ?? vi.limits.memMiB,
      ppsCap: caps.ppsCap ?? vi.limits.ppsCap,
      mbpsCap: caps.mbpsCap ?? vi.limits.mbpsCap ?? null,
    };
    this.audit.record(
      actor,
      'vi.restrict',
      `${this.cloudletId}/${vi.nodeId}/${viId}`,
      `${reason} (cpu ${limits.cpu}, memMiB ${limits.memMiB}, ppsCap ${limits.ppsCap ?? 'none'}, mbpsCap ${limits.mbpsCap ?? 'none'})`,
    );
    const { vi: set, problems } = this.supervisor.setLimits(viId, limits);
    // Say in the VI itself what the kernel refused (e.g. a memory cap below current use on cgroup v1).
    const next = { ...set, reason: `restricted by ${actor.name}: ${reason}${problems.length ? `; not enforced: ${problems.join('; ')}` : ''}` };
    this.store.putVi(next);
    this.vis.limitTraffic(next);
    return { vi: this.views.vi(next), problems };
  }

  /** Quarantines a running VI (audited first): rules removed, it keeps running, what it emits is dropped. */
  quarantine(actor: Actor, viId: string, reason: string): ViView {
    const vi = this.vis.require(viId);
    if (vi.state !== 'running') throw new Conflict(`VI ${viId} is ${vi.state}: only a running VI can be quarantined`);
    if (vi.quarantined) return this.views.vi(vi);
    this.audit.record(actor, 'vi.quarantine', `${this.cloudletId}/${vi.nodeId}/${viId}`, reason);
    return this.views.vi(this.vis.quarantine({ ...vi, reason: `quarantined by ${actor.name}: ${reason}` }));
  }

  /** Releases a quarantined VI (audited first): its emissions pass the checks again, its rules come back. */
  release(actor: Actor, viId: string, reason: string): ViView {
    const vi = this.vis.require(viId);
    if (!vi.quarantined) throw new Conflict(`VI ${viId} is not quarantined`);
    if (vi.state !== 'running') throw new Conflict(`VI ${viId} is ${vi.state}: only a running VI can be released`);
    this.audit.record(actor, 'vi.release', `${this.cloudletId}/${vi.nodeId}/${viId}`, reason);
    return this.views.vi(this.vis.release({ ...vi, reason: `released by ${actor.name}: ${reason}` }));
  }

  /**
   * Rules first (its traffic goes legacy at once), then the process and its port; then its
   * evidence ring is sealed as pcapng and the file's SHA-256 goes into the audit entry.
   */
  async terminate(actor: Actor, viId: string, reason: string): Promise<ViView> {
    const vi = this.vis.require(viId);
    if (isEnded(vi)) return this.views.vi(vi);
    const target = `${this.cloudletId}/${vi.nodeId}/${viId}`;
    let done: ViRecord;
    try {
      done = await this.vis.teardown(vi, 'terminated', `terminated by ${actor.name}: ${reason}`);
    } finally {
      this.audit.record(actor, 'vi.terminate', target, `${reason}${this.sealEvidence(viId)}`);
    }
    return this.views.vi(done);
  }

  /** " (evidence: ...)" for the audit entry, or why there is none. */
  private sealEvidence(viId: string): string {
    if (!this.evidence) return '';
    try {
      const sealed = this.evidence.seal(viId);
      return ` (evidence: ${sealed.samples} sampled packets in ${sealed.path}, sha256 ${sealed.sha256})`;
    } catch (e) {
      return ` (no evidence sealed: ${(e as Error).message})`;
    }
  }

  async setNodeHealth(actor: Actor, nodeId: string, health: 'up' | 'down', reason: string): Promise<NodeDetail> {
    this.views.node(nodeId);
    const before = this.store.nodeHealth(nodeId);
    this.audit.record(actor, health === 'down' ? 'node.down' : 'node.up', `${this.cloudletId}/${nodeId}`, reason);
    this.store.setNodeHealth(nodeId, health, reason);
    if (health === 'down' && before.health !== 'down') {
      this.alarms.raise({ kind: 'node_down', severity: 'critical', subject: nodeId, message: `node ${nodeId} of ${this.cloudletId} marked down by ${actor.name}: ${reason}` });
      await Promise.all(this.vis.live(nodeId).map((v) => this.vis.teardown(v, 'failed', `node ${nodeId} went down: ${reason}`)));
    }
    this.events.changed();
    return this.views.node(nodeId);
  }
}
