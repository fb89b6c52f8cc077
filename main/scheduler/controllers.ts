/**
 * The scheduler's side of its cloudlet controllers. A controller connects as
 * a client (role `controller`, bound to its cloudlet), subscribes to
 * `controller.commands` and answers each command with `controller.answer`.
 * `send()` pushes a command and waits for the matching answer up to a
 * timeout; a controller that is not connected, disconnects, or stays silent
 * counts as a refusal, with the reason. Reports keep each cloudlet's view
 * fresh; a cloudlet whose reports stop for `staleAfterMs` is stale until the
 * next report.
 */
import type { TopicSink } from '../protocol/contract.ts';
import type { CloudletStatus, ControllerAnswer, ControllerCommand, ControllerReport, NodeHealth, Resources, RouterFlows, TrafficReport } from '../protocol/domain.ts';
import type { ReceivedLinkLoad } from './linkLoads.ts';

type Command = ControllerCommand;
/** A command before the hub gives it an id. */
export type CommandBody = Command extends infer C ? (C extends Command ? Omit<C, 'commandId'> : never) : never;

export interface CommandOutcome {
  ok: boolean;
  reason: string;
}

interface Waiting {
  cloudletId: string;
  resolve: (o: CommandOutcome) => void;
  timer: NodeJS.Timeout;
}

interface Link {
  connectionId: string;
  sink: TopicSink<Command>;
}

export interface NodeReportView {
  at: number;
  total: Resources;
  available: Resources;
  health: NodeHealth;
}

export interface CloudletLive {
  controllerUrl: string | null;
  link: Link | undefined;
  helloConnection: string | undefined;
  lastReportAt: number | null;
  status: CloudletStatus;
  nodes: Map<string, NodeReportView>;
  /** The programs its controller last said it can run; null until it says. */
  programs: readonly string[] | null;
  /** Its data plane's traffic from the last report that carried any; null until one does. */
  traffic: (TrafficReport & { at: number }) | null;
  /** Per reservation, whether its VI serves traffic (router flows installed), from the last report that said; null until one does. */
  routerFlows: Map<string, RouterFlows> | null;
  /** The link loads of its last report that carried any (its router's link ports); empty until then. */
  links: readonly ReceivedLinkLoad[];
}

export class ControllerHub {
  private readonly live = new Map<string, CloudletLive>();
  private readonly waiting = new Map<string, Waiting>();
  /** Nodes whose last report said down (admission skips them). */
  private readonly down = new Set<string>();
  private nextCommand = 1;
  private stopped = false;
  private readonly runId = Date.now().toString(36);
  private readonly staleAfterMs: number;
  private readonly now: () => number;
  private readonly onStatus: (cloudletId: string, status: CloudletStatus, connected: boolean) => void;
  private staleTimer: NodeJS.Timeout | undefined;
  /** Callers waiting for a cloudlet's controller to attach, per cloudlet. */
  private readonly attachWaiters = new Map<string, Set<() => void>>();

  constructor(options: {
    cloudletIds: readonly string[];
    staleAfterMs: number;
    now: () => number;
    onStatus: (cloudletId: string, status: CloudletStatus, connected: boolean) => void;
  }) {
    this.staleAfterMs = options.staleAfterMs;
    this.now = options.now;
    this.onStatus = options.onStatus;
    for (const id of options.cloudletIds) {
      this.live.set(id, { controllerUrl: null, link: undefined, helloConnection: undefined, lastReportAt: null, status: 'unknown', nodes: new Map(), programs: null, traffic: null, routerFlows: null, links: [] });
    }
  }

  start(): void {
    this.staleTimer = setInterval(() => this.checkStale(), Math.max(100, Math.min(1000, this.staleAfterMs / 4)));
    this.staleTimer.unref();
  }

  stop(): void {
    this.stopped = true;
    if (this.staleTimer) clearInterval(this.staleTimer);
    for (const waiters of this.attachWaiters.values()) for (const w of waiters) w();
    this.attachWaiters.clear();
    for (const [id, w] of this.waiting) {
      clearTimeout(w.timer);
      w.resolve({ ok: false, reason: 'the scheduler is shutting down' });
      this.waiting.delete(id);
    }
  }

  get downNodes(): number {
    return this.down.size;
  }

  /** Every link load the cloudlets last reported, with when it arrived (a link between two cloudlets' routers appears twice). */
  linkLoads(): ReceivedLinkLoad[] {
    return [...this.live.values()].flatMap((c) => c.links);
  }

  view(cloudletId: string): CloudletLive | undefined {
    return this.live.get(cloudletId);
  }

  connected(cloudletId: string): boolean {
    return this.live.get(cloudletId)?.link !== undefined;
  }

  hello(cloudletId: string, connectionId: string, controllerUrl: string | undefined): void {
    const c = this.live.get(cloudletId);
    if (!c) return;
    c.helloConnection = connectionId;
    if (controllerUrl !== undefined) c.controllerUrl = controllerUrl;
  }

