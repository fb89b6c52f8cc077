/**
 * The front-end router's flow table, derived from the rule book (paper sec.
 * 4.1.1: the controller "is responsible for configuring the flow tables of the
 * front-end router using the OpenFlow protocol"), and the loop that keeps the
 * router equal to it. The router itself is reached through a driver
 * (RouterDriver; Open vSwitch in ovsRouter.ts).
 *
 * What the controller owns (contracts.md point 4): table-0 flows carrying its
 * cookie. One VI rule becomes one flow at the rule's priority (more when a
 * port range needs several masks, or a rule without a family matches both),
 * sending matching packets to the cloudlet's VXLAN port with the cloudlet's
 * VNI; packets coming back from the cloudlet go to table 1 (forwarding by
 * destination, which belongs to whoever built the router), and so does
 * everything else, by a priority-0 default. An ISP rule that overlaps a
 * tenant rule also becomes a flow, acting at the router as the data plane
 * would (legacy: table 1, drop: dropped): the rule book lets a tenant rule
 * overlap an ISP rule only below it, and the router must not send the ISP's
 * share to the VI. Flows without this controller's cookie are never touched.
 *
 * Identity: the cookie's upper half names the controller (a mark and a hash
 * of the cloudlet id), its lower half the flow (a hash of its table, priority,
 * match and actions). The table is reconciled by cookie alone: flows of ours
 * that are not wanted are removed, wanted ones that are missing added, in one
 * atomic bundle. A router that restarted (empty table, new datapath) is thus
 * reprogrammed on the next check, and a controller that restarted finds its
 * flows in place.
 */
import type { RouterTable } from '../protocol/controllerApi.ts';
import type { DemuxMatch, RouterFlows } from '../protocol/domain.ts';
import { Unavailable } from '../protocol/errors.ts';
import { parsePrefix } from '../protocol/prefix.ts';
import type { Alarms } from './alarms.ts';
import { describeMatch, matchesIntersect } from './ruleBook.ts';
import type { FlowTableTarget, InstalledRule } from './ruleInstaller.ts';

/** A flow this controller wants in the router. */
export interface RouterFlow {
  cookie: bigint;
  table: number;
  priority: number;
  /** ovs-ofctl match syntax ('' matches everything). */
  match: string;
  /** ovs-ofctl action syntax. */
  actions: string;
  /** The rule it comes from; null for the fixed return and default flows. */
  ruleId: string | null;
}

/** A flow as the router reports it. */
export interface InstalledFlow {
  cookie: bigint;
  table: number;
  priority: number;
  /** Match and actions as the router prints them. */
  text: string;
  packets: number;
  bytes: number;
}

/** What identifies one incarnation of the router: a restart or a rebuilt bridge changes it. */
export interface RouterIdentity {
  datapathId: string;
  /** The OpenFlow port number of the VXLAN port towards this cloudlet. */
  vxlanPort: number;
}

/** One front-end router, as the controller drives it. */
export interface RouterDriver {
  /** Says which router this is in messages ("ovs bridge br0 at unix:/run/x/br0.mgmt"). */
  readonly name: string;
  identity(): Promise<RouterIdentity>;
  /** The flows whose cookie matches `cookie` under `mask`. */
  flows(cookie: bigint, mask: bigint): Promise<InstalledFlow[]>;
  /** Removes flows by exact cookie and adds flows, as one atomic change. */
  apply(change: { remove: readonly bigint[]; add: readonly RouterFlow[] }): Promise<void>;
}

/** The upper half of every cookie of ours: a mark ("PC") and 16 bits of the cloudlet id's hash. */
export const COOKIE_MASK = 0xffff_ffff_0000_0000n;
const COOKIE_MARK = 0x5043n;
export const TABLE_FORWARDING = 1;
/** Returning traffic must win over any rule (priorities are 0-65535; a rule at 65535 ties). */
const RETURN_PRIORITY = 65535;

function fnv1a32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

