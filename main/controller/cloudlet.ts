/**
 * One cloudlet's control plane, assembled from parts of one concern each:
 * the capacity it has promised (holds), the rules in its flow table, the VIs
 * that run its reservations, its alarms and local audit, the scheduler's agent,
 * the operators' actions and the clock. The scheduler's commands and the
 * operators' actions land on the same parts, so one local truth answers both.
 */
import type { Alarm, ViState, ViUsage, ViView } from '../protocol/controllerApi.ts';
import type { Reservation, Resources } from '../protocol/domain.ts';
import { Alarms, LocalAudit } from './alarms.ts';
import { CloudletClock } from './clock.ts';
import type { CloudletDataPath } from './dataPath.ts';
import type { EvidenceRings } from './evidenceRing.ts';
import type { FrontRouter } from './frontRouter.ts';
import { HoldBook } from './holds.ts';
import { OperatorActions } from './operatorActions.ts';
import type { RuleBook } from './ruleBook.ts';
import { RuleInstaller } from './ruleInstaller.ts';
import { SchedulerAgent } from './schedulerAgent.ts';
import type { ControllerStore, ViRecord } from './store.ts';
import { ViLifecycle } from './viLifecycle.ts';
import type { ViSupervisor } from './viSupervisor.ts';
import { CloudletViews } from './views.ts';
import type { UploadStore } from './uploads.ts';

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
  /** Each VI's latest samples; a terminate seals them. */
  evidence?: EvidenceRings;
  /** Provider bundles: a reservation's goes when its hold ends. */
  uploads?: Pick<UploadStore, 'remove' | 'receive'>;
}

export class Cloudlet {
  readonly holds: HoldBook;
  readonly rules: RuleInstaller;
  readonly views: CloudletViews;
  readonly audit: LocalAudit;
  readonly alarms: Alarms;
  readonly vis: ViLifecycle;
  readonly agent: SchedulerAgent;
  readonly operator: OperatorActions;
  readonly clock: CloudletClock;

  constructor(o: CloudletOptions) {
    const { cloudletId, store, supervisor, events, now, log } = o;
    this.holds = new HoldBook({ store, cloudletId, nodes: o.nodes, now, onEnded: (reservationId) => o.uploads?.remove(reservationId) });
    this.rules = new RuleInstaller({ store, ruleBook: o.ruleBook, now });
    this.views = new CloudletViews({ store, supervisor, holds: this.holds });
    this.audit = new LocalAudit({ store, events, now });
    this.alarms = new Alarms({ cloudletId, store, audit: this.audit, events, now, log });
    this.vis = new ViLifecycle({ cloudletId, store, supervisor, holds: this.holds, rules: this.rules, alarms: this.alarms, views: this.views, events, now, log });
    this.agent = new SchedulerAgent({ cloudletId, store, supervisor, holds: this.holds, rules: this.rules, vis: this.vis, events, now, fetchReservation: o.fetchReservation, uploads: o.uploads, audit: this.audit });
    this.operator = new OperatorActions({ cloudletId, store, supervisor, vis: this.vis, views: this.views, alarms: this.alarms, audit: this.audit, events, evidence: o.evidence });
    this.clock = new CloudletClock({ store, supervisor, holds: this.holds, rules: this.rules, vis: this.vis, alarms: this.alarms, events, now, log });
  }

  /** Connects the data plane: the flow table gets the rule book, VIs get ports. */
  attachDataPath(dataPath: CloudletDataPath): void {
    this.vis.dataPath = dataPath;
    this.views.dataPath = dataPath;
    this.rules.attach(dataPath.flowTable());
  }

  /** Connects the front-end router: its flow table follows the rule book from now on. */
  attachRouter(router: FrontRouter): void {
    this.views.router = router;
    this.rules.attach(router);
  }

  /** The supervisor's change callback. */
  onViChanged(vi: ViRecord, from: ViState | null): void {
    this.vis.onChanged(vi, from);
  }
}
