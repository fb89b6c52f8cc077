/**
 * The VIs of one cloudlet through their lives: started for a hold (the VI
 * first, then its rules, so traffic never reaches a VI that is not there),
 * resized as the profile steps, torn down (rules first, so the traffic falls
 * back to legacy forwarding before the process stops), and their changes
 * queued for the scheduler's next report.
 */
import type { ViLimits, ViState } from '../protocol/controllerApi.ts';
import type { ViReport } from '../protocol/domain.ts';
import { endedViStates, resourceNames } from '../protocol/vocabulary.ts';
import { Conflict, NotFound } from '../protocol/errors.ts';
import { portOf } from '../services/catalog.ts';
import type { Alarms } from './alarms.ts';
import type { CloudletDataPath } from './dataPath.ts';
import type { CloudletEvents } from './cloudlet.ts';
import { capacityAt } from '../protocol/profile.ts';
import { viIdOf, type HoldBook } from './holds.ts';
import type { RuleInstaller } from './ruleInstaller.ts';
import type { CloudletViews } from './views.ts';
import type { ControllerStore, Hold, ViRecord } from './store.ts';
import type { ViSupervisor } from './viSupervisor.ts';

export const isEnded = (vi: Pick<ViRecord, 'state'>): boolean => endedViStates.includes(vi.state);

export interface ViLifecycleOptions {
  cloudletId: string;
  store: ControllerStore;
  supervisor: ViSupervisor;
  holds: HoldBook;
  rules: RuleInstaller;
  alarms: Alarms;
  views: CloudletViews;
  events: CloudletEvents;
  now: () => number;
  log: (line: string) => void;
}

export class ViLifecycle {
  private readonly cloudletId: string;
  private readonly store: ControllerStore;
  private readonly supervisor: ViSupervisor;
  private readonly holds: HoldBook;
  private readonly rules: RuleInstaller;
  private readonly alarms: Alarms;
  private readonly views: CloudletViews;
  private readonly events: CloudletEvents;
  private readonly now: () => number;
  private readonly log: (line: string) => void;
  /** VI changes not yet acknowledged by the scheduler, by reservation. */
  readonly unreported = new Map<string, ViReport>();
  /** The data plane, when this controller carries traffic (attached once it runs). */
  dataPath: CloudletDataPath | undefined;

  constructor(o: ViLifecycleOptions) {
    this.cloudletId = o.cloudletId;
    this.store = o.store;
    this.supervisor = o.supervisor;
    this.holds = o.holds;
    this.rules = o.rules;
    this.alarms = o.alarms;
    this.views = o.views;
    this.events = o.events;
    this.now = o.now;
    this.log = o.log;
  }

  get(viId: string): ViRecord | undefined {
    return this.store.vi(viId);
  }

  require(viId: string): ViRecord {
    const vi = this.store.vi(viId);
    if (!vi) throw new NotFound(`no VI "${viId}" in cloudlet ${this.cloudletId}`);
    return vi;
  }

  /** VIs not yet ended, optionally on one node. */
  live(nodeId?: string): ViRecord[] {
    return this.store.vis().filter((v) => !isEnded(v) && (nodeId === undefined || v.nodeId === nodeId));
  }

  /** The supervisor saw a VI change state (started, exited, stopped). */
  onChanged(vi: ViRecord, from: ViState | null): void {
    this.unreported.set(vi.reservationId, { reservationId: vi.reservationId, nodeId: vi.nodeId, state: vi.state, reason: vi.reason.slice(0, 1024), at: this.now() });
    if (vi.state === 'failed' && from !== 'failed') this.onFailed(vi);
    this.events.viChanged(this.views.vi(vi), from);
    this.events.changed();
  }

  /**
   * The router started or stopped steering a VI's traffic to it: the VI keeps
   * its state, but the scheduler and the consoles hear that it does not serve
   * traffic while its flows are missing.
   */
  onRouterSteeringChanged(viId: string): void {
    const vi = this.store.vi(viId);
    if (!vi || isEnded(vi)) return;
    const view = this.views.vi(vi);
    const reason = view.routerFlows && !view.routerFlows.installed ? `${vi.state}, but not serving traffic: ${view.routerFlows.detail}` : vi.reason;
    this.unreported.set(vi.reservationId, { reservationId: vi.reservationId, nodeId: vi.nodeId, state: vi.state, reason: reason.slice(0, 1024), at: this.now() });
    this.events.viChanged(view, vi.state);
    this.events.changed();
  }

