/**
 * The one door through which demux rules enter and leave this cloudlet's flow
 * table. The rule book decides what a tenant may install (ruleBook.ts); this
 * object makes the decision real: it writes the store and, in the same step,
 * every attached flow table (the data plane's native table, the front-end
 * router's OpenFlow table), so they never disagree with the store and a
 * restart rebuilds them from the store alone.
 *
 * Rules are checked against the other tenants' rules in force and promised:
 * installed ones, and the rules of holds that overlap in time but have not
 * started yet, so two reservations can never be admitted to the same traffic.
 */
import type { BookRule, RuleBook, RuleCheck } from './ruleBook.ts';
import { viIdOf } from './holds.ts';
import type { ControllerStore, Hold } from './store.ts';

export type InstalledRule = BookRule & { installedAt: number };

/** Where installed rules take effect: the data plane's flow table, the front-end router (frontRouter.ts). */
export interface FlowTableTarget {
  /** Replaces the whole rule set in one atomic step (no packet sees half a change). */
  load(tenant: readonly InstalledRule[], isp: readonly InstalledRule[]): void;
}

export class RuleInstaller {
  private readonly store: ControllerStore;
  private readonly ruleBook: RuleBook;
  private readonly now: () => number;
  private readonly startedAt: number;
  private readonly targets: FlowTableTarget[] = [];

  constructor(options: { store: ControllerStore; ruleBook: RuleBook; now: () => number }) {
    this.store = options.store;
    this.ruleBook = options.ruleBook;
    this.now = options.now;
    this.startedAt = options.now();
  }

  /** Attaches a flow table and loads it with what the store holds. */
  attach(target: FlowTableTarget): void {
    this.targets.push(target);
    target.load(this.store.rules(), this.ispRules());
  }

  /** The ISP's own rules (from the config), in force since this controller started. */
  ispRules(): InstalledRule[] {
    return this.ruleBook.ispRules.map((r) => ({ ...r, installedAt: this.startedAt }));
  }

  tenantRules(): InstalledRule[] {
    return this.store.rules();
  }

  /** Whether a hold's rules may be installed, next to every other tenant's rules in force or promised. */
  check(h: Pick<Hold, 'reservationId' | 'providerId' | 't0' | 't1' | 'service'>): RuleCheck {
    return this.ruleBook.check(
      { providerId: h.providerId, reservationId: h.reservationId, viId: viIdOf(h.reservationId), specs: h.service.rules },
      this.otherTenantRules(h.reservationId, h.t0, h.t1),
      this.now(),
    );
  }

  install(rules: readonly BookRule[]): void {
    if (rules.length === 0) return;
    this.store.installRules(rules, this.now());
    this.sync();
  }

  /** Removes a VI's rules: its traffic falls back to legacy forwarding at once. */
  remove(viId: string): void {
    if (this.store.removeRules(viId) > 0) this.sync();
  }

  /** After a restart: rules of VIs that are gone are removed, and the flow table is rebuilt from the store. */
  recover(liveViIds: ReadonlySet<string>): void {
    for (const rule of this.store.rules()) if (rule.viId && !liveViIds.has(rule.viId)) this.store.removeRules(rule.viId);
    this.sync();
  }

  private sync(): void {
    const tenant = this.store.rules();
    const isp = this.ispRules();
    for (const target of this.targets) target.load(tenant, isp);
  }

  /** Tenant rules others hold: installed ones, and promised ones of holds overlapping [t0, t1). */
  private otherTenantRules(reservationId: string, t0: number, t1: number): BookRule[] {
    const installed: BookRule[] = this.store.rules().filter((r) => r.reservationId !== reservationId);
    const promised: BookRule[] = [];
    for (const h of this.store.activeHolds()) {
      if (h.reservationId === reservationId || h.t1 <= t0 || h.t0 >= t1 || h.state === 'running') continue;
      const viId = viIdOf(h.reservationId);
      h.service.rules.forEach((spec, i) =>
        promised.push({
          id: `${viId}#${i}`,
          owner: 'tenant',
          providerId: h.providerId,
          viId,
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
}