export function controllerCookie(cloudletId: string): bigint {
  return (COOKIE_MARK << 48n) | (BigInt(fnv1a32(cloudletId) & 0xffff) << 32n);
}

export function formatCookie(cookie: bigint): string {
  return `0x${cookie.toString(16).padStart(16, '0')}`;
}

/** The fewest value/mask pairs that cover a port range exactly (OpenFlow matches ports by mask only). */
export function portMasks(from: number, to: number): { value: number; mask: number }[] {
  const out: { value: number; mask: number }[] = [];
  let lo = from;
  while (lo <= to) {
    let size = 1;
    // Grow the block while it stays aligned and inside the range.
    while (size < 0x10000 && lo % (size * 2) === 0 && lo + size * 2 - 1 <= to) size *= 2;
    out.push({ value: lo, mask: 0xffff & ~(size - 1) });
    lo += size;
  }
  return out;
}

function portTerms(field: 'tp_src' | 'tp_dst', range: { from: number; to: number } | undefined): string[] {
  if (!range || (range.from === 0 && range.to === 65535)) return [''];
  return portMasks(range.from, range.to).map(({ value, mask }) => (mask === 0xffff ? `${field}=${value}` : `${field}=0x${value.toString(16)}/0x${mask.toString(16)}`));
}

/**
 * A demux match as OpenFlow matches (ovs-ofctl syntax). OpenFlow needs the
 * prerequisites spelled out: a prefix or a protocol needs its eth type, so a
 * rule naming a protocol but no family becomes one match per family.
 */
export function openflowMatches(m: DemuxMatch): string[] {
  const src = m.srcPrefix ? parsePrefix(m.srcPrefix) : undefined;
  const dst = m.dstPrefix ? parsePrefix(m.dstPrefix) : undefined;
  const family = src?.family ?? dst?.family ?? (m.ethType === 0x0800 ? 4 : m.ethType === 0x86dd ? 6 : undefined);
  const families: (4 | 6 | undefined)[] = family ? [family] : m.ipProto !== undefined ? [4, 6] : [undefined];
  const out: string[] = [];
  for (const f of families) {
    const base: string[] = [];
    if (m.inPort !== undefined) base.push(`in_port=${m.inPort}`);
    if (f === 4) base.push('ip');
    else if (f === 6) base.push('ipv6');
    else if (m.ethType !== undefined) base.push(`dl_type=0x${m.ethType.toString(16).padStart(4, '0')}`);
    if (m.ipProto !== undefined) base.push(`nw_proto=${m.ipProto}`);
    const addr = f === 6 ? 'ipv6' : 'nw';
    if (src) base.push(`${addr}_src=${src.text}`);
    if (dst) base.push(`${addr}_dst=${dst.text}`);
    for (const sp of portTerms('tp_src', m.srcPorts)) {
      for (const dp of portTerms('tp_dst', m.dstPorts)) out.push([...base, sp, dp].filter(Boolean).join(','));
    }
  }
  return out;
}

/**
 * The flows the rule book asks of the router. Deterministic: the same rules
 * give the same flows with the same cookies, whatever controller computes them.
 */