  private onFailed(vi: ViRecord): void {
    // Its traffic falls back to legacy forwarding; its capacity is released.
    this.rules.remove(vi.id);
    this.dataPath?.closePort(vi.id);
    this.holds.end(vi.reservationId);
    // A node going down raised its own alarm; its VIs do not each raise another.
    if (this.store.nodeHealth(vi.nodeId).health === 'down') return;
    const lost = vi.reason.startsWith('its process was gone');
    this.alarms.raise({
      kind: lost ? 'vi_lost' : 'vi_crashed',
      severity: 'critical',
      subject: vi.id,
      message: `VI ${vi.id} (reservation ${vi.reservationId}, provider ${vi.providerId}) on node ${vi.nodeId}: ${vi.reason}`,
    });
  }

  /** Starts the VI of a hold and installs its rules; idempotent while it runs. */
  async start(hold: Hold): Promise<{ ok: boolean; reason?: string }> {
    const viId = viIdOf(hold.reservationId);
    const current = this.store.vi(viId);
    if (current && !isEnded(current)) return { ok: true, reason: 'already running' };
    const health = this.store.nodeHealth(hold.nodeId);
    if (health.health === 'down') return { ok: false, reason: `node ${hold.nodeId} is down (${health.reason})` };
    const rules = this.rules.check(hold);
    if (!rules.ok) return { ok: false, reason: rules.reason };
    const tap = portOf(hold.service).kind === 'tap';
    const noTaps = tap ? this.supervisor.tapRefusal() : null;
    if (noTaps) return { ok: false, reason: `VI ${viId} could not start: ${noTaps}` };
    this.holds.put({ ...hold, state: 'running', expiresAt: null });
    const request = { viId, service: hold.service };
    const plan = this.dataPath?.portPlan(request);
    // A ring port exists before the VI does, so the VI finds it as soon as it looks. A tap port
    // goes into the VI's own network namespace, which exists only once its launcher made it.
    let env: Record<string, string> = plan?.env ?? {};
    try {
      if (!tap) env = this.dataPath?.openPort(request) ?? {};
    } catch (e) {
      this.holds.end(hold.reservationId);
      return { ok: false, reason: `VI ${viId}: its data-plane port could not be opened: ${(e as Error).message}` };
    }
    let vi: ViRecord;
    try {
      vi = await this.supervisor.start({
        env,
        viId,
        reservationId: hold.reservationId,
        providerId: hold.providerId,
        nodeId: hold.nodeId,
        program: hold.service.program,
        args: hold.service.args,
        capacity: capacityAt(hold.profile, this.now()),
        t1: hold.t1,
        port: plan?.port ?? null,
      });
    } catch (e) {
      this.dataPath?.closePort(viId);
      this.holds.end(hold.reservationId);
      return { ok: false, reason: `VI ${viId} could not start: ${(e as Error).message}` };
    }
    if (vi.state !== 'running') {
      this.dataPath?.closePort(viId);
      return { ok: false, reason: `VI ${viId} could not start: ${vi.reason}` };
    }
    if (tap && this.dataPath && vi.pid !== null) {
      try {
        await this.dataPath.openTapPort(request, vi.pid);
      } catch (e) {
        const reason = `its tap port could not be opened: ${(e as Error).message}`;
        await this.teardown(vi, 'failed', reason);
        return { ok: false, reason: `VI ${viId} could not start: ${reason}` };
      }
    }
    this.portReady(vi);
    // The VI is up: now steer its traffic to it.
    this.rules.install(rules.rules);
    this.events.changed();
    return { ok: true };
  }

  /** Rules first, then the process: SIGTERM, grace, SIGKILL, reap. Idempotent. */
  async teardown(vi: ViRecord, final: 'stopped' | 'terminated' | 'failed', reason: string): Promise<ViRecord> {
    this.rules.remove(vi.id);
    if (isEnded(vi)) {
      this.dataPath?.closePort(vi.id);
      return vi;
    }
    const done = await this.supervisor.stop(vi.id, final, reason);
    this.dataPath?.closePort(vi.id);
    this.holds.end(vi.reservationId);
    this.events.changed();
    return done;
  }

