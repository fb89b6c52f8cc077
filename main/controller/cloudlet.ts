/**
 * One cloudlet's control plane: reservations held (prepared, committed,
 * running), the VIs that run them, their demux rules, node health, alarms and
 * the local audit log. The scheduler's commands and the operators' actions
 * both land here, so the same local truth answers both.
 *
 * Answers come from local truth only: a prepare is refused when the node is
 * unknown or down, the program is not installed, a rule is refused by the
 * rule book, or the node would be overbooked at some instant (naming the
 * resource and the interval). Every change is stored before it is answered.
 *
 * Order of teardown (DESIGN.md section 5): rules are removed before a VI is
 * stopped, so its traffic falls back to legacy forwarding first.
 */
import { createHash } from 'node:crypto';
import type { Alarm, NodeDetail, ViLimits, ViState, ViUsage, ViView } from '../protocol/controllerApi.ts';
import type { ControllerCommand, ForwardedAudit, NodeReport, Profile, Reservation, Resources, ViReport } from '../protocol/domain.ts';
import { resourceNames } from '../protocol/domain.ts';
import type { BookRule, RuleBook } from './ruleBook.ts';
import type { ControllerStore, Hold, ViRecord } from './store.ts';
import type { ViSupervisor } from './viSupervisor.ts';

export interface CloudletEvents {
  viChanged(vi: ViView, from: ViState | null): void;
  alarm(alarm: Alarm): void;
  usage(usage: ViUsage): void;
  /** Something the scheduler should hear about soon (a report is due). */
  changed(): void;
}

export interface Actor {
  name: string;
  role: string;
}

const zero: Resources = { cpu: 0, memMiB: 0, diskGiB: 0, netMbps: 0 };
const endedVi: readonly ViState[] = ['stopped', 'failed', 'terminated'];

/** The VI id of a reservation: readable when the id is safe as a name, hashed otherwise. */
export function viIdOf(reservationId: string): string {
  return /^[A-Za-z0-9][A-Za-z0-9._-]{0,100}$/.test(reservationId) ? `vi-${reservationId}` : `vi-${createHash('sha256').update(reservationId).digest('hex').slice(0, 24)}`;
}

/** The capacity a profile holds at time t (zero outside it). */
export function capacityAt(profile: Profile, t: number): Resources {
  return profile.find((s) => s.from <= t && t < s.to)?.capacity ?? zero;
}

/** The largest capacity a profile holds anywhere in [from, to). */
function peakOver(profile: Profile, from: number, to: number): Resources {
  const peak = { ...zero };
  for (const s of profile) {
    if (s.to <= from || s.from >= to) continue;
    for (const r of resourceNames) peak[r] = Math.max(peak[r], s.capacity[r]);
  }
  return peak;
}

export interface CloudletOptions {
  cloudletId: string;
  nodes: readonly { id: string; capacity: Resources }[];
  store: ControllerStore;
  supervisor: ViSupervisor;
  ruleBook: RuleBook;
  events: CloudletEvents;
  now: () => number;
  log: (line: string) => void;
  /** Looks a reservation up at the scheduler, for a start that arrives without a local hold. */
  fetchReservation: (reservationId: string) => Promise<Reservation | undefined>;
}

export class Cloudlet {
  private readonly o: CloudletOptions;
  /** VI changes not yet acknowledged by the scheduler, by reservation. */
  private readonly pendingViReports = new Map<string, ViReport>();
  private readonly toldNotStarted = new Set<string>();

  private readonly startedAt: number;

  constructor(options: CloudletOptions) {
    this.o = options;
    this.startedAt = options.now();
  }

  /** The ISP's own rules (from the config), in force since this controller started. */
  ispRulesView(): (BookRule & { installedAt: number })[] {
    return this.o.ruleBook.ispRules.map((r) => ({ ...r, installedAt: this.startedAt }));
  }

  get store(): ControllerStore {
    return this.o.store;
  }

  // ------------------------------------------------------------ views

  viView(vi: ViRecord): ViView {
    return {
      id: vi.id,
      reservationId: vi.reservationId,
      providerId: vi.providerId,
      nodeId: vi.nodeId,
      program: vi.program,
      state: vi.state,
      pid: endedVi.includes(vi.state) ? null : vi.pid,
      startedAt: vi.startedAt,
      endedAt: vi.endedAt,
      t1: vi.t1,
      capacity: vi.capacity,
      limits: vi.limits,
      isolation: vi.isolation,
      usage: this.o.supervisor.usage(vi.id),
      exit: vi.exitCode !== null || vi.exitSignal !== null ? { code: vi.exitCode, signal: vi.exitSignal } : null,
      reason: vi.reason,
    };
  }