export function routerFlows(tenant: readonly InstalledRule[], isp: readonly InstalledRule[], o: { cookie: bigint; vni: number; vxlanPort: number }): RouterFlow[] {
  const toCloudlet = `set_field:${o.vni}->tun_id,output:${o.vxlanPort}`;
  const wanted: Omit<RouterFlow, 'cookie'>[] = [
    { table: 0, priority: RETURN_PRIORITY, match: `in_port=${o.vxlanPort}`, actions: `goto_table:${TABLE_FORWARDING}`, ruleId: null },
    { table: 0, priority: 0, match: '', actions: `goto_table:${TABLE_FORWARDING}`, ruleId: null },
  ];
  for (const r of isp) {
    if (!tenant.some((t) => matchesIntersect(t.match, r.match))) continue;
    const actions = r.action === 'drop' ? 'drop' : `goto_table:${TABLE_FORWARDING}`;
    for (const match of openflowMatches(r.match)) wanted.push({ table: 0, priority: r.priority, match, actions, ruleId: r.id });
  }
  for (const r of [...tenant].sort((a, b) => a.id.localeCompare(b.id))) {
    for (const match of openflowMatches(r.match)) wanted.push({ table: 0, priority: r.priority, match, actions: toCloudlet, ruleId: r.id });
  }
  const used = new Set<bigint>();
  return wanted.map((f) => {
    let salt = 0;
    let cookie: bigint;
    // A hash collision between two wanted flows would make them one: salt the later one.
    do cookie = o.cookie | BigInt(fnv1a32(`${f.table}|${f.priority}|${f.match}|${f.actions}|${salt++}`));
    while (used.has(cookie));
    used.add(cookie);
    return { ...f, cookie };
  });
}

export class RouterError extends Error {
  override name = 'RouterError';
}

export interface FrontRouterOptions {
  driver: RouterDriver;
  cloudletId: string;
  vni: number;
  checkIntervalMs: number;
  alarms: Alarms;
  now: () => number;
  log: (line: string) => void;
  /** The VIs whose traffic the router steers (or no longer steers) changed. */
  onSteeringChanged?: (viIds: readonly string[]) => void;
}

/**
 * Keeps the router's flows equal to the rule book. It is a flow-table target
 * of the rule installer (every install and removal reaches it), and it checks
 * the router every checkIntervalMs, so a router that restarted or lost flows
 * is reprogrammed. Passes run one at a time; changes arriving during a pass
 * are folded into the next one.
 */
export class FrontRouter implements FlowTableTarget {
  readonly cookie: bigint;
  private readonly o: FrontRouterOptions;
  private tenant: readonly InstalledRule[] = [];
  private isp: readonly InstalledRule[] = [];
  private tail: Promise<void> = Promise.resolve();
  private queued: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private problem = 'not checked yet';
  private checkedAt: number | null = null;
  /** Rules whose every flow the router had at the last pass. */
  private steered = new Set<string>();
  /** Per VI, whether all its rules were steered at the last pass. */
  private viSteering = new Map<string, boolean>();
  private identity: RouterIdentity | undefined;
  /** Read the router's identity again at the next pass (periodic checks and failures; a rule change reuses it). */
  private recheck = true;
  private stopped = false;

  constructor(o: FrontRouterOptions) {
    this.o = o;
    this.cookie = controllerCookie(o.cloudletId);
  }

  load(tenant: readonly InstalledRule[], isp: readonly InstalledRule[]): void {
    this.tenant = tenant;
    this.isp = isp;
    void this.reconcile();
  }

  /** Starts the periodic check (the first pass runs now). */
  start(): Promise<void> {
    this.timer = setInterval(() => {
      this.recheck = true;
      void this.reconcile();
    }, this.o.checkIntervalMs);
    this.timer.unref();
    return this.reconcile();
  }

