/**
 * The controller as the scheduler's agent (paper section 4.1.1): two-phase
 * confirmation (prepare, commit, abort), start, stop and resize commands, the
 * reconciliation with the scheduler's assignments after every (re)connection,
 * and what each periodic report carries.
 *
 * Answers come from local truth only: a prepare is refused when the node is
 * unknown or down, the program is not installed, a rule is refused by the
 * rule book, or the node would be overbooked at some instant (naming the
 * resource and the interval). Every change is stored before it is answered.
 */
import type { ControllerCommand, ForwardedAudit, Reservation, ViReport } from '../protocol/domain.ts';
import { portOf } from '../services/catalog.ts';
import type { CloudletEvents } from './cloudlet.ts';
import { viIdOf, type HoldBook } from './holds.ts';
import type { RuleInstaller } from './ruleInstaller.ts';
import type { ControllerStore, Hold } from './store.ts';
import { isEnded, type ViLifecycle } from './viLifecycle.ts';
import type { ViSupervisor } from './viSupervisor.ts';
import { checkUploadHold, describeBundle, type UploadStore } from './uploads.ts';
import type { LocalAudit } from './alarms.ts';

type Answer = { ok: boolean; reason?: string };

export interface SchedulerAgentOptions {
  cloudletId: string;
  store: ControllerStore;
  supervisor: ViSupervisor;
  holds: HoldBook;
  rules: RuleInstaller;
  vis: ViLifecycle;
  events: CloudletEvents;
  now: () => number;
  /** Looks a reservation up at the scheduler, for a start that arrives without a local hold. */
  fetchReservation: (reservationId: string) => Promise<Reservation | undefined>;
  /** Where a provider's bundle goes, chunk by chunk, when the scheduler forwards its upload. */
  uploads?: Pick<UploadStore, 'receive'> | undefined;
  /** The cloudlet's local audit: a bundle stored through the scheduler is recorded like one uploaded here. */
  audit?: Pick<LocalAudit, 'record'> | undefined;
}

export class SchedulerAgent {
  private readonly cloudletId: string;
  private readonly store: ControllerStore;
  private readonly supervisor: ViSupervisor;
  private readonly holds: HoldBook;
  private readonly rules: RuleInstaller;
  private readonly vis: ViLifecycle;
  private readonly events: CloudletEvents;
  private readonly now: () => number;
  private readonly fetchReservation: (reservationId: string) => Promise<Reservation | undefined>;
  private readonly uploads: Pick<UploadStore, 'receive'> | undefined;
  private readonly audit: Pick<LocalAudit, 'record'> | undefined;

  constructor(o: SchedulerAgentOptions) {
    this.cloudletId = o.cloudletId;
    this.store = o.store;
    this.supervisor = o.supervisor;
    this.holds = o.holds;
    this.rules = o.rules;
    this.vis = o.vis;
    this.events = o.events;
    this.now = o.now;
    this.fetchReservation = o.fetchReservation;
    this.uploads = o.uploads;
    this.audit = o.audit;
  }

  async command(c: ControllerCommand): Promise<Answer> {
    switch (c.kind) {
      case 'prepare':
        return this.prepare(c);
      case 'commit': {
        const hold = this.holds.get(c.reservationId);
        if (!hold || hold.state === 'ended') return { ok: false, reason: `nothing prepared for reservation ${c.reservationId} here (never prepared, aborted, or the hold lapsed)` };
        if (hold.state === 'prepared') this.holds.put({ ...hold, state: 'committed', expiresAt: null });
        this.events.changed();
        return { ok: true };
      }
      case 'abort': {
        const hold = this.holds.get(c.reservationId);
        if (hold && (hold.state === 'prepared' || hold.state === 'committed')) this.holds.end(c.reservationId);
        this.events.changed();
        return { ok: true };
      }
      case 'start':
        return this.start(c);
      case 'stop': {
        const vi = this.vis.get(viIdOf(c.reservationId));
        if (vi) await this.vis.teardown(vi, c.reason === 'terminated' ? 'terminated' : 'stopped', `the scheduler stopped it (${c.reason})`);
        this.holds.end(c.reservationId);
        this.events.changed();
        return { ok: true };
      }
      case 'resize': {
        const hold = this.holds.get(c.reservationId);
        if (!hold || hold.state === 'ended') return { ok: false, reason: `reservation ${c.reservationId} is not held here` };
        const fit = this.holds.fits(hold.nodeId, c.profile, hold.reservationId);
        if (fit) return { ok: false, reason: fit };
        this.holds.put({ ...hold, profile: c.profile });
        this.vis.applyProfile(viIdOf(hold.reservationId));
        this.events.changed();
        return { ok: true };
      }
      case 'upload':
        return this.upload(c);
    }
  }