  requireVi(viId: string): ViRecord {
    const vi = this.o.store.vi(viId);
    if (!vi) throw new NotFound(`no VI "${viId}" in cloudlet ${this.o.cloudletId}`);
    return vi;
  }

  private holdsOn(nodeId: string, except?: string): Hold[] {
    const now = this.o.now();
    return this.o.store
      .activeHolds()
      .filter((h) => h.nodeId === nodeId && h.reservationId !== except && (h.state !== 'prepared' || (h.expiresAt ?? Infinity) > now));
  }

  private nodeSpec(nodeId: string): { id: string; capacity: Resources } | undefined {
    return this.o.nodes.find((n) => n.id === nodeId);
  }

  nodeDetail(nodeId: string): NodeDetail {
    const node = this.nodeSpec(nodeId);
    if (!node) throw new NotFound(`node "${nodeId}" is not in cloudlet ${this.o.cloudletId} (nodes: ${this.o.nodes.map((n) => n.id).join(', ')})`);
    const now = this.o.now();
    const allocated = { ...zero };
    for (const h of this.holdsOn(nodeId)) {
      const c = capacityAt(h.profile, now);
      for (const r of resourceNames) allocated[r] += c[r];
    }
    const health = this.o.store.nodeHealth(nodeId);
    const available = { ...zero };
    for (const r of resourceNames) available[r] = health.health === 'down' ? 0 : Math.max(0, node.capacity[r] - allocated[r]);
    const vis = this.o.store.vis().filter((v) => v.nodeId === nodeId && !endedVi.includes(v.state)).length;
    return { id: nodeId, capacity: node.capacity, allocated, available, health: health.health, reason: health.reason, vis };
  }

  nodes(): NodeDetail[] {
    return this.o.nodes.map((n) => this.nodeDetail(n.id));
  }

  nodeReports(): NodeReport[] {
    return this.nodes().map((n) => ({ nodeId: n.id, total: n.capacity, available: n.available, health: n.health }));
  }

  /** VI changes and audit entries for the next report; `commit` once the scheduler has them. */
  pendingForReport(): { vis: ViReport[]; audit: ForwardedAudit[]; commit: () => void } {
    const vis = [...this.pendingViReports.values()];
    const audit = this.o.store.unforwardedAudit(256).map(({ forwarded: _f, ...e }) => e);
    return {
      vis,
      audit,
      commit: () => {
        for (const v of vis) if (this.pendingViReports.get(v.reservationId) === v) this.pendingViReports.delete(v.reservationId);
        this.o.store.markForwarded(audit.map((a) => a.seq));
      },
    };
  }

  // ------------------------------------------------------------ events

  onViChanged(vi: ViRecord, from: ViState | null): void {
    this.pendingViReports.set(vi.reservationId, { reservationId: vi.reservationId, nodeId: vi.nodeId, state: vi.state, reason: vi.reason.slice(0, 1024), at: this.o.now() });
    if (vi.state === 'failed' && from !== 'failed') this.onViFailed(vi);
    this.o.events.viChanged(this.viView(vi), from);
    this.o.events.changed();
  }

  private onViFailed(vi: ViRecord): void {
    // Its traffic falls back to legacy forwarding; its capacity is released.
    this.o.store.removeRules(vi.id);
    const hold = this.o.store.hold(vi.reservationId);
    if (hold && hold.state !== 'ended') this.o.store.putHold({ ...hold, state: 'ended' });
    // A node going down raised its own alarm; its VIs do not each raise another.
    if (this.o.store.nodeHealth(vi.nodeId).health === 'down') return;
    const lost = vi.reason.startsWith('its process was gone');
    this.raise({
      kind: lost ? 'vi_lost' : 'vi_crashed',
      severity: 'critical',
      subject: vi.id,
      message: `VI ${vi.id} (reservation ${vi.reservationId}, provider ${vi.providerId}) on node ${vi.nodeId}: ${vi.reason}`,
    });
  }

  raise(a: { kind: Alarm['kind']; severity: Alarm['severity']; subject: string; message: string }): Alarm {
    const alarm = this.o.store.raiseAlarm(a, this.o.now());
    this.o.log(`alarm ${alarm.kind} ${alarm.subject}: ${alarm.message}`);
    this.o.events.alarm(alarm);
    return alarm;
  }