  /** Applies the capacity of the profile's current sub-slot, keeping any operator restriction. */
  applyProfile(viId: string): void {
    const vi = this.store.vi(viId);
    const hold = vi ? this.holds.get(vi.reservationId) : undefined;
    if (!vi || !hold || vi.state !== 'running') return;
    const cap = capacityAt(hold.profile, this.now());
    if (resourceNames.every((r) => cap[r] === vi.capacity[r])) return;
    const limits: ViLimits = {
      cpu: vi.limits.cpu < vi.capacity.cpu ? Math.min(vi.limits.cpu, cap.cpu) : cap.cpu,
      memMiB: vi.limits.memMiB < vi.capacity.memMiB ? Math.min(vi.limits.memMiB, cap.memMiB) : cap.memMiB,
      ppsCap: vi.limits.ppsCap,
      mbpsCap: vi.limits.mbpsCap ?? null,
    };
    this.store.putVi({ ...vi, capacity: cap });
    const { vi: set, problems } = this.supervisor.setLimits(viId, limits);
    this.limitTraffic(set);
    if (problems.length) this.log(`VI ${viId}: resize to ${JSON.stringify(cap)}: ${problems.join('; ')}`);
  }

  /** A running VI's port is its own: the socket for its user, its token buckets, and any quarantine. */
  private portReady(vi: ViRecord): void {
    if (vi.isolation.user) this.dataPath?.grant(vi.id, vi.isolation.user);
    this.limitTraffic(vi);
    if (vi.quarantined) this.dataPath?.setQuarantined(vi.id, true);
  }

  /**
   * Quarantine: the VI's rules go first (its traffic falls back to legacy at once), then its port
   * drops everything it emits; the VI keeps running, e.g. for the operator to look at.
   */
  quarantine(vi: ViRecord): ViRecord {
    this.rules.remove(vi.id);
    this.dataPath?.setQuarantined(vi.id, true);
    const next = { ...vi, quarantined: true };
    this.store.putVi(next);
    this.events.viChanged(this.views.vi(next), vi.state);
    this.events.changed();
    return next;
  }

  /** Undoes quarantine: the port forwards again, then the VI's rules (checked again) steer its traffic back. */
  release(vi: ViRecord): ViRecord {
    const hold = this.holds.get(vi.reservationId);
    if (!hold) throw new Conflict(`VI ${vi.id} has no hold any more: it cannot get its rules back`);
    const rules = this.rules.check(hold);
    if (!rules.ok) throw new Conflict(`VI ${vi.id} cannot get its rules back: ${rules.reason}`);
    this.dataPath?.setQuarantined(vi.id, false);
    this.rules.install(rules.rules);
    const next = { ...vi, quarantined: false };
    this.store.putVi(next);
    this.events.viChanged(this.views.vi(next), vi.state);
    this.events.changed();
    return next;
  }

  /** The VI's token buckets in the data plane: its reservation's network share now, lowered by an operator's caps. */
  limitTraffic(vi: ViRecord): void {
    this.dataPath?.setLimits(vi.id, { netMbps: Math.min(vi.capacity.netMbps, vi.limits.mbpsCap ?? Infinity), ppsCap: vi.limits.ppsCap });
  }

  /** After a controller restart: an adopted VI gets its port back (its ring client reconnects). */
  reattach(vi: ViRecord): void {
    const hold = this.holds.get(vi.reservationId);
    if (!this.dataPath || !hold) return;
    const failed = (e: unknown): void => this.log(`VI ${vi.id}: its data-plane port could not be opened again after the restart: ${(e as Error).message}`);
    const request = { viId: vi.id, service: hold.service };
    if (portOf(hold.service).kind === 'tap') {
      // Its devices went with the previous controller's fds; new ones go into its namespace, which lives on.
      if (vi.pid !== null) void this.dataPath.openTapPort(request, vi.pid).then(() => this.portReady(vi), failed);
      return;
    }
    try {
      this.dataPath.openPort(request);
      this.portReady(vi);
    } catch (e) {
      failed(e);
    }
  }
}