  /** The controller's command subscription; a newer connection replaces an older one. */
  attach(cloudletId: string, connectionId: string, sink: TopicSink<Command>): () => void {
    const c = this.live.get(cloudletId);
    if (!c) return () => undefined;
    const old = c.link;
    c.link = { connectionId, sink };
    if (old && old.connectionId !== connectionId) old.sink.end();
    this.onStatus(cloudletId, c.status, true);
    const waiters = this.attachWaiters.get(cloudletId);
    this.attachWaiters.delete(cloudletId);
    for (const w of waiters ?? []) w();
    return () => {
      if (c.link?.connectionId !== connectionId) return;
      c.link = undefined;
      this.failWaiting(cloudletId, `the controller of ${cloudletId} disconnected`);
      this.onStatus(cloudletId, c.status, false);
    };
  }

  /**
   * Resolves true once the cloudlet's controller has subscribed to its
   * commands (after its hello), or false when `timeoutMs` passes first or the
   * hub stops; at once if it already has.
   */
  whenAttached(cloudletId: string, timeoutMs: number): Promise<boolean> {
    if (this.connected(cloudletId)) return Promise.resolve(true);
    if (!this.live.has(cloudletId) || this.stopped) return Promise.resolve(false);
    return new Promise((resolve) => {
      const waiters = this.attachWaiters.get(cloudletId) ?? new Set();
      this.attachWaiters.set(cloudletId, waiters);
      const done = (attached: boolean): void => {
        clearTimeout(timer);
        waiters.delete(wake);
        resolve(attached);
      };
      const wake = (): void => done(this.connected(cloudletId));
      const timer = setTimeout(() => done(false), timeoutMs);
      timer.unref();
      waiters.add(wake);
    });
  }

  report(cloudletId: string, report: ControllerReport): void {
    const c = this.live.get(cloudletId);
    if (!c) return;
    const at = this.now();
    for (const n of report.nodes) {
      c.nodes.set(n.nodeId, { at: report.at, total: n.total, available: n.available, health: n.health });
      if (n.health === 'down') this.down.add(n.nodeId);
      else this.down.delete(n.nodeId);
    }
    c.lastReportAt = at;
    if (report.programs) c.programs = report.programs;
    if (report.traffic) c.traffic = { ...report.traffic, at: report.at };
    // Every report carries the whole list, so a VI that ended (or lost its rules) drops out of it.
    if (report.routerFlows) c.routerFlows = new Map(report.routerFlows.map((f) => [f.reservationId, { installed: f.installed, detail: f.detail }]));
    if (report.links?.length) c.links = report.links.map((l) => ({ ...l, receivedAt: at }));
    if (c.status !== 'healthy') {
      c.status = 'healthy';
      this.onStatus(cloudletId, 'healthy', c.link !== undefined);
    }
  }

  /** Restores the last stored reports (status stays unknown until a fresh one). */
  restoreNode(cloudletId: string, nodeId: string, view: NodeReportView): void {
    this.live.get(cloudletId)?.nodes.set(nodeId, view);
    if (view.health === 'down') this.down.add(nodeId);
  }

  private checkStale(): void {
    const now = this.now();
    for (const [id, c] of this.live) {
      if (c.status === 'healthy' && c.lastReportAt !== null && now - c.lastReportAt > this.staleAfterMs) {
        c.status = 'stale';
        this.onStatus(id, 'stale', c.link !== undefined);
      }
    }
  }

  /** Sends a command and waits for its answer (or a refusal with the reason). */
  send(cloudletId: string, body: CommandBody, timeoutMs: number): Promise<CommandOutcome> {
    const c = this.live.get(cloudletId);
    if (!c?.link) return Promise.resolve({ ok: false, reason: `the controller of ${cloudletId} is not connected` });
    const commandId = `${this.runId}-${this.nextCommand++}`;
    const link = c.link;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiting.delete(commandId);
        resolve({ ok: false, reason: `the controller of ${cloudletId} did not answer ${body.kind} within ${timeoutMs} ms` });
      }, timeoutMs);
      this.waiting.set(commandId, { cloudletId, resolve, timer });
      link.sink.push({ ...body, commandId } as Command);
    });
  }

  /** An answer from a controller; only the cloudlet a command went to may answer it. */
  answer(cloudletId: string, a: ControllerAnswer): boolean {
    const w = this.waiting.get(a.commandId);
    if (!w || w.cloudletId !== cloudletId) return false;
    clearTimeout(w.timer);
    this.waiting.delete(a.commandId);
    w.resolve({ ok: a.ok, reason: a.reason ?? (a.ok ? 'accepted' : 'refused without a reason') });
    return true;
  }

  private failWaiting(cloudletId: string, reason: string): void {
    for (const [id, w] of this.waiting) {
      if (w.cloudletId !== cloudletId) continue;
      clearTimeout(w.timer);
      this.waiting.delete(id);
      w.resolve({ ok: false, reason });
    }
  }
}