  audit(actor: Actor, action: string, target: string, reason: string): void {
    this.o.store.audit({ at: this.o.now(), actor: actor.name, role: actor.role, action, target, reason });
    this.o.events.changed();
  }

  // ------------------------------------------------------------ rules

  /** Tenant rules others hold: installed ones, and promised ones of holds overlapping [t0, t1). */
  private otherTenantRules(reservationId: string, t0: number, t1: number): BookRule[] {
    const installed = this.o.store.rules().filter((r) => r.reservationId !== reservationId);
    const promised: BookRule[] = [];
    for (const h of this.o.store.activeHolds()) {
      if (h.reservationId === reservationId || h.t1 <= t0 || h.t0 >= t1 || h.state === 'running') continue;
      h.service.rules.forEach((spec, i) =>
        promised.push({
          id: `${viIdOf(h.reservationId)}#${i}`,
          owner: 'tenant',
          providerId: h.providerId,
          viId: viIdOf(h.reservationId),
          reservationId: h.reservationId,
          priority: spec.priority,
          match: spec.match,
          action: spec.action,
          samplingRate: spec.samplingRate,
          provenBy: null,
        }),
      );
    }
    return [...installed, ...promised];
  }

  private checkRules(h: Pick<Hold, 'reservationId' | 'providerId' | 't0' | 't1' | 'service'>): { ok: true; rules: BookRule[] } | { ok: false; reason: string } {
    return this.o.ruleBook.check(
      { providerId: h.providerId, reservationId: h.reservationId, viId: viIdOf(h.reservationId), specs: h.service.rules },
      this.otherTenantRules(h.reservationId, h.t0, h.t1),
      this.o.now(),
    );
  }

  // ------------------------------------------------------------ scheduler commands

  async command(c: ControllerCommand): Promise<{ ok: boolean; reason?: string }> {
    switch (c.kind) {
      case 'prepare':
        return this.prepare(c);
      case 'commit': {
        const hold = this.o.store.hold(c.reservationId);
        if (!hold || hold.state === 'ended') return { ok: false, reason: `nothing prepared for reservation ${c.reservationId} here (never prepared, aborted, or the hold lapsed)` };
        if (hold.state === 'prepared') this.o.store.putHold({ ...hold, state: 'committed', expiresAt: null });
        this.o.events.changed();
        return { ok: true };
      }
      case 'abort': {
        const hold = this.o.store.hold(c.reservationId);
        if (hold && (hold.state === 'prepared' || hold.state === 'committed')) this.o.store.putHold({ ...hold, state: 'ended' });
        this.o.events.changed();
        return { ok: true };
      }
      case 'start':
        return this.startReservation(c);
      case 'stop': {
        const vi = this.o.store.vi(viIdOf(c.reservationId));
        if (vi) await this.teardown(vi, c.reason === 'terminated' ? 'terminated' : 'stopped', `the scheduler stopped it (${c.reason})`);
        const hold = this.o.store.hold(c.reservationId);
        if (hold && hold.state !== 'ended') this.o.store.putHold({ ...hold, state: 'ended' });
        this.o.events.changed();
        return { ok: true };
      }
      case 'resize': {
        const hold = this.o.store.hold(c.reservationId);
        if (!hold || hold.state === 'ended') return { ok: false, reason: `reservation ${c.reservationId} is not held here` };
        const fit = this.fits(hold.nodeId, c.profile, hold.reservationId);
        if (fit) return { ok: false, reason: fit };
        this.o.store.putHold({ ...hold, profile: c.profile });
        this.applyProfile(viIdOf(hold.reservationId));
        this.o.events.changed();
        return { ok: true };
      }
    }
  }

  /** Why `profile` does not fit on the node next to the other holds, or null when it does. */
  private fits(nodeId: string, profile: Profile, reservationId: string): string | null {
    const node = this.nodeSpec(nodeId);
    if (!node) return `node "${nodeId}" is not in cloudlet ${this.o.cloudletId} (nodes: ${this.o.nodes.map((n) => n.id).join(', ')})`;
    const others = this.holdsOn(nodeId, reservationId);
    for (const slot of profile) {
      for (const r of resourceNames) {
        const used = others.reduce((sum, h) => sum + peakOver(h.profile, slot.from, slot.to)[r], 0);
        if (used + slot.capacity[r] > node.capacity[r] + 1e-9) {
          return `node ${nodeId} has ${Math.max(0, node.capacity[r] - used)} ${r} free from ${new Date(slot.from).toISOString()} to ${new Date(slot.to).toISOString()}, ${slot.capacity[r]} requested`;
        }
      }
    }
    return null;
  }

