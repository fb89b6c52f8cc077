/**
 * The cloudlet controller daemon (paper section 4.1.1): wires the local
 * store, the VI supervisor, the rule book, the scheduler link, the console
 * API and the optional metrics endpoint, and runs the clock (t0 starts, t1
 * stops, lapsed holds, profile steps, usage samples).
 *
 * Who may call: consoles with viewer or operator tokens from the config (the
 * console contract, controllerApi.ts), and the scheduler through the commands
 * this daemon receives as its client. It listens on loopback unless given
 * TLS. On start it re-adopts VIs that survived a restart, cleans up those
 * that did not, and then resyncs with the scheduler.
 */
import { join } from 'node:path';
import { TokenStore } from '../protocol/auth.ts';
import type { CallContext, Handlers, TopicHandlers, TopicSink } from '../protocol/contract.ts';
import { controllerApi, type Alarm, type ControllerApi, type ViEvent, type ViUsage } from '../protocol/controllerApi.ts';
import { createDispatcher } from '../protocol/dispatcher.ts';
import { ErrorCode, RpcError } from '../protocol/errors.ts';
import { RpcServer } from '../protocol/server.ts';
import { Cloudlet, Conflict, Invalid, NotFound, type Actor } from './cloudlet.ts';
import { makeStateDir, type ControllerConfig } from './config.ts';
import { ControllerMetrics } from './metrics.ts';
import { Ed25519AttestationVerifier, type OwnershipVerifier } from './ownership.ts';
import { RuleBook } from './ruleBook.ts';
import { detectIsolation, hostIsolationSummary, removeBaseCgroups, type HostIsolation } from './sandbox.ts';
import { SchedulerLink } from './schedulerLink.ts';
import { ControllerStore } from './store.ts';
import { ViSupervisor } from './viSupervisor.ts';

export const SOFTWARE = 'packetcloud-controller/0.1';

export interface ControllerDaemonOptions {
  now?: () => number;
  log?: (line: string) => void;
  /** Replaces the Ed25519 attestation verifier (a DNSSEC verifier, or a test double). */
  verifier?: OwnershipVerifier;
}

function toWire(e: unknown): unknown {
  if (e instanceof NotFound) return new RpcError(ErrorCode.NotFound, e.message);
  if (e instanceof Conflict) return new RpcError(ErrorCode.Conflict, e.message);
  if (e instanceof Invalid) return new RpcError(ErrorCode.InvalidParams, e.message);
  return e;
}

async function wire<T>(fn: () => T | Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw toWire(e);
  }
}

function actorOf(ctx: CallContext): Actor {
  return { name: ctx.principal.name, role: ctx.principal.role };
}

export class ControllerDaemon {
  readonly config: ControllerConfig;
  readonly host: HostIsolation;
  readonly store: ControllerStore;
  readonly cloudlet: Cloudlet;
  readonly supervisor: ViSupervisor;
  private readonly link: SchedulerLink;
  private readonly server: RpcServer;
  private readonly metrics: ControllerMetrics | undefined;
  private readonly now: () => number;
  private readonly log: (line: string) => void;
  private readonly viSinks = new Set<TopicSink<ViEvent>>();
  private readonly alarmSinks = new Set<TopicSink<Alarm>>();
  private readonly usageSinks = new Set<{ sink: TopicSink<ViUsage>; viId: string | undefined }>();
  private tickTimer: NodeJS.Timeout | undefined;
  private ticking = false;
  private schedulerAlarmTimer: NodeJS.Timeout | undefined;
  url = '';
  metricsUrl: string | undefined;

