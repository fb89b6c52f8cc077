/**
 * The cloudlet's clock: every second it lapses prepared holds, starts what is
 * due at t0, stops what reached t1, steps VIs through their profiles and
 * samples their usage. After a restart it re-adopts the VIs that survived.
 */
import type { Alarms } from './alarms.ts';
import type { CloudletEvents } from './cloudlet.ts';
import { viIdOf, type HoldBook } from './holds.ts';
import type { RuleInstaller } from './ruleInstaller.ts';
import type { ControllerStore } from './store.ts';
import type { ViLifecycle } from './viLifecycle.ts';
import type { ViSupervisor } from './viSupervisor.ts';
import type { AlarmKind } from '../protocol/vocabulary.ts';
import { occurrencesOf, type ServiceEvent } from '../services/sdk/serviceEvents.ts';

export interface CloudletClockOptions {
  store: ControllerStore;
  supervisor: ViSupervisor;
  holds: HoldBook;
  rules: RuleInstaller;
  vis: ViLifecycle;
  alarms: Alarms;
  events: CloudletEvents;
  now: () => number;
  log: (line: string) => void;
}

export class CloudletClock {
  private readonly store: ControllerStore;
  private readonly supervisor: ViSupervisor;
  private readonly holds: HoldBook;
  private readonly rules: RuleInstaller;
  private readonly vis: ViLifecycle;
  private readonly alarms: Alarms;
  private readonly events: CloudletEvents;
  private readonly now: () => number;
  private readonly log: (line: string) => void;
  /** Reservations whose start at t0 was refused and already logged (retried every tick, said once). */
  private readonly toldNotStarted = new Set<string>();

  constructor(o: CloudletClockOptions) {
    this.store = o.store;
    this.supervisor = o.supervisor;
    this.holds = o.holds;
    this.rules = o.rules;
    this.vis = o.vis;
    this.alarms = o.alarms;
    this.events = o.events;
    this.now = o.now;
    this.log = o.log;
  }

  /** Runs every second: lapsed holds, t0 starts, t1 stops, profile steps, usage samples. */
  async tick(): Promise<void> {
    const now = this.now();
    for (const h of this.holds.active()) {
      if (h.state === 'prepared' && (h.expiresAt ?? Infinity) <= now) {
        this.holds.end(h.reservationId);
        this.events.changed();
      } else if (h.state === 'committed' && h.t0 <= now && now < h.t1) {
        const r = await this.vis.start(h);
        if (!r.ok && !this.toldNotStarted.has(h.reservationId)) {
          this.toldNotStarted.add(h.reservationId);
          this.log(`reservation ${h.reservationId} due at t0 but not started: ${r.reason}`);
        }
      } else if ((h.state === 'committed' || h.state === 'running') && h.t1 <= now) {
        const vi = this.vis.get(viIdOf(h.reservationId));
        if (vi) await this.vis.teardown(vi, 'stopped', 'reached its end time t1');
        else this.holds.end(h.reservationId);
      }
    }
    for (const id of this.supervisor.running()) {
      this.vis.applyProfile(id);
      const sampled = this.supervisor.sample(id);
      if (!sampled) continue;
      const traffic = this.vis.dataPath?.sampleTraffic(id);
      const usage = traffic ? { ...sampled, traffic } : sampled;
      this.events.usage(usage);
      this.raiseServiceEvents(id);
      const vi = this.store.vi(id);
      if (vi && vi.isolation.cgroup === 'none' && usage.memMiB > vi.limits.memMiB * 1.05) {
        this.alarms.raise({ kind: 'vi_over_limit', severity: 'warning', subject: id, message: `VI ${id} uses ${usage.memMiB} MiB, over its ${vi.limits.memMiB} MiB cap (no cgroup to enforce it)` });
      }
    }
  }

  /**
   * The events a VI's service raised since the last tick (IDS alerts) become alarms about that VI:
   * one alarm per VI and subject, counted on repeats, keeping the latest flow so the console can
   * find its packets. A burst is coalesced here by alarm subject and flow (5-tuple) and written in
   * one transaction: at most one write per flow and tick, with one fsync for the tick, whatever the
   * VI wrote (one autocommitted write per IDS alert of a dropped flood made the controller stop
   * answering for seconds: each is a synchronous fsync).
   */
  private raiseServiceEvents(viId: string): void {
    const { events, skipped } = this.supervisor.serviceEvents(viId);
    if (skipped > 0) this.log(`VI ${viId}: ${skipped} service event line(s) skipped (not valid, or over the per-tick bound)`);
    const byFlow = new Map<string, { raised: Parameters<Alarms['raise']>[0]; count: number }>();
    for (const e of events) {
      const raised = this.alarmOf(viId, e);
      const f = raised.flow;
      const key = `${raised.kind}\n${raised.subject}\n${f ? `${f.proto} ${f.src}:${f.srcPort} ${f.dst}:${f.dstPort}` : ''}`;
      // The latest occurrence's text and flow are kept, as a repeat of a stored alarm keeps them.
      byFlow.set(key, { raised, count: (byFlow.get(key)?.count ?? 0) + occurrencesOf(e) });
    }
    if (byFlow.size === 0) return;
    this.store.transaction(() => {
      for (const { raised, count } of byFlow.values()) this.alarms.raise(raised, count);
    });
  }

  private alarmOf(viId: string, e: ServiceEvent): Parameters<Alarms['raise']>[0] {
    const d = e.detail;
    const text = (k: string): string => (typeof d[k] === 'string' ? d[k] : '');
    const port = (k: string): number | null => (typeof d[k] === 'number' && Number.isInteger(d[k]) && d[k] >= 0 && d[k] <= 65535 ? d[k] : null);
    const flowId = text('flowId');
    const flow = text('src') && text('dst') ? { viId, flowId: /^[0-9]{1,20}$/.test(flowId) ? flowId : null, proto: text('proto').slice(0, 16), src: text('src').slice(0, 64), srcPort: port('srcPort'), dst: text('dst').slice(0, 64), dstPort: port('dstPort') } : undefined;
    const sid = typeof d.sid === 'number' ? ` sid ${d.sid}` : '';
    return { kind: e.kind as AlarmKind, severity: e.severity, subject: `${viId}${sid}`, message: `VI ${viId}: ${e.message} ${e.subject}`, ...(flow ? { flow } : {}) };
  }

  /** After a controller restart: adopted VIs keep their rules; rules of VIs that are gone are removed. */
  async recover(): Promise<{ adopted: string[]; lost: string[] }> {
    const result = this.supervisor.recover();
    const now = this.now();
    for (const id of result.adopted) {
      const vi = this.store.vi(id);
      const hold = vi ? this.holds.get(vi.reservationId) : undefined;
      if (vi && (!hold || hold.state === 'ended' || vi.t1 <= now)) {
        await this.vis.teardown(vi, 'stopped', hold && vi.t1 > now ? 'its reservation ended while the controller was down' : 'reached its end time t1 while the controller was down');
      }
    }
    const live = this.vis.live();
    for (const vi of live) if (vi.state === 'running') this.vis.reattach(vi);
    this.rules.recover(new Set(live.map((v) => v.id)));
    return result;
  }
}