  private prepare(c: Extract<ControllerCommand, { kind: 'prepare' }>): { ok: boolean; reason?: string } {
    const existing = this.o.store.hold(c.reservationId);
    if (existing && existing.state !== 'prepared' && existing.state !== 'ended') return { ok: true, reason: 'already committed here' };
    const node = this.nodeSpec(c.nodeId);
    if (!node) return { ok: false, reason: `node "${c.nodeId}" is not in cloudlet ${this.o.cloudletId} (nodes: ${this.o.nodes.map((n) => n.id).join(', ')})` };
    const health = this.o.store.nodeHealth(c.nodeId);
    if (health.health === 'down') return { ok: false, reason: `node ${c.nodeId} is down (${health.reason})` };
    if (!this.o.supervisor.commandFor(c.service.program, c.service.args)) {
      return { ok: false, reason: `program "${c.service.program}" is not installed on cloudlet ${this.o.cloudletId} (installed: ${this.o.supervisor.programs().join(', ')})` };
    }
    const rules = this.checkRules(c);
    if (!rules.ok) return { ok: false, reason: rules.reason };
    const fit = this.fits(c.nodeId, c.profile, c.reservationId);
    if (fit) return { ok: false, reason: fit };
    this.o.store.putHold({
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
      expiresAt: this.o.now() + c.holdMs + 5000,
    });
    this.o.events.changed();
    return { ok: true };
  }

  private async startReservation(c: Extract<ControllerCommand, { kind: 'start' }>): Promise<{ ok: boolean; reason?: string }> {
    let hold = this.o.store.hold(c.reservationId);
    if (!hold) {
      // Started without a local hold (state lost, or prepared by another run): take the provider from the scheduler.
      const r = await this.o.fetchReservation(c.reservationId);
      if (!r) return { ok: false, reason: `reservation ${c.reservationId} is unknown here and the scheduler did not list it in this cloudlet's assignments` };
      hold = { reservationId: r.id, providerId: r.providerId, nodeId: c.nodeId, t0: r.t0, t1: c.t1, profile: c.profile, service: c.service, state: 'committed', expiresAt: null };
    } else {
      hold = { ...hold, nodeId: c.nodeId, t1: c.t1, profile: c.profile, service: c.service };
    }
    const result = await this.startHold(hold);
    // The scheduler fails a reservation whose start is refused: do not start it later on our own.
    if (!result.ok) {
      const now = this.o.store.hold(hold.reservationId);
      if (now && now.state !== 'running') this.o.store.putHold({ ...now, state: 'ended' });
    }
    return result;
  }

  /** Starts the VI of a hold and installs its rules; idempotent while it runs. */
  private async startHold(hold: Hold): Promise<{ ok: boolean; reason?: string }> {
    const viId = viIdOf(hold.reservationId);
    const current = this.o.store.vi(viId);
    if (current && !endedVi.includes(current.state)) return { ok: true, reason: 'already running' };
    const health = this.o.store.nodeHealth(hold.nodeId);
    if (health.health === 'down') return { ok: false, reason: `node ${hold.nodeId} is down (${health.reason})` };
    const rules = this.checkRules(hold);
    if (!rules.ok) return { ok: false, reason: rules.reason };
    this.o.store.putHold({ ...hold, state: 'running', expiresAt: null });
    let vi: ViRecord;
    try {
      vi = await this.o.supervisor.start({
        viId,
        reservationId: hold.reservationId,
        providerId: hold.providerId,
        nodeId: hold.nodeId,
        program: hold.service.program,
        args: hold.service.args,
        capacity: capacityAt(hold.profile, this.o.now()),
        t1: hold.t1,
      });
    } catch (e) {
      this.o.store.putHold({ ...hold, state: 'ended' });
      return { ok: false, reason: `VI ${viId} could not start: ${(e as Error).message}` };
    }
    if (vi.state !== 'running') return { ok: false, reason: `VI ${viId} could not start: ${vi.reason}` };
    // The VI is up: now steer its traffic to it.
    this.o.store.installRules(rules.rules, this.o.now());
    this.o.events.changed();
    return { ok: true };
  }