  constructor(config: ControllerConfig, options: ControllerDaemonOptions = {}) {
    this.config = config;
    this.now = options.now ?? Date.now;
    this.log = options.log ?? ((line) => process.stderr.write(`controller ${config.cloudletId}: ${line}\n`));
    // The state directory before the cgroups: a refusal must leave nothing behind.
    makeStateDir(config.stateDir, 'vis');
    this.host = detectIsolation(config.cloudletId, config.sandbox.mode);
    try {
      this.store = new ControllerStore(join(config.stateDir, 'controller.sqlite'));
    } catch (e) {
      removeBaseCgroups(this.host);
      throw e;
    }
    const ruleBook = new RuleBook(options.verifier ?? new Ed25519AttestationVerifier(config.trustAnchors), config.ispRules);
    let cloudlet: Cloudlet | undefined;
    this.supervisor = new ViSupervisor({
      host: this.host,
      store: this.store,
      stateDir: config.stateDir,
      cloudletId: config.cloudletId,
      graceMs: config.sandbox.graceMs,
      nofile: config.sandbox.nofile,
      maxProcesses: config.sandbox.maxProcesses,
      viUids: config.sandbox.viUids,
      programs: config.programs,
      now: this.now,
      onChange: (vi, from) => cloudlet?.onViChanged(vi, from),
      log: this.log,
    });
    this.link = new SchedulerLink({
      url: config.scheduler.url,
      token: config.scheduler.token,
      ...(config.scheduler.caFile ? { caFile: config.scheduler.caFile } : {}),
      controllerUrl: '',
      software: SOFTWARE,
      backoffMs: config.scheduler.backoffMs,
      maxBackoffMs: config.scheduler.maxBackoffMs,
      reportIntervalMs: config.scheduler.reportIntervalMs,
      buildReport: () => {
        const pending = this.cloudlet.pendingForReport();
        return {
          report: {
            at: this.now(),
            nodes: this.cloudlet.nodeReports(),
            ...(pending.vis.length ? { vis: pending.vis } : {}),
            ...(pending.audit.length ? { audit: pending.audit } : {}),
          },
          commit: () => {
            pending.commit();
            this.metrics?.reportsSent.inc();
          },
        };
      },
      onCommand: (command) => this.cloudlet.command(command),
      onConnected: (assignments) => this.cloudlet.reconcile(assignments),
      onStatus: (connected, detail) => this.onSchedulerStatus(connected, detail),
      log: this.log,
    });
    this.cloudlet = cloudlet = new Cloudlet({
      cloudletId: config.cloudletId,
      nodes: config.nodes,
      store: this.store,
      supervisor: this.supervisor,
      ruleBook,
      now: this.now,
      log: this.log,
      events: {
        viChanged: (vi, from) => {
          const event: ViEvent = { at: this.now(), vi, from };
          for (const s of this.viSinks) s.push(event);
        },
        alarm: (alarm) => {
          for (const s of this.alarmSinks) s.push(alarm);
        },
        usage: (usage) => {
          for (const s of this.usageSinks) if (!s.viId || s.viId === usage.viId) s.sink.push(usage);
        },
        changed: () => this.link.reportNow(),
      },
      fetchReservation: async (id) => {
        try {
          return (await this.link.assignments()).find((r) => r.id === id);
        } catch {
          return undefined;
        }
      },
    });
    const tokens = new TokenStore(config.tokens.map((t) => ({ token: t.token, principal: { role: t.role, name: t.name } })));
    this.server = new RpcServer({ dispatcher: createDispatcher(controllerApi, this.handlers(), this.topics()), tokens, log: this.log });
    if (config.metrics) {
      this.metrics = new ControllerMetrics(config.cloudletId, {
        visByState: () => {
          const counts: Record<string, number> = {};
          for (const vi of this.store.vis()) counts[vi.state] = (counts[vi.state] ?? 0) + 1;
          return counts;
        },
        usages: () => this.supervisor.running().flatMap((id) => this.supervisor.usage(id) ?? []),
        rulesInstalled: () => this.store.rules().length,
      });
    }
  }

  private onSchedulerStatus(connected: boolean, detail: string): void {
    this.log(detail);
    clearTimeout(this.schedulerAlarmTimer);
    // A blip is not an alarm; a scheduler gone for a while is.
    if (!connected) {
      this.schedulerAlarmTimer = setTimeout(() => {
        if (!this.link.connected) this.cloudlet.raise({ kind: 'scheduler_unreachable', severity: 'warning', subject: this.config.scheduler.url, message: detail });
      }, 10_000);
      this.schedulerAlarmTimer.unref();
    }
  }

  async start(): Promise<{ url: string; metricsUrl?: string }> {
    try {
      return await this.startServing();
    } catch (e) {
      // Whatever was opened is closed and our cgroups removed (unless adopted VIs live in them).
      // Adopted VIs are kept whatever onExit says: a failed start is not a decision to stop tenants.
      await this.shutDown(false).catch(() => undefined);
      throw e;
    }
  }

  private async startServing(): Promise<{ url: string; metricsUrl?: string }> {
    const recovered = await this.cloudlet.recover();
    if (recovered.adopted.length || recovered.lost.length) {
      this.log(`after restart: adopted ${recovered.adopted.length} VI(s) [${recovered.adopted.join(', ')}], lost ${recovered.lost.length} [${recovered.lost.join(', ')}]`);
    }
    const { host, port, tls } = this.config.listen;
    const address = await this.server.listen(host, port, tls ? { certFile: tls.cert, keyFile: tls.key } : undefined);
    const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    this.url = this.config.listen.advertiseUrl ?? `${tls ? 'wss' : 'ws'}://${shown}:${address.port}`;
    this.link.setControllerUrl(this.url);
    if (this.metrics && this.config.metrics) {
      const m = await this.metrics.listen(this.config.metrics.host, this.config.metrics.port);
      this.metricsUrl = `http://${m.address}:${m.port}/metrics`;
    }
    this.tickTimer = setInterval(() => void this.tick(), Math.min(1000, this.config.sandbox.usageIntervalMs));
    this.link.start();
    return { url: this.url, ...(this.metricsUrl ? { metricsUrl: this.metricsUrl } : {}) };
  }