  /** A chunk of the provider's bundle, forwarded by the scheduler (which checked whose reservation it is). */
  private upload(c: Extract<ControllerCommand, { kind: 'upload' }>): Answer {
    if (!this.uploads) return { ok: false, reason: `cloudlet ${this.cloudletId} takes no uploads` };
    try {
      const hold = this.holds.get(c.reservationId);
      checkUploadHold(hold, c.reservationId, this.cloudletId);
      const receipt = this.uploads.receive(c.reservationId, { offset: c.offset, total: c.total, data: Buffer.from(c.chunk, 'base64'), ...(c.sha256 ? { sha256: c.sha256 } : {}) });
      if (receipt.bundle) {
        const actor = { name: `${hold.providerId} (through the scheduler)`, role: 'provider' };
        this.audit?.record(actor, 'bundle.upload', `${this.cloudletId}/${c.reservationId}`, `${c.reason} (${describeBundle(receipt.bundle)})`);
      }
      return { ok: true, reason: receipt.bundle ? `stored: ${describeBundle(receipt.bundle)}`.slice(0, 2000) : `${receipt.received} of ${c.total} bytes received` };
    } catch (e) {
      return { ok: false, reason: (e as Error).message.slice(0, 2000) };
    }
  }

  private prepare(c: Extract<ControllerCommand, { kind: 'prepare' }>): Answer {
    const existing = this.holds.get(c.reservationId);
    if (existing && existing.state !== 'prepared' && existing.state !== 'ended') return { ok: true, reason: 'already committed here' };
    if (!this.holds.node(c.nodeId)) return { ok: false, reason: this.holds.unknownNode(c.nodeId) };
    const health = this.store.nodeHealth(c.nodeId);
    if (health.health === 'down') return { ok: false, reason: `node ${c.nodeId} is down (${health.reason})` };
    const refused = this.supervisor.serviceProblem(c.service);
    if (refused) return { ok: false, reason: refused };
    const noTaps = portOf(c.service).kind === 'tap' ? this.supervisor.tapRefusal() : null;
    if (noTaps) return { ok: false, reason: `cloudlet ${this.cloudletId}: ${noTaps}` };
    const rules = this.rules.check(c);
    if (!rules.ok) return { ok: false, reason: rules.reason };
    const fit = this.holds.fits(c.nodeId, c.profile, c.reservationId);
    if (fit) return { ok: false, reason: fit };
    this.holds.put({
      reservationId: c.reservationId,
      providerId: c.providerId,
      nodeId: c.nodeId,
      t0: c.t0,
      t1: c.t1,
      profile: c.profile,
      service: c.service,
      state: 'prepared',
      // A little longer than asked: a commit that arrives just after holdMs (a slow group commit
      // at the scheduler) should find its hold, and holding a few seconds more only errs on the safe side.
      expiresAt: this.now() + c.holdMs + 5000,
    });
    this.events.changed();
    return { ok: true };
  }

  private async start(c: Extract<ControllerCommand, { kind: 'start' }>): Promise<Answer> {
    let hold: Hold | undefined = this.holds.get(c.reservationId);
    if (!hold) {
      // Started without a local hold (state lost, or prepared by another run): take the provider from the scheduler.
      const r = await this.fetchReservation(c.reservationId);
      if (!r) return { ok: false, reason: `reservation ${c.reservationId} is unknown here and the scheduler did not list it in this cloudlet's assignments` };
      hold = { reservationId: r.id, providerId: r.providerId, nodeId: c.nodeId, t0: r.t0, t1: c.t1, profile: c.profile, service: c.service, state: 'committed', expiresAt: null };
    } else {
      hold = { ...hold, nodeId: c.nodeId, t1: c.t1, profile: c.profile, service: c.service };
    }
    const result = await this.vis.start(hold);
    // The scheduler fails a reservation whose start is refused: do not start it later on our own.
    if (!result.ok && this.holds.get(hold.reservationId)?.state !== 'running') this.holds.end(hold.reservationId);
    return result;
  }

  /**
   * After (re)connecting: the scheduler's assignments are the truth about what
   * should exist. Scheduled or active reservations missing here are held;
   * holds the scheduler no longer lists are ended and their VIs stopped.
   */
  async reconcile(assignments: readonly Reservation[]): Promise<void> {
    const listed = new Set(assignments.map((r) => r.id));
    for (const r of assignments) {
      if ((r.state !== 'scheduled' && r.state !== 'active') || !r.nodeId) continue;
      const h = this.holds.get(r.id);
      if (!h || h.state === 'ended' || h.state === 'prepared') {
        const vi = this.vis.get(viIdOf(r.id));
        const running = vi !== undefined && !isEnded(vi);
        if (h?.state === 'ended' && !running) continue;
        this.holds.put({ reservationId: r.id, providerId: r.providerId, nodeId: r.nodeId, t0: r.t0, t1: r.t1, profile: r.profile, service: r.service, state: running ? 'running' : 'committed', expiresAt: null });
      }
    }
    for (const h of this.holds.active()) {
      if (h.state === 'prepared' || listed.has(h.reservationId)) continue;
      const vi = this.vis.get(viIdOf(h.reservationId));
      if (vi) await this.vis.teardown(vi, 'stopped', 'the scheduler no longer assigns its reservation to this cloudlet');
      this.holds.end(h.reservationId);
    }
    this.events.changed();
  }

  /** VI changes and audit entries for the next report; `commit` once the scheduler has them. */
  pendingForReport(): { vis: ViReport[]; audit: ForwardedAudit[]; commit: () => void } {
    const vis = [...this.vis.unreported.values()];
    const audit = this.store.unforwardedAudit(256).map(({ forwarded: _f, ...e }) => e);
    return {
      vis,
      audit,
      commit: () => {
        for (const v of vis) if (this.vis.unreported.get(v.reservationId) === v) this.vis.unreported.delete(v.reservationId);
        this.store.markForwarded(audit.map((a) => a.seq));
      },
    };
  }
}