  /** Rules first, then the process: SIGTERM, grace, SIGKILL, reap. Idempotent. */
  async teardown(vi: ViRecord, final: 'stopped' | 'terminated' | 'failed', reason: string): Promise<ViRecord> {
    this.o.store.removeRules(vi.id);
    if (endedVi.includes(vi.state)) return vi;
    const done = await this.o.supervisor.stop(vi.id, final, reason);
    const hold = this.o.store.hold(vi.reservationId);
    if (hold && hold.state !== 'ended') this.o.store.putHold({ ...hold, state: 'ended' });
    this.o.events.changed();
    return done;
  }

  /** Applies the capacity of the profile's current sub-slot, keeping any operator restriction. */
  applyProfile(viId: string): void {
    const vi = this.o.store.vi(viId);
    const hold = vi ? this.o.store.hold(vi.reservationId) : undefined;
    if (!vi || !hold || vi.state !== 'running') return;
    const cap = capacityAt(hold.profile, this.o.now());
    if (resourceNames.every((r) => cap[r] === vi.capacity[r])) return;
    const limits: ViLimits = {
      cpu: vi.limits.cpu < vi.capacity.cpu ? Math.min(vi.limits.cpu, cap.cpu) : cap.cpu,
      memMiB: vi.limits.memMiB < vi.capacity.memMiB ? Math.min(vi.limits.memMiB, cap.memMiB) : cap.memMiB,
      ppsCap: vi.limits.ppsCap,
    };
    this.o.store.putVi({ ...vi, capacity: cap });
    const { problems } = this.o.supervisor.setLimits(viId, limits);
    if (problems.length) this.o.log(`VI ${viId}: resize to ${JSON.stringify(cap)}: ${problems.join('; ')}`);
  }

  // ------------------------------------------------------------ operator actions

  restrict(actor: Actor, viId: string, caps: { cpu?: number; memMiB?: number; ppsCap?: number }, reason: string): { vi: ViView; problems: string[] } {
    const vi = this.requireVi(viId);
    if (vi.state !== 'running') throw new Conflict(`VI ${viId} is ${vi.state}: only a running VI can be restricted`);
    for (const r of ['cpu', 'memMiB'] as const) {
      const v = caps[r];
      if (v !== undefined && v > vi.capacity[r]) {
        throw new Invalid(`${r} ${v} is above VI ${viId}'s reserved ${vi.capacity[r]}: restrict only lowers caps (at most ${vi.capacity[r]})`);
      }
    }
    const limits: ViLimits = { cpu: caps.cpu ?? vi.limits.cpu, memMiB: caps.memMiB ?? vi.limits.memMiB, ppsCap: caps.ppsCap ?? vi.limits.ppsCap };
    const target = `${this.o.cloudletId}/${vi.nodeId}/${viId}`;
    this.audit(actor, 'vi.restrict', target, `${reason} (cpu ${limits.cpu}, memMiB ${limits.memMiB}, ppsCap ${limits.ppsCap ?? 'none'})`);
    const { vi: set, problems } = this.o.supervisor.setLimits(viId, limits);
    // Say in the VI itself what the kernel refused (e.g. a memory cap below current use on cgroup v1).
    const next = { ...set, reason: `restricted by ${actor.name}: ${reason}${problems.length ? `; not enforced: ${problems.join('; ')}` : ''}` };
    this.o.store.putVi(next);
    return { vi: this.viView(next), problems };
  }

  async terminate(actor: Actor, viId: string, reason: string): Promise<ViView> {
    const vi = this.requireVi(viId);
    if (endedVi.includes(vi.state)) return this.viView(vi);
    this.audit(actor, 'vi.terminate', `${this.o.cloudletId}/${vi.nodeId}/${viId}`, reason);
    return this.viView(await this.teardown(vi, 'terminated', `terminated by ${actor.name}: ${reason}`));
  }