  private async tick(): Promise<void> {
    if (this.ticking) return;
    this.ticking = true;
    try {
      await this.cloudlet.tick();
    } catch (e) {
      this.log(`tick failed: ${(e as Error).message}`);
    } finally {
      this.ticking = false;
    }
  }

  get schedulerConnected(): boolean {
    return this.link.connected;
  }

  /** Graceful stop: VIs are kept (re-adopted on restart) or stopped, as the config says. */
  async stop(): Promise<void> {
    await this.shutDown(this.config.onExit === 'stop');
  }

  private async shutDown(stopVis: boolean): Promise<void> {
    clearInterval(this.tickTimer);
    clearTimeout(this.schedulerAlarmTimer);
    await this.link.stop();
    await this.server.close();
    await this.metrics?.close();
    if (stopVis) {
      for (const vi of this.store.vis()) {
        if (!['stopped', 'failed', 'terminated'].includes(vi.state)) await this.cloudlet.teardown(vi, 'stopped', 'the controller shut down (onExit: stop)');
      }
    }
    await this.supervisor.settle();
    if (this.supervisor.running().length === 0) removeBaseCgroups(this.host);
    this.supervisor.detach();
    this.store.close();
  }

  private handlers(): Handlers<ControllerApi> {
    const c = (): Cloudlet => this.cloudlet;
    return {
      'cloudlet.info': () => ({
        cloudletId: this.config.cloudletId,
        software: SOFTWARE,
        now: this.now(),
        schedulerConnected: this.link.connected,
        isolation: hostIsolationSummary(this.host),
      }),
      'node.list': () => ({ nodes: c().nodes() }),
      'node.setHealth': (p, ctx) => wire(() => c().setNodeHealth(actorOf(ctx), p.nodeId, p.health, p.reason)),
      'vi.list': (p) => ({
        vis: this.store
          .vis()
          .filter((v) => (!p.states || p.states.includes(v.state)) && (!p.nodeId || v.nodeId === p.nodeId))
          .slice(0, p.limit)
          .map((v) => c().viView(v)),
      }),
      'vi.get': (p) => wire(() => c().viView(c().requireVi(p.viId))),
      'vi.restrict': (p, ctx) =>
        wire(() => {
          const { viId, reason, ...caps } = p;
          const { vi, problems } = c().restrict(actorOf(ctx), viId, caps, reason);
          if (problems.length) this.log(`restrict ${viId}: ${problems.join('; ')}`);
          return vi;
        }),
      'vi.terminate': (p, ctx) => wire(() => c().terminate(actorOf(ctx), p.viId, p.reason)),
      'rule.list': (p) => {
        const tenant = this.store.rules().filter((r) => !p.viId || r.viId === p.viId);
        const isp = p.viId ? [] : c().ispRulesView();
        return {
          rules: [...tenant, ...isp]
            .sort((a, b) => b.priority - a.priority || a.id.localeCompare(b.id))
            .map((r) => ({ id: r.id, owner: r.owner, providerId: r.providerId, viId: r.viId, priority: r.priority, match: r.match, action: r.action, samplingRate: r.samplingRate, provenBy: r.provenBy, installedAt: r.installedAt })),
        };
      },
      'alarm.list': (p) => ({ alarms: this.store.alarms(p.includeAcknowledged, p.limit) }),
      'alarm.acknowledge': (p, ctx) =>
        wire(() => {
          const alarm = this.store.alarm(p.alarmId);
          if (!alarm) throw new NotFound(`no alarm ${p.alarmId} on cloudlet ${this.config.cloudletId}`);
          if (!alarm.acknowledgedBy) {
            c().audit(actorOf(ctx), 'alarm.acknowledge', `${this.config.cloudletId}/alarm/${p.alarmId}`, p.reason);
            this.store.acknowledgeAlarm(p.alarmId, ctx.principal.name);
          }
          return this.store.alarm(p.alarmId) as Alarm;
        }),
      'audit.list': (p) => ({ entries: this.store.auditEntries(p.afterSeq, p.limit) }),
    };
  }

  private topics(): TopicHandlers<ControllerApi> {
    return {
      'vi.events': (_p, sink) => {
        this.viSinks.add(sink);
        return () => this.viSinks.delete(sink);
      },
      alarms: (_p, sink) => {
        this.alarmSinks.add(sink);
        return () => this.alarmSinks.delete(sink);
      },
      'vi.usage': (p, sink) => {
        const entry = { sink, viId: p.viId };
        this.usageSinks.add(entry);
        return () => this.usageSinks.delete(entry);
      },
    };
  }
}
