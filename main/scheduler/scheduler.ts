/**
 * The scheduler's core: the reservation state machine (DESIGN.md section 4)
 * over the admission index, the store, the controllers and the lifecycle
 * timers. Transport-free: api.ts maps the wire contract onto these methods.
 *
 * Every change follows one pattern: decide in memory (synchronously, so no
 * other request can interleave), describe the writes (reservation row,
 * transition, holds, ledger, audit entry) in one WriteSet, await the group
 * commit, then publish events and answer. Changes to one reservation run one
 * after another (reservationQueue.ts), each on the state the one before
 * committed, including while one waits on the controller.
 *
 * Capacity a change frees counts as free only once the change is durable (and,
 * for a running VI's resize, applied by its controller): until then the index
 * keeps the larger of what was and what will be held. Capacity a change takes
 * is taken at decision time. So the index never offers what the database or
 * a controller might still hold, whatever fails in between.
 */
import type { CloudletStatus, ControllerReport, Profile, Reservation, ReservationRequest, ReservationState, Resources } from '../protocol/domain.ts';
import { finalStates, holdingStates } from '../protocol/domain.ts';
import { cancellableStates } from '../protocol/vocabulary.ts';
import { Conflict, DomainError, ErrorCode, Invalid, NotFound } from '../protocol/errors.ts';
import type { Explanation, SchedulerEvent } from '../protocol/schedulerApi.ts';
import { AdmissionIndex, type AdmissionRequest, type Decision, type DecideOptions } from './admission.ts';
import { AuditChain, systemActor, verifyChain, type Actor, type ChainPoint, type ChainVerdict } from './audit.ts';
import type { SchedulerConfig } from './config.ts';
import { ControllerHub, type CommandBody } from './controllers.ts';
import { Inventory } from './inventory.ts';
import { Lifecycle } from './lifecycle.ts';
import { parsePrefix, type Prefix } from '../protocol/prefix.ts';
import { Billing } from './billing.ts';
import { coveringProfile, sameProfile } from '../protocol/profile.ts';
import { ControllerReports } from './controllerReports.ts';
import { roundMoney } from './pricing.ts';
import { recordRefusal } from './refusals.ts';
import { checkProfile, checkRequest, type RequestRules } from './requests.ts';
import { checkStore, profileOfHolds, restoreFromStore, resumeAfterRestart } from './recovery.ts';
import { ReservationQueue } from './reservationQueue.ts';
import { Store, WriteSetRefused, type WriteSet } from './store.ts';

export interface SchedulerOptions {
  now?: () => number;
  log?: (line: string) => void;
  onFatal?: (error: Error) => void;
}

const conflict = (message: string): Conflict => new Conflict(message);

/** The index key of the hold a reservation keeps on its old node while its move to another is not yet durable. */
const leavingKey = (id: string): string => `${id}#leaving`;

export { InconsistentStoreError } from './recovery.ts';

export class Scheduler {
  readonly config: SchedulerConfig;
  readonly store: Store;
  readonly inventory: Inventory;
  readonly index: AdmissionIndex;
  readonly hub: ControllerHub;
  readonly now: () => number;
  readonly billing: Billing;
  private readonly audit: AuditChain;
  private readonly lifecycle: Lifecycle;
  private readonly log: (line: string) => void;
  private readonly ownership = new Map<string, Prefix[]>();
  /** Every reservation not yet in a final state. */
  private readonly live = new Map<string, Reservation>();
  private readonly queue = new ReservationQueue();
  /** Requests by client request id whose answer is not yet durable: a repeat gets the first one's answer. */
  private readonly clientRequests = new Map<string, Promise<Reservation>>();
  /** Active reservations whose stored holds cover a resize nobody knows the controller applied (after a crash). */
  private readonly unsettledResizes = new Set<string>();
  /** Controllers' reports: node views, VIs that ended there, their audit entries (forwarded once each). */
  private readonly reports: ControllerReports;
  private readonly listeners = new Set<(e: SchedulerEvent) => void>();
  private nextNumber: number;
  private trimTimer: NodeJS.Timeout | undefined;