  async setNodeHealth(actor: Actor, nodeId: string, health: 'up' | 'down', reason: string): Promise<NodeDetail> {
    this.nodeDetail(nodeId);
    const before = this.o.store.nodeHealth(nodeId);
    this.audit(actor, health === 'down' ? 'node.down' : 'node.up', `${this.o.cloudletId}/${nodeId}`, reason);
    this.o.store.setNodeHealth(nodeId, health, reason);
    if (health === 'down' && before.health !== 'down') {
      this.raise({ kind: 'node_down', severity: 'critical', subject: nodeId, message: `node ${nodeId} of ${this.o.cloudletId} marked down by ${actor.name}: ${reason}` });
      const victims = this.o.store.vis().filter((v) => v.nodeId === nodeId && !endedVi.includes(v.state));
      await Promise.all(victims.map((v) => this.teardown(v, 'failed', `node ${nodeId} went down: ${reason}`)));
    }
    this.o.events.changed();
    return this.nodeDetail(nodeId);
  }

  // ------------------------------------------------------------ time and reconciliation

  /** Runs every second: lapsed holds, t0 starts, t1 stops, profile steps. */
  async tick(): Promise<void> {
    const now = this.o.now();
    for (const h of this.o.store.activeHolds()) {
      if (h.state === 'prepared' && (h.expiresAt ?? Infinity) <= now) {
        this.o.store.putHold({ ...h, state: 'ended' });
        this.o.events.changed();
      } else if (h.state === 'committed' && h.t0 <= now && now < h.t1) {
        const r = await this.startHold(h);
        // Retried every tick (the node may come back up); said once.
        if (!r.ok && !this.toldNotStarted.has(h.reservationId)) {
          this.toldNotStarted.add(h.reservationId);
          this.o.log(`reservation ${h.reservationId} due at t0 but not started: ${r.reason}`);
        }
      } else if ((h.state === 'committed' || h.state === 'running') && h.t1 <= now) {
        const vi = this.o.store.vi(viIdOf(h.reservationId));
        if (vi) await this.teardown(vi, 'stopped', 'reached its end time t1');
        else this.o.store.putHold({ ...h, state: 'ended' });
      }
    }
    for (const id of this.o.supervisor.running()) {
      this.applyProfile(id);
      const usage = this.o.supervisor.sample(id);
      if (!usage) continue;
      this.o.events.usage(usage);
      const vi = this.o.store.vi(id);
      if (vi && vi.isolation.cgroup === 'none' && usage.memMiB > vi.limits.memMiB * 1.05) {
        this.raise({ kind: 'vi_over_limit', severity: 'warning', subject: id, message: `VI ${id} uses ${usage.memMiB} MiB, over its ${vi.limits.memMiB} MiB cap (no cgroup to enforce it)` });
      }
    }
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
      const h = this.o.store.hold(r.id);
      if (!h || h.state === 'ended' || h.state === 'prepared') {
        const vi = this.o.store.vi(viIdOf(r.id));
        const running = vi && !endedVi.includes(vi.state);
        if (h?.state === 'ended' && !running) continue;
        this.o.store.putHold({ reservationId: r.id, providerId: r.providerId, nodeId: r.nodeId, t0: r.t0, t1: r.t1, profile: r.profile, service: r.service, state: running ? 'running' : 'committed', expiresAt: null });
      }
    }
    for (const h of this.o.store.activeHolds()) {
      if (h.state === 'prepared' || listed.has(h.reservationId)) continue;
      const vi = this.o.store.vi(viIdOf(h.reservationId));
      if (vi) await this.teardown(vi, 'stopped', 'the scheduler no longer assigns its reservation to this cloudlet');
      this.o.store.putHold({ ...h, state: 'ended' });
    }
    this.o.events.changed();
  }

  /** After a controller restart: adopted VIs keep their rules; rules of VIs that are gone are removed. */
  async recover(): Promise<{ adopted: string[]; lost: string[] }> {
    const result = this.o.supervisor.recover();
    const now = this.o.now();
    for (const id of result.adopted) {
      const vi = this.o.store.vi(id);
      const hold = vi ? this.o.store.hold(vi.reservationId) : undefined;
      if (vi && (!hold || hold.state === 'ended' || vi.t1 <= now)) {
        await this.teardown(vi, 'stopped', hold && vi.t1 > now ? 'its reservation ended while the controller was down' : 'reached its end time t1 while the controller was down');
      }
    }
    const live = new Set(this.o.store.vis().filter((v) => !endedVi.includes(v.state)).map((v) => v.id));
    for (const rule of this.o.store.rules()) if (rule.viId && !live.has(rule.viId)) this.o.store.removeRules(rule.viId);
    return result;
  }
}

export class NotFound extends Error {
  override name = 'NotFound';
}
export class Conflict extends Error {
  override name = 'Conflict';
}
export class Invalid extends Error {
  override name = 'Invalid';
}