  /**
   * The controller is going away, and its data plane with it: the rule flows
   * are withdrawn (a last pass), so the traffic they steered is forwarded as
   * ordinary traffic instead of being sent to a cloudlet that no longer
   * listens. The fixed flows stay; a restarted controller steers again.
   */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.tenant = [];
    this.isp = [];
    this.recheck = true;
    await this.reconcile();
    this.stopped = true;
  }

  /** Runs a pass after the one under way (at most one waits; later callers share it). */
  reconcile(): Promise<void> {
    if (this.queued) return this.queued;
    const next = this.tail.then(() => {
      this.queued = undefined;
      return this.stopped ? undefined : this.pass();
    });
    this.queued = next;
    this.tail = next;
    return next;
  }

  get ok(): boolean {
    return this.problem === '';
  }

  /**
   * Whether the router steers a VI's traffic to it: every flow of every rule
   * of the VI installed at the last pass. Undefined for a VI without rules.
   */
  steers(viId: string): RouterFlows | undefined {
    const rules = this.tenant.filter((r) => r.viId === viId);
    if (rules.length === 0) return undefined;
    const missing = rules.filter((r) => !this.steered.has(r.id));
    if (missing.length === 0) return { installed: true, detail: `${this.o.driver.name}: flows of ${rules.length} rule(s) installed`.slice(0, 2048) };
    const why = this.problem || 'not yet checked since the rules changed';
    return { installed: false, detail: `${this.o.driver.name}: flows of ${missing.map((r) => r.id).join(', ')} not installed: ${why}`.slice(0, 2048) };
  }

  /** Every VI with rules in force and whether the router steers its traffic to it (for the scheduler's report). */
  steering(): { viId: string; flows: RouterFlows }[] {
    const viIds = [...new Set(this.tenant.flatMap((r) => (r.viId ? [r.viId] : [])))];
    return viIds.flatMap((viId) => {
      const flows = this.steers(viId);
      return flows ? [{ viId, flows }] : [];
    });
  }

  private async pass(): Promise<void> {
    const tenant = this.tenant;
    const isp = this.isp;
    try {
      const identity = this.recheck || !this.identity ? await this.o.driver.identity() : this.identity;
      this.recheck = false;
      if (this.identity && (this.identity.datapathId !== identity.datapathId || this.identity.vxlanPort !== identity.vxlanPort)) {
        this.o.log(`router ${this.o.driver.name} changed (datapath ${this.identity.datapathId} -> ${identity.datapathId}, VXLAN port ${this.identity.vxlanPort} -> ${identity.vxlanPort}): reprogramming`);
      }
      this.identity = identity;
      const wanted = routerFlows(tenant, isp, { cookie: this.cookie, vni: this.o.vni, vxlanPort: identity.vxlanPort });
      const installed = await this.o.driver.flows(this.cookie, COOKIE_MASK);
      const wantedKeys = new Set(wanted.map((f) => `${f.cookie}|${f.table}|${f.priority}`));
      const haveKeys = new Set(installed.map((f) => `${f.cookie}|${f.table}|${f.priority}`));
      const remove = [...new Set(installed.filter((f) => !wantedKeys.has(`${f.cookie}|${f.table}|${f.priority}`)).map((f) => f.cookie))];
      const add = wanted.filter((f) => !haveKeys.has(`${f.cookie}|${f.table}|${f.priority}`) || remove.includes(f.cookie));
      let refused: { flow: RouterFlow; reason: string }[] = [];
      if (remove.length || add.length) {
        const started = performance.now();
        try {
          await this.o.driver.apply({ remove, add });
        } catch (e) {
          refused = await this.applyOneByOne(remove, add, e as Error);
        }
        this.o.log(`router ${this.o.driver.name}: ${add.length - refused.length} flow(s) added, ${remove.length} removed in ${(performance.now() - started).toFixed(1)} ms${refused.length ? `, ${refused.length} refused` : ''}`);
      }
      if (refused.length) {
        const which = refused.map(({ flow, reason }) => `${flow.ruleId ?? 'fixed flow'} (priority ${flow.priority}${flow.match ? ` ${flow.match}` : ''}): ${reason}`);
        this.fail(`router flows missing: ${this.o.driver.name} refused ${refused.length} flow(s): ${which.join('; ')}`);
        // A refused fixed flow (the way back from the cloudlet) leaves no VI served.
        const refusedRules = new Set(refused.map((r) => r.flow.ruleId));
        this.steered = refusedRules.has(null) ? new Set() : new Set(tenant.filter((r) => !refusedRules.has(r.id)).map((r) => r.id));
      } else {
        if (this.problem) this.o.log(`router ${this.o.driver.name}: flows match the rule book${this.problem === 'not checked yet' ? '' : ` again (was: ${this.problem})`}`);
        this.problem = '';
        this.steered = new Set(tenant.map((r) => r.id));
      }
    } catch (e) {
      this.fail(`router flows missing: ${(e as Error).message}`);
      this.steered = new Set();
    }
    this.checkedAt = this.o.now();
    // Told: a VI that stopped or started being steered, and a new VI the router does not steer.
    const now = new Map<string, boolean>();
    for (const r of tenant) if (r.viId) now.set(r.viId, (now.get(r.viId) ?? true) && this.steered.has(r.id));
    const changed = [...now].filter(([viId, steered]) => (this.viSteering.has(viId) ? this.viSteering.get(viId) !== steered : !steered)).map(([viId]) => viId);
    this.viSteering = now;
    if (changed.length) this.o.onSteeringChanged?.(changed);
  }

  /**
   * The atomic change was refused: one refused flow must not keep every
   * other VI off the router, so the flows go in one at a time and the refused
   * ones are named. Removals (by cookie) go first, as one change.
   */
  private async applyOneByOne(remove: readonly bigint[], add: readonly RouterFlow[], error: Error): Promise<{ flow: RouterFlow; reason: string }[]> {
    if (add.length === 1 && remove.length === 0) return [{ flow: add[0] as RouterFlow, reason: error.message }];
    if (remove.length) await this.o.driver.apply({ remove, add: [] });
    const refused: { flow: RouterFlow; reason: string }[] = [];
    for (const flow of add) {
      try {
        await this.o.driver.apply({ remove: [], add: [flow] });
      } catch (e) {
        refused.push({ flow, reason: (e as Error).message });
      }
    }
    return refused;
  }

  /** Records why the router is not as the rule book says; a new reason raises the alarm. */
  private fail(message: string): void {
    this.recheck = true;
    if (message !== this.problem) this.o.alarms.raise({ kind: 'router', severity: 'critical', subject: this.o.driver.name, message });
    this.problem = message;
  }

  /** The router's table as installed, beside the rules each flow came from. */
  async table(): Promise<RouterTable> {
    const ruleText = new Map<string, string>();
    for (const r of [...this.tenant, ...this.isp]) ruleText.set(r.id, `${r.id} priority ${r.priority} ${r.action} (${describeMatch(r.match)})`);
    const describe = (id: string | null): string => (id === null ? 'fixed: returning and ordinary traffic to table 1' : (ruleText.get(id) ?? `${id} (no longer in the rule book)`));
    const base = { router: this.o.driver.name, checkedAt: this.checkedAt };
    let installed: InstalledFlow[];
    let identity: RouterIdentity;
    try {
      identity = await this.o.driver.identity();
      installed = await this.o.driver.flows(this.cookie, COOKIE_MASK);
    } catch (e) {
      throw new Unavailable(`cannot read the flows of ${this.o.driver.name}: ${(e as Error).message}`);
    }
    const wanted = routerFlows(this.tenant, this.isp, { cookie: this.cookie, vni: this.o.vni, vxlanPort: identity.vxlanPort });
    const byCookie = new Map(wanted.map((f) => [f.cookie, f]));
    const have = new Set(installed.map((f) => f.cookie));
    return {
      ...base,
      ok: this.ok,
      problem: this.problem,
      flows: installed
        .sort((a, b) => b.priority - a.priority || a.text.localeCompare(b.text))
        .map((f) => {
          const ruleId = byCookie.get(f.cookie)?.ruleId ?? null;
          return {
            cookie: formatCookie(f.cookie),
            priority: f.priority,
            flow: f.text,
            packets: f.packets,
            bytes: f.bytes,
            ruleId,
            rule: byCookie.has(f.cookie) ? describe(ruleId) : 'not wanted by the rule book (removed at the next pass)',
          };
        }),
      missing: wanted
        .filter((f) => !have.has(f.cookie))
        .map((f) => ({ cookie: formatCookie(f.cookie), priority: f.priority, flow: `${f.match || '(any)'} actions=${f.actions}`, ruleId: f.ruleId, rule: describe(f.ruleId) })),
    };
  }
}