  constructor(config: SchedulerConfig, options: SchedulerOptions = {}) {
    this.config = config;
    this.now = options.now ?? Date.now;
    this.log = options.log ?? ((line) => process.stderr.write(`${line}\n`));
    this.store = new Store(config.database, { groupCommitMs: config.groupCommitMs, ...(options.onFatal ? { onFatal: options.onFatal } : {}) });
    this.billing = new Billing(config.pricing);
    this.inventory = new Inventory(config.topology, config.ispShare);
    this.index = new AdmissionIndex(this.inventory);
    for (const p of config.providers) this.ownership.set(p.id, p.prefixes.map(parsePrefix));
    this.audit = new AuditChain(this.store.lastAudit());
    this.reports = new ControllerReports({
      inventory: this.inventory,
      store: this.store,
      audit: this.audit,
      now: () => this.now(),
      commit: (ws) => this.commit(ws),
      endFromCloudlet: (id, cloudletId, to, actor, reason) => this.endFromCloudlet(id, cloudletId, to, actor, reason),
    });
    this.nextNumber = this.store.lastReservationNumber() + 1;
    this.hub = new ControllerHub({
      cloudletIds: this.inventory.cloudlets.map((c) => c.id),
      staleAfterMs: config.staleAfterMs,
      now: this.now,
      onStatus: (cloudletId, status, connected) => this.cloudletChanged(cloudletId, status, connected),
    });
    this.lifecycle = new Lifecycle(this.now, (id) => void this.due(id));
    try {
      restoreFromStore({
        store: this.store, index: this.index, billing: this.billing, lifecycle: this.lifecycle, hub: this.hub,
        live: this.live, unsettledResizes: this.unsettledResizes, isIsp: (providerId) => this.isIsp(providerId),
      });
      checkStore({ store: this.store, index: this.index, inventory: this.inventory, database: config.database });
    } catch (e) {
      this.lifecycle.stop();
      this.store.close();
      throw e;
    }
  }

  start(): void {
    this.hub.start();
    resumeAfterRestart(this.live.values(), this.unsettledResizes, {
      hub: this.hub,
      reconnectWaitMs: this.config.reconnectWaitMs,
      log: this.log,
      reconfirm: (id) => this.reconfirm(id),
      settleResize: (id) => this.settleResize(id),
    });
    this.trimTimer = setInterval(() => this.index.trimBefore(this.now() - this.config.slotMs), 60_000);
    this.trimTimer.unref();
  }

  private reconfirm(id: string): Promise<Reservation | undefined> {
    return this.queue.run(id, async () => {
      const r = this.live.get(id);
      if (!r || (r.state !== 'confirming' && r.state !== 'approved')) return undefined;
      return this.confirmNow(id, systemActor);
    });
  }

  /**
   * A resize was waiting on the controller when the scheduler stopped: the
   * store holds the larger of both profiles and the row the old one. Tell the
   * controller the stored profile again, then hold just that; if it does not
   * answer, keep holding the larger (safe) and say so.
   */
  private settleResize(id: string): Promise<void> {
    return this.queue.run(id, async () => {
      const r = this.live.get(id);
      if (!r || !this.unsettledResizes.has(id)) return;
      if (r.state !== 'active' || !r.cloudletId || !r.nodeId) {
        this.unsettledResizes.delete(id);
        return;
      }
      const outcome = await this.hub.send(r.cloudletId, { kind: 'resize', reservationId: id, profile: r.profile }, this.config.holdTimeoutMs);
      if (!outcome.ok) {
        this.log(`${id}: a resize was interrupted by a restart and its controller did not confirm the stored profile (${outcome.reason}); it keeps holding the larger of both`);
        return;
      }
      const nodeId = r.nodeId;
      const isp = this.isIsp(r.providerId);
      const ws = this.store.begin().holds(id, nodeId, isp, r.profile);
      ws.whenDurable(() => this.index.place(id, nodeId, r.profile, isp));
      await this.commit(ws);
      this.unsettledResizes.delete(id);
    });
  }

  close(): void {
    this.lifecycle.stop();
    this.hub.stop();
    if (this.trimTimer) clearInterval(this.trimTimer);
    this.store.close();
  }

  isIsp(providerId: string): boolean {
    return providerId === this.config.ispProviderId;
  }

  // ------------------------------------------------------------ events

