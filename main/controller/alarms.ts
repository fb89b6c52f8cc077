/**
 * Alarms and the local audit log of one cloudlet. Both are stored before
 * anyone is told; audit entries also wait in the store until a report has
 * carried them into the scheduler's audit chain (forwarded once each).
 */
import { NotFound } from '../protocol/errors.ts';
import type { Alarm, AlarmFlow } from '../protocol/controllerApi.ts';
import type { Actor, CloudletEvents } from './cloudlet.ts';
import type { ControllerStore } from './store.ts';

export class LocalAudit {
  private readonly store: ControllerStore;
  private readonly events: CloudletEvents;
  private readonly now: () => number;

  constructor(options: { store: ControllerStore; events: CloudletEvents; now: () => number }) {
    this.store = options.store;
    this.events = options.events;
    this.now = options.now;
  }

  record(actor: Actor, action: string, target: string, reason: string): void {
    this.store.audit({ at: this.now(), actor: actor.name, role: actor.role, action, target, reason });
    this.events.changed();
  }
}

export class Alarms {
  private readonly cloudletId: string;
  private readonly store: ControllerStore;
  private readonly audit: LocalAudit;
  private readonly events: CloudletEvents;
  private readonly now: () => number;
  private readonly log: (line: string) => void;

  constructor(options: { cloudletId: string; store: ControllerStore; audit: LocalAudit; events: CloudletEvents; now: () => number; log: (line: string) => void }) {
    this.cloudletId = options.cloudletId;
    this.store = options.store;
    this.audit = options.audit;
    this.events = options.events;
    this.now = options.now;
    this.log = options.log;
  }

  /** `count`: occurrences raised at once (coalesced by the caller), stored and told as one. */
  raise(a: { kind: Alarm['kind']; severity: Alarm['severity']; subject: string; message: string; flow?: AlarmFlow }, count = 1): Alarm {
    const alarm = this.store.raiseAlarm(a, this.now(), count);
    this.log(`alarm ${alarm.kind} ${alarm.subject}: ${alarm.message}`);
    this.events.alarm(alarm);
    return alarm;
  }

  /**
   * Acknowledged once, by name, with the reason audited; acknowledging again changes nothing.
   * The name is the operator's as the console sends it (a shift may share one token), else the
   * token's principal; the principal is kept beside it and is the audit entry's actor, so what
   * the token proved is never replaced by what the console claims.
   */
  acknowledge(actor: Actor, alarmId: number, reason: string, operatorNameAsSent?: string): Alarm {
    const operatorName = operatorNameAsSent?.trim();
    const alarm = this.store.alarm(alarmId);
    if (!alarm) throw new NotFound(`no alarm ${alarmId} on cloudlet ${this.cloudletId}`);
    if (!alarm.acknowledgedBy) {
      this.audit.record(actor, 'alarm.acknowledge', `${this.cloudletId}/alarm/${alarmId}`, operatorName ? `operator ${operatorName}: ${reason}` : reason);
      this.store.acknowledgeAlarm(alarmId, operatorName ?? actor.name, actor.name);
    }
    return this.store.alarm(alarmId) as Alarm;
  }
}