  subscribe(listener: (e: SchedulerEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private publish(e: SchedulerEvent): void {
    for (const l of this.listeners) l(e);
  }

  private cloudletChanged(cloudletId: string, status: CloudletStatus, connected: boolean): void {
    this.publish({ kind: 'cloudlet', at: this.now(), cloudletId, status, connected });
  }

  // ------------------------------------------------------------ helpers


  /**
   * Records a state change in the write set; final states release everything
   * held. `writeRow` false leaves the reservation row to the caller (a new
   * reservation is inserted once, in its final state of the request).
   */
  private transition(ws: WriteSet, r: Reservation, to: ReservationState, actor: Actor, reason: string, writeRow = true): void {
    const at = this.now();
    const from = r.state;
    r.state = to;
    r.updatedAt = at;
    r.reason = reason;
    if (writeRow) ws.updateReservation(r);
    ws.transition(r.id, { at, from, to, actor: actor.name, reason });
    ws.audit(this.audit.next(at, actor, `reservation.${to}`, r.id, reason));
    if (finalStates.includes(to)) {
      const id = r.id;
      ws.whenDurable(() => this.index.release(id));
      this.billing.release(r.id, r.providerId);
      this.live.delete(r.id);
      if (writeRow) ws.holds(r.id, null, false, null);
    }
  }

  /**
   * Awaits the set's group commit, then publishes. A set the database refused
   * (rolled back alone) leaves the reservations it touched as stored: they are
   * reloaded, and the caller gets an error saying so.
   */
  private async commit(ws: WriteSet, ...changed: Reservation[]): Promise<void> {
    await this.durable(ws, changed);
    const at = this.now();
    for (const r of changed) this.publish({ kind: 'reservation', at, reservation: { ...r } });
  }

  private async durable(ws: WriteSet, changed: readonly Reservation[]): Promise<void> {
    try {
      await this.store.commit(ws);
    } catch (e) {
      if (!(e instanceof WriteSetRefused)) throw e;
      for (const r of changed) this.reload(r);
      const ids = changed.map((r) => r.id).join(', ');
      this.log(`${e.message}${ids ? ` (${ids} reloaded from the store)` : ''}`);
      throw new DomainError(ErrorCode.InternalError, `the change was not recorded: ${e.message}${ids ? `; ${ids} left as stored` : ''}`);
    }
  }

  /** Cloudlets and nodes that cannot take work now; with a program, also cloudlets whose controller said it cannot run it. */
  private skipOptions(program?: string): DecideOptions {
    return {
      cloudletSkip: (id) => {
        const view = this.hub.view(id);
        if (view?.status === 'stale') return `stale: no report from its controller for over ${this.config.staleAfterMs} ms`;
        if (program && view?.programs && !view.programs.includes(program)) return `does not offer program "${program}" (offers: ${view.programs.join(', ') || 'none'})`;
        return null;
      },
      // Most of the time no node is down: then there is nothing to ask per node.
      nodeSkip: this.hub.downNodes === 0 ? undefined : (nodeId) => {
        const node = this.inventory.nodeById.get(nodeId);
        const report = node && this.hub.view(node.cloudletId)?.nodes.get(nodeId);
        return report?.health === 'down' ? `reported down at ${new Date(report.at).toISOString()}` : null;
      },
    };
  }

  private admissionRequest(providerId: string, req: Pick<Reservation, 'requestorPopId' | 't0' | 't1' | 'profile'> & { preferredCloudletId?: string | null }): AdmissionRequest {
    return {
      providerId,
      isp: this.isIsp(providerId),
      requestorPopId: req.requestorPopId,
      preferredCloudletId: req.preferredCloudletId ?? null,
      t0: req.t0,
      t1: req.t1,
      profile: req.profile,
    };
  }

  /** Memory back in step with the store for one reservation whose change the database refused. */
  private reload(r: Reservation): void {
    const stored = this.store.reservation(r.id);
    this.index.release(leavingKey(r.id));
    if (stored && holdingStates.includes(stored.state) && stored.nodeId) {
      const rows = this.store.holdsOf(r.id);
      this.live.set(r.id, stored);
      this.index.place(r.id, stored.nodeId, rows.length ? profileOfHolds(rows) : stored.profile, this.isIsp(stored.providerId));
      this.billing.hold(r.id, stored.providerId, stored.profile);
    } else {
      this.index.release(r.id);
      this.billing.release(r.id, r.providerId);
      this.live.delete(r.id);
    }
  }

  private mustGet(id: string): Reservation {
    const r = this.live.get(id) ?? this.store.reservation(id);
    if (!r) throw new NotFound(`no reservation "${id}"`);
    return r;
  }

  get(id: string, withTransitions = true): Reservation {
    const r = { ...this.mustGet(id) };
    if (withTransitions) r.transitions = this.store.transitions(id);
    return r;
  }

  /**
   * Sends a chunk of a provider's program bundle on to the controller of the cloudlet that holds
   * its reservation (the controller checks, stages and, on the last chunk, stores it: uploads.ts).
   * Only a reservation a cloudlet holds and that has not ended can take one.
   */
  async upload(id: string, c: { offset: number; total: number; chunk: string; sha256?: string | undefined; reason: string }): Promise<{ id: string; received: number; stored: boolean; detail: string }> {
    const r = this.mustGet(id);
    if (finalStates.includes(r.state)) throw new Conflict(`reservation ${id} is ${r.state}: its bundle would never run`);
    if (!r.cloudletId || !holdingStates.includes(r.state)) throw new Conflict(`reservation ${id} is ${r.state}: no cloudlet holds it yet, so there is no controller to take its bundle`);
    const { sha256, ...rest } = c;
    const outcome = await this.hub.send(r.cloudletId, { kind: 'upload', reservationId: id, ...rest, ...(sha256 ? { sha256 } : {}) }, this.config.holdTimeoutMs);
    if (!outcome.ok) throw new Invalid(`cloudlet ${r.cloudletId} refused the upload for reservation ${id}: ${outcome.reason}`);
    return { id, received: c.offset + Buffer.from(c.chunk, 'base64').length, stored: sha256 !== undefined, detail: outcome.reason };
  }

  liveReservations(): Reservation[] {
    return [...this.live.values()];
  }

  // ------------------------------------------------------------ requests

  private requestRules(now: number): RequestRules {
    return {
      now,
      slotMs: this.config.slotMs,
      horizonMs: this.config.horizonDays * 86_400_000,
      inventory: this.inventory,
      ownership: this.ownership,
      ispProviderId: this.config.ispProviderId,
    };
  }

  /** The admission decision for a request (validation, then the index), without recording anything. */
  decision(providerId: string, req: ReservationRequest, now = this.now()): Decision {
    checkRequest(req, providerId, this.requestRules(now));
    return this.index.decide(this.admissionRequest(providerId, req), this.skipOptions(req.service.program));
  }

  /**
   * A provider's request. The same `clientRequestId` again gets the first
   * request's answer: from memory while the first is not yet durable (the
   * store is a group commit behind), from the store after.
   */
  request(providerId: string, req: ReservationRequest, actor: Actor): Promise<Reservation> {
    if (req.clientRequestId === undefined) return this.admit(providerId, req, actor);
    const key = `${providerId}\n${req.clientRequestId}`;
    const first = this.clientRequests.get(key);
    if (first) return first;
    const answer = this.admit(providerId, req, actor);
    this.clientRequests.set(key, answer);
    const forget = (): void => {
      if (this.clientRequests.get(key) === answer) this.clientRequests.delete(key);
    };
    answer.then(forget, forget);
    return answer;
  }

  private async admit(providerId: string, req: ReservationRequest, actor: Actor): Promise<Reservation> {
    if (req.clientRequestId) {
      const existing = this.store.reservationByClientId(providerId, req.clientRequestId);
      if (existing) return existing;
    }
    const now = this.now();
    const decision = this.decision(providerId, req, now);
    const r: Reservation = {
      id: `r-${this.nextNumber++}`,
      providerId,
      requestorPopId: req.requestorPopId,
      preferredCloudletId: req.preferredCloudletId ?? null,
      t0: req.t0,
      t1: req.t1,
      profile: req.profile,
      service: req.service,
      state: 'requested',
      cloudletId: decision.chosen?.cloudletId ?? null,
      nodeId: decision.chosen?.nodeId ?? null,
      price: this.billing.price(providerId, req.profile),
      paid: 0,
      createdAt: now,
      updatedAt: now,
      reason: 'requested',
    };
    // A refusal holds nothing: it is counted, not kept as a reservation (refusals.ts).
    if (!decision.chosen) return recordRefusal(this.store, r, req, decision);
    // The row is written once, in the state this request ends in; foreign keys are checked at commit.
    const ws = this.store.begin();
    ws.transition(r.id, { at: now, from: null, to: 'requested', actor: actor.name, reason: 'requested' });
    ws.audit(this.audit.next(now, actor, 'reservation.requested', r.id, `${req.requestorPopId} ${new Date(req.t0).toISOString()}..${new Date(req.t1).toISOString()}, ${req.profile.length} sub-slot(s), ${req.service.program}`));
    this.index.place(r.id, decision.chosen.nodeId, r.profile, this.isIsp(providerId));
    this.billing.hold(r.id, providerId, r.profile);
    this.live.set(r.id, r);
    this.transition(ws, r, 'pending_approval', systemActor, `admitted: ${decision.reason}`, false);
    const auto = this.config.approval.autoApproveAll || this.config.approval.autoApprove.includes(providerId);
    if (auto) this.transition(ws, r, 'approved', systemActor, `approved by policy for provider ${providerId}`, false);
    ws.insertReservation(r, req.clientRequestId);
    ws.holds(r.id, r.nodeId, this.isIsp(providerId), r.profile, true);
    this.lifecycle.schedule(r.id, r.t0);
    // A new id: nothing is queued for it, so this starts now, and any change to it waits for the insert.
    return this.queue.run(r.id, async () => {
      await this.commit(ws, r);
      if (auto) return this.confirmNow(r.id, systemActor);
      return { ...r };
    });
  }

  approve(id: string, actor: Actor, reason: string): Promise<Reservation> {
    return this.queue.run(id, async () => {
      const r = this.mustGet(id);
      if (r.state !== 'pending_approval') throw conflict(`reservation ${id} is ${r.state}: only a pending_approval reservation can be approved`);
      const ws = this.store.begin();
      this.transition(ws, r, 'approved', actor, reason);
      await this.commit(ws, r);
      return this.confirmNow(id, actor);
    });
  }

  decline(id: string, actor: Actor, reason: string): Promise<Reservation> {
    return this.queue.run(id, async () => {
      const r = this.mustGet(id);
      if (r.state !== 'pending_approval') throw conflict(`reservation ${id} is ${r.state}: only a pending_approval reservation can be declined`);
      const ws = this.store.begin();
      this.transition(ws, r, 'declined', actor, reason);
      await this.commit(ws, r);
      return { ...r };
    });
  }

  /**
   * Two-phase confirm with the chosen cloudlet's controller: prepare (the
   * capacity stays held meanwhile), then commit; a refusal or silence moves
   * on to the next candidate, excluding the cloudlets already tried. The
   * caller holds the reservation's queue.
   */
  private async confirmNow(id: string, actor: Actor): Promise<Reservation> {
    const r = this.live.get(id);
    if (!r) return this.get(id, false);
    const tried = new Set<string>();
    for (;;) {
      const cloudletId = r.cloudletId as string;
      const nodeId = r.nodeId as string;
      if (r.state !== 'confirming') {
        const ws = this.store.begin();
        this.transition(ws, r, 'confirming', actor, `preparing on node ${nodeId} of cloudlet ${cloudletId}`);
        await this.commit(ws, r);
      }
      const outcome = await this.hub.send(
        cloudletId,
        { kind: 'prepare', reservationId: id, providerId: r.providerId, nodeId, t0: r.t0, t1: r.t1, profile: r.profile, service: r.service, holdMs: this.config.holdTimeoutMs },
        this.config.holdTimeoutMs,
      );
      if (outcome.ok) {
        const ws = this.store.begin();
        r.paid = roundMoney(r.paid + r.price);
        ws.ledger({ at: this.now(), providerId: r.providerId, reservationId: id, kind: 'charge', amount: r.price, note: `reservation on ${nodeId} (${cloudletId})` });
        this.transition(ws, r, 'scheduled', actor, `confirmed by the controller of ${cloudletId}`);
        await this.commit(ws, r);
        void this.tell(cloudletId, { kind: 'commit', reservationId: id });
        this.lifecycle.schedule(id, r.t0);
        return { ...r };
      }
      tried.add(cloudletId);
      void this.tell(cloudletId, { kind: 'abort', reservationId: id, reason: outcome.reason });
      // Its own hold stays put while deciding: it is on a cloudlet the decision excludes.
      const next = this.index.decide(this.admissionRequest(r.providerId, r), { ...this.skipOptions(r.service.program), excludeCloudlets: tried });
      const ws = this.store.begin();
      if (!next.chosen) {
        this.transition(ws, r, 'failed', actor, `${cloudletId}: ${outcome.reason}; no other cloudlet can host it (${next.reason})`);
        await this.commit(ws, r);
        return { ...r };
      }
      const isp = this.isIsp(r.providerId);
      const held = this.index.holdOf(id);
      // The old node stays held until the move is durable.
      if (held) this.index.place(leavingKey(id), held.node.id, held.profile, held.isp);
      this.index.place(id, next.chosen.nodeId, r.profile, isp);
      ws.whenDurable(() => this.index.release(leavingKey(id)));
      r.cloudletId = next.chosen.cloudletId;
      r.nodeId = next.chosen.nodeId;
      ws.holds(id, r.nodeId, isp, r.profile);
      this.transition(ws, r, 'confirming', actor, `${cloudletId}: ${outcome.reason}; trying node ${r.nodeId} of ${r.cloudletId}`);
      await this.commit(ws, r);
    }
  }

  /** A command whose answer changes nothing here; failures are logged. */
  private async tell(cloudletId: string, body: CommandBody): Promise<void> {
    const outcome = await this.hub.send(cloudletId, body, this.config.holdTimeoutMs);
    if (!outcome.ok) this.log(`${body.kind} ${body.reservationId} on ${cloudletId}: ${outcome.reason}`);
  }

  // ------------------------------------------------------------ lifecycle

  /**
   * A start or end instant came due (also right after a restart for missed
   * ones). It waits its turn behind any change in progress, then acts on the
   * state that change left.
   */
  private async due(id: string): Promise<void> {
    if (!this.live.has(id)) return;
    try {
      await this.queue.run(id, () => this.dueNow(id));
    } catch (e) {
      this.log(`lifecycle of ${id}: ${(e as Error).message}`);
    }
  }

  private async dueNow(id: string): Promise<void> {
    const r = this.live.get(id);
    if (!r) return;
    const now = this.now();
    if ((r.state === 'pending_approval' || r.state === 'approved') && now >= r.t0) {
      const ws = this.store.begin();
      this.transition(ws, r, 'declined', systemActor, `t0 (${new Date(r.t0).toISOString()}) passed before it was approved`);
      await this.commit(ws, r);
    } else if (r.state === 'scheduled' && now >= r.t0) {
      await this.startVi(r);
    } else if (r.state === 'active' && now >= r.t1) {
      await this.end(r, 'expired', systemActor, 't1 reached');
    } else if (r.state === 'scheduled' || r.state === 'active') {
      this.lifecycle.schedule(id, r.state === 'active' ? r.t1 : r.t0);
    } else if (r.state === 'confirming') {
      // Left confirming by a refused write: look again once a controller could have answered.
      this.lifecycle.schedule(id, now + this.config.holdTimeoutMs);
    }
  }

  private async startVi(r: Reservation): Promise<void> {
    const cloudletId = r.cloudletId as string;
    const outcome = await this.hub.send(
      cloudletId,
      { kind: 'start', reservationId: r.id, nodeId: r.nodeId as string, profile: r.profile, service: r.service, t1: r.t1 },
      this.config.holdTimeoutMs,
    );
    const ws = this.store.begin();
    if (outcome.ok) {
      this.transition(ws, r, 'active', systemActor, `started by the controller of ${cloudletId}`);
      this.lifecycle.schedule(r.id, r.t1);
    } else {
      // The ISP could not deliver: the provider gets everything back.
      if (r.paid > 0) {
        ws.ledger({ at: this.now(), providerId: r.providerId, reservationId: r.id, kind: 'refund', amount: -r.paid, note: 'the VI could not be started' });
        r.paid = 0;
      }
      this.transition(ws, r, 'failed', systemActor, `start failed: ${outcome.reason}`);
    }
    await this.commit(ws, r);
  }

  /** Ends a reservation now; a running VI loses its rules first, then stops. */
  private async end(r: Reservation, to: 'expired' | 'cancelled' | 'terminated', actor: Actor, reason: string, refund = 0): Promise<void> {
    const wasRunning = r.state === 'active';
    const ws = this.store.begin();
    if (refund > 0) {
      ws.ledger({ at: this.now(), providerId: r.providerId, reservationId: r.id, kind: 'refund', amount: -refund, note: reason });
      r.paid = roundMoney(r.paid - refund);
    }
    this.transition(ws, r, to, actor, reason);
    await this.commit(ws, r);
    if (wasRunning && r.cloudletId) void this.tell(r.cloudletId, { kind: 'stop', reservationId: r.id, reason: to });
    else if (r.cloudletId && to !== 'expired') void this.tell(r.cloudletId, { kind: 'abort', reservationId: r.id, reason });
  }

  cancel(id: string, actor: Actor, reason: string): Promise<{ reservation: Reservation; refund: number }> {
    return this.queue.run(id, async () => {
      const r = this.mustGet(id);
      if (!cancellableStates.includes(r.state)) {
        throw conflict(`reservation ${id} is ${r.state}: only pending_approval, approved, scheduled or active reservations can be cancelled`);
      }
      const refund = this.billing.cancelRefund(r, this.now());
      await this.end(r, 'cancelled', actor, reason, refund);
      return { reservation: { ...r }, refund };
    });
  }

  terminate(id: string, actor: Actor, reason: string): Promise<Reservation> {
    return this.queue.run(id, async () => {
      const r = this.mustGet(id);
      if (r.state !== 'scheduled' && r.state !== 'active') throw conflict(`reservation ${id} is ${r.state}: only scheduled or active reservations can be terminated`);
      await this.end(r, 'terminated', actor, reason);
      return { ...r };
    });
  }

  /**
   * Scale to `capacity` from `from` to t1, checked on the same node for the
   * rest of the slot. Growing is charged at the tiered price; shrinking a
   * running VI costs a fine; shrinking before the start is refunded like a
   * partial cancellation.
   */
  resize(id: string, capacity: Resources, fromAt: number | undefined, actor: Actor, reason: string): Promise<{ reservation: Reservation; charge: number; refund: number; fine: number }> {
    return this.queue.run(id, () => this.resizeNow(id, capacity, fromAt, actor, reason));
  }

  /**
   * Until the resize is durable (and applied by the controller of a running
   * VI) the reservation holds, in the index and, while the controller is
   * asked, in the store too, the larger of old and new at every instant: what
   * a shrink frees is offered to others only afterwards, and a restart during
   * the wait trusts neither profile alone (settleResize()).
   */
  private async resizeNow(id: string, capacity: Resources, fromAt: number | undefined, actor: Actor, reason: string): Promise<{ reservation: Reservation; charge: number; refund: number; fine: number }> {
    const r = this.mustGet(id);
    const { from, profile, node, isp } = this.resizePlan(r, capacity, fromAt);
    const old = r.profile;
    // The new profile ends at t1 like the old one, so the stop already scheduled at t1 still applies.
    const covering = coveringProfile(old, profile);
    // Both fit on their own, so their per-instant, per-resource maximum fits too.
    this.index.place(id, node.id, covering, isp);
    if (r.state === 'active') {
      const cloudletId = r.cloudletId as string;
      // A shrink's covering profile is the old one, already stored.
      if (!sameProfile(covering, old)) await this.durable(this.store.begin().holds(id, node.id, isp, covering), [r]);
      const outcome = await this.hub.send(cloudletId, { kind: 'resize', reservationId: id, profile }, this.config.holdTimeoutMs);
      if (!outcome.ok) {
        // A controller that timed out may still apply it late: tell it the stored profile again.
        void this.tell(cloudletId, { kind: 'resize', reservationId: id, profile: old });
        const back = this.store.begin().holds(id, node.id, isp, old);
        back.whenDurable(() => this.index.place(id, node.id, old, isp));
        await this.durable(back, [r]);
        throw conflict(`the controller of ${cloudletId} refused the resize: ${outcome.reason}`);
      }
    }
    const ws = this.store.begin();
    const at = this.now();
    const { charge, refund, fine, priceDelta } = this.billing.resize(r, old, profile, from, at);
    const when = new Date(from).toISOString();
    if (charge > 0) ws.ledger({ at, providerId: r.providerId, reservationId: id, kind: 'charge', amount: charge, note: `grown from ${when}` });
    if (fine > 0) ws.ledger({ at, providerId: r.providerId, reservationId: id, kind: 'fine', amount: fine, note: `shrunk while running from ${when}` });
    if (refund > 0) ws.ledger({ at, providerId: r.providerId, reservationId: id, kind: 'refund', amount: -refund, note: `shrunk before start from ${when}` });
    r.price = roundMoney(r.price + priceDelta);
    r.paid = roundMoney(r.paid + charge - refund + fine);
    r.profile = profile;
    r.updatedAt = at;
    this.billing.hold(id, r.providerId, profile);
    ws.updateReservation(r).holds(id, node.id, isp, profile);
    ws.whenDurable(() => this.index.place(id, node.id, profile, isp));
    ws.audit(this.audit.next(at, actor, 'reservation.resize', id, `${reason}: from ${new Date(from).toISOString()} ${JSON.stringify(capacity)} (charge ${charge}, refund ${refund}, fine ${fine})`));
    await this.commit(ws, r);
    return { reservation: { ...r }, charge, refund, fine };
  }

  /** The new profile of a resize from `fromAt` (default: the next slot) to t1, checked to fit on its node. */
  private resizePlan(r: Reservation, capacity: Resources, fromAt: number | undefined): { from: number; profile: Profile; node: { id: string }; isp: boolean } {
    if (!cancellableStates.includes(r.state)) {
      throw conflict(`reservation ${r.id} is ${r.state}: only pending_approval, approved, scheduled or active reservations can be resized`);
    }
    const slot = this.config.slotMs;
    const nextSlot = Math.ceil(this.now() / slot) * slot;
    const from = fromAt ?? Math.max(r.t0, nextSlot);
    if (from < Math.max(r.t0, Math.floor(this.now() / slot) * slot) || from >= r.t1) {
      throw new Invalid(`params.from: ${new Date(from).toISOString()} must be within the rest of the slot, from ${new Date(Math.max(r.t0, nextSlot)).toISOString()} to before t1 (${new Date(r.t1).toISOString()})`);
    }
    const kept: Profile = r.profile.filter((s) => s.from < from).map((s) => ({ ...s, to: Math.min(s.to, from) }));
    const profile: Profile = [...kept, { from, to: r.t1, capacity }];
    checkProfile(profile, r.t0, r.t1, slot, 'params');
    const isp = this.isIsp(r.providerId);
    const node = this.inventory.nodeById.get(r.nodeId as string);
    if (!node) throw conflict(`reservation ${r.id} has no node`);
    // Against everyone else: as if its own hold (the larger profile while a resize is under way) were absent.
    const bad = this.index.violationWithout(r.id, node, profile, isp);
    if (bad) {
      const names = ['cpu', 'memMiB', 'diskGiB', 'netMbps'];
      throw conflict(
        `cannot resize ${r.id} on node ${node.id}: ${names[bad.resource]} needs ${bad.needed} but only ${Math.round(bad.free * 1000) / 1000} is free from ${new Date(bad.from).toISOString()} to ${new Date(bad.to).toISOString()}`,
      );
    }
    return { from, profile, node, isp };
  }

  /** What cancel or resize would charge, refund or fine now, without doing it (for confirmation dialogs). */
  quote(id: string, q: { action: 'cancel' } | { action: 'resize'; capacity: Resources; from?: number | undefined }): { charge: number; refund: number; fine: number } {
    const r = this.mustGet(id);
    const at = this.now();
    if (q.action === 'cancel') {
      if (!cancellableStates.includes(r.state)) {
        throw conflict(`reservation ${id} is ${r.state}: only pending_approval, approved, scheduled or active reservations can be cancelled`);
      }
      return { charge: 0, refund: this.billing.cancelRefund(r, at), fine: 0 };
    }
    const { from, profile } = this.resizePlan(r, q.capacity, q.from);
    const { charge, refund, fine } = this.billing.resize(r, r.profile, profile, from, at);
    return { charge, refund, fine };
  }

  // ------------------------------------------------------------ explanations and views

  explainRequest(providerId: string, req: ReservationRequest): Explanation {
    checkRequest(req, providerId, this.requestRules(this.now()));
    return this.explanation(this.admissionRequest(providerId, req), req.service.program);
  }

  /** Why a stored reservation is where it is: its own hold is set aside while it is re-decided. */
  explainReservation(id: string): Explanation {
    const r = this.mustGet(id);
    return this.explanation(this.admissionRequest(r.providerId, r), r.service.program, id);
  }

  /** The full analysis; for a stored reservation (`absent`), as if its own hold were not there. */
  private explanation(req: AdmissionRequest, program: string, absent?: string): Explanation {
    const d: Decision = this.index.decide(req, { ...this.skipOptions(program), explain: true, ...(absent ? { absent } : {}) });
    const headroomNode = d.chosen?.nodeId ?? d.candidates.find((c) => c.nodes.length > 0)?.nodes[0]?.nodeId;
    return {
      decision: d.chosen ? 'admitted' : 'declined',
      chosen: d.chosen,
      reason: d.reason,
      shortfall: d.shortfall,
      candidates: d.candidates,
      headroom: headroomNode ? { nodeId: headroomNode, points: this.index.headroom(headroomNode, req.t0, req.t1, req.isp) } : null,
      price: this.billing.price(req.providerId, req.profile),
    };
  }

  /** A controller's periodic report (controllerReports.ts), then the hub's view of the cloudlet. */
  async report(cloudletId: string, report: ControllerReport): Promise<void> {
    await this.reports.take(cloudletId, report);
    this.hub.report(cloudletId, report);
  }

  /** A VI that ended at its cloudlet ends its active reservation, in its turn behind any change in progress. */
  private endFromCloudlet(reservationId: string, cloudletId: string, to: 'failed' | 'terminated', actor: Actor, reason: string): Promise<void> {
    if (this.live.get(reservationId)?.cloudletId !== cloudletId) return Promise.resolve();
    return this.queue.run(reservationId, async () => {
      const r = this.live.get(reservationId);
      if (!r || r.cloudletId !== cloudletId || r.state !== 'active') return;
      const ws = this.store.begin();
      this.transition(ws, r, to, actor, reason);
      await this.commit(ws, r);
    });
  }

  /** Verifies the chain after `from` (default: all of it), at most `maxEntries` of it (audit.ts AuditVerifier). */
  verifyAudit(from?: ChainPoint, maxEntries?: number): ChainVerdict {
    this.store.flush();
    return verifyChain((after, limit) => this.store.auditAfter(after, limit), from, maxEntries);
  }
}
