/**
 * The cloudlet controller daemon (paper section 4.1.1): wires the local
 * store, the VI supervisor, the cloudlet's control plane, the scheduler link,
 * the console API (api.ts) and the optional metrics endpoint, and runs the
 * clock every second.
 *
 * Who may call: consoles with viewer or operator tokens from the config (the
 * console contract, controllerApi.ts), and the scheduler through the commands
 * this daemon receives as its client. It listens on loopback unless given
 * TLS. On start it re-adopts VIs that survived a restart, cleans up those
 * that did not, and then resyncs with the scheduler.
 */
import { join } from 'node:path';
import { TokenStore } from '../protocol/auth.ts';
import { controllerApi } from '../protocol/controllerApi.ts';
import { createDispatcher } from '../protocol/dispatcher.ts';
import { RpcServer } from '../protocol/server.ts';
import { controllerHandlers, ControllerTopics, SOFTWARE } from './api.ts';
import { Cloudlet } from './cloudlet.ts';
import { makeStateDir, openStateDirToVis, type ControllerConfig } from './config.ts';
import { CloudletDataPath } from './dataPath.ts';
import { EvidenceRings } from './evidenceRing.ts';
import { FrontRouter } from './frontRouter.ts';
import { defaultOpenflowTarget, OvsRouter } from './ovsRouter.ts';
import { ControllerMetrics } from './metrics.ts';
import type { PacketSample } from './packetSample.ts';
import { SflowExporter } from './sflowExporter.ts';
import { Ed25519AttestationVerifier, type OwnershipVerifier } from './ownership.ts';
import { RouterLinkLoad } from './routerLinkLoad.ts';
import { RuleBook } from './ruleBook.ts';
import { detectIsolation, removeBaseCgroups, type HostIsolation } from './sandbox.ts';
import { SchedulerLink } from './schedulerLink.ts';
import { ControllerStore } from './store.ts';
import { UploadStore } from './uploads.ts';
import { ViSupervisor } from './viSupervisor.ts';

export { SOFTWARE };

export interface ControllerDaemonOptions {
  now?: () => number;
  log?: (line: string) => void;
  /** Replaces the Ed25519 attestation verifier (a DNSSEC verifier, or a test double). */
  verifier?: OwnershipVerifier;
}

export class ControllerDaemon {
  readonly config: ControllerConfig;
  readonly host: HostIsolation;
  readonly store: ControllerStore;
  readonly cloudlet: Cloudlet;
  readonly supervisor: ViSupervisor;
  readonly uploads: UploadStore;
  private readonly link: SchedulerLink;
  private readonly server: RpcServer;
  private readonly topics: ControllerTopics;
  readonly evidence: EvidenceRings;
  dataPath: CloudletDataPath | undefined;
  /** The front-end router this controller programs, when its config names one. */
  readonly router: FrontRouter | undefined;
  /** The loads of the topology links on the router's ports, when its config names any. */
  private readonly linkLoad: RouterLinkLoad | undefined;
  private sflow: SflowExporter | undefined;
  private readonly metrics: ControllerMetrics | undefined;
  private readonly now: () => number;
  private readonly log: (line: string) => void;
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
    this.host = detectIsolation(config.cloudletId, config.sandbox.mode, config.sandbox.cgroupName);
    if (this.host.root && this.host.setpriv) openStateDirToVis(config.stateDir);
    try {
      this.store = new ControllerStore(join(config.stateDir, 'controller.sqlite'));
    } catch (e) {
      removeBaseCgroups(this.host);
      throw e;
    }
    this.topics = new ControllerTopics(this.now);
    this.evidence = new EvidenceRings(join(config.stateDir, 'evidence'), { maxBytes: config.evidence.maxBytesPerVi, maxSamples: config.evidence.maxSamplesPerVi });
    const ruleBook = new RuleBook(options.verifier ?? new Ed25519AttestationVerifier(config.trustAnchors), config.ispRules);
    let cloudlet: Cloudlet | undefined;
    this.uploads = new UploadStore(config.stateDir);
    this.supervisor = new ViSupervisor({
      uploads: this.uploads,
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
        const pending = this.cloudlet.agent.pendingForReport();
        const routerFlows = this.cloudlet.views.routerFlows();
        return {
          report: {
            at: this.now(),
            nodes: this.cloudlet.views.nodeReports(),
            programs: this.supervisor.programs(),
            ...(this.dataPath ? { traffic: this.dataPath.trafficReport((viId) => this.cloudlet.vis.get(viId)?.reservationId) } : {}),
            ...(routerFlows ? { routerFlows } : {}),
            ...(this.linkLoad?.loads().length ? { links: this.linkLoad.loads() } : {}),
            ...(pending.vis.length ? { vis: pending.vis } : {}),
            ...(pending.audit.length ? { audit: pending.audit } : {}),
          },
          commit: () => {
            pending.commit();
            this.metrics?.reportsSent.inc();
          },
        };
      },
      onCommand: (command) => this.cloudlet.agent.command(command),
      onConnected: (assignments) => this.cloudlet.agent.reconcile(assignments),
      onStatus: (connected, detail) => this.onSchedulerStatus(connected, detail),
      log: this.log,
    });
    this.cloudlet = cloudlet = new Cloudlet({
      cloudletId: config.cloudletId,
      evidence: this.evidence,
      uploads: this.uploads,
      nodes: config.nodes,
      store: this.store,
      supervisor: this.supervisor,
      ruleBook,
      now: this.now,
      log: this.log,
      events: {
        viChanged: (vi, from) => this.topics.viChanged(vi, from),
        alarm: (alarm) => this.topics.alarm(alarm),
        usage: (usage) => this.topics.usage(usage),
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
    if (config.router) {
      const ovs = new OvsRouter(config.router);
      this.router = new FrontRouter({
        driver: ovs,
        cloudletId: config.cloudletId,
        vni: config.router.vni,
        checkIntervalMs: config.router.checkIntervalMs,
        alarms: this.cloudlet.alarms,
        now: this.now,
        log: this.log,
        onSteeringChanged: (viIds) => viIds.forEach((id) => this.cloudlet.vis.onRouterSteeringChanged(id)),
      });
      if (config.router.links?.length) {
        this.linkLoad = new RouterLinkLoad({
          config: config.router,
          ovs,
          openflow: config.router.openflow ?? defaultOpenflowTarget(config.router),
          now: this.now,
          // A rate per report: each report carries what the router counted since the one before.
          intervalMs: config.scheduler.reportIntervalMs,
          log: this.log,
        });
      }
    }
    const tokens = new TokenStore(config.tokens.map((t) => ({ token: t.token, principal: { role: t.role, name: t.name } })));
    const handlers = controllerHandlers({
      cloudletId: config.cloudletId,
      cloudlet: this.cloudlet,
      store: this.store,
      host: this.host,
      now: this.now,
      schedulerConnected: () => this.link.connected,
      evidence: this.evidence,
      supervisor: this.supervisor,
      uploads: this.uploads,
      log: this.log,
    });
    this.server = new RpcServer({ dispatcher: createDispatcher(controllerApi, handlers, this.topics.handlers()), tokens, log: this.log });
    if (config.metrics) {
      this.metrics = new ControllerMetrics(config.cloudletId, {
        visByState: () => {
          const counts: Record<string, number> = {};
          for (const vi of this.store.vis()) counts[vi.state] = (counts[vi.state] ?? 0) + 1;
          return counts;
        },
        usages: () => this.supervisor.running().flatMap((id) => this.supervisor.usage(id) ?? []),
        rulesInstalled: () => this.store.rules().length,
        dataPlane: () => (this.dataPath ? { uplink: this.dataPath.plane.uplinkCounters(), ports: this.dataPath.portCounters() } : undefined),
      });
    }
  }

  private onSchedulerStatus(connected: boolean, detail: string): void {
    this.log(detail);
    clearTimeout(this.schedulerAlarmTimer);
    // A blip is not an alarm; a scheduler gone for a while is.
    if (!connected) {
      this.schedulerAlarmTimer = setTimeout(() => {
        if (!this.link.connected) this.cloudlet.alarms.raise({ kind: 'scheduler_unreachable', severity: 'warning', subject: this.config.scheduler.url, message: detail });
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
    if (this.config.sflow) {
      this.sflow = await SflowExporter.start({
        collectors: this.config.sflow.collectors,
        agentAddress: this.config.sflow.agentAddress,
        subAgentId: this.config.sflow.subAgentId,
        ...(this.config.sflow.counterIntervalMs ? { counterIntervalMs: this.config.sflow.counterIntervalMs } : {}),
        counters: () =>
          (this.dataPath?.portCounters() ?? []).map(({ viId, counters }) => ({
            viId,
            toVi: { packets: counters.to_vi.packets, bytes: counters.to_vi.bytes, drops: Object.values(counters.to_vi.drops).reduce((a, b) => a + b, 0) },
            fromVi: { packets: counters.from_vi.packets, bytes: counters.from_vi.bytes, drops: Object.values(counters.from_vi.drops).reduce((a, b) => a + b, 0) },
          })),
        log: this.log,
      });
    }
    // The data plane before recovery: adopted VIs get their ports back and the table its rules.
    if (this.config.dataPlane) {
      this.dataPath = new CloudletDataPath(this.config.dataPlane, {
        samples: (samples) => this.onSamples(samples),
        spoofing: (viId, packets) => this.onSpoofing(viId, packets),
        log: this.log,
      });
      this.cloudlet.attachDataPath(this.dataPath);
    }
    // The router follows the rule book from here on; recovery below drops the rules of VIs that are gone.
    if (this.router) this.cloudlet.attachRouter(this.router);
    const recovered = await this.cloudlet.clock.recover();
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
    if (this.router) {
      // A router that cannot be programmed is an alarm, not a reason to stop serving the cloudlet.
      await this.router.start();
      if (!this.router.ok) this.log(`the front-end router is not programmed; retrying every ${this.config.router?.checkIntervalMs} ms`);
    }
    this.linkLoad?.start();
    this.tickTimer = setInterval(() => void this.tick(), Math.min(1000, this.config.sandbox.usageIntervalMs));
    this.link.start();
    return { url: this.url, ...(this.metricsUrl ? { metricsUrl: this.metricsUrl } : {}) };
  }

  private onSamples(samples: readonly PacketSample[]): void {
    this.topics.samples(samples);
    this.sflow?.offer(samples);
    try {
      this.evidence.append(samples);
    } catch (e) {
      this.log(`evidence ring: ${(e as Error).message}`);
    }
  }

  /** A VI emitted what its rules do not allow: dropped by the data plane; kept as evidence and raised. */
  private onSpoofing(viId: string, packets: readonly PacketSample[]): void {
    this.onSamples(packets);
    const vi = this.store.vi(viId);
    this.cloudlet.alarms.raise({
      kind: 'spoofing',
      severity: 'critical',
      subject: viId,
      message: `VI ${viId}${vi ? ` (reservation ${vi.reservationId}, provider ${vi.providerId}, node ${vi.nodeId})` : ''} emitted ${packets.length} packet(s) its rules do not allow; dropped and kept in its evidence ring`,
    });
  }

  /** The uplink's UDP port, when this controller carries traffic. */
  get dataPlanePort(): number | undefined {
    return this.dataPath?.port;
  }

  private async tick(): Promise<void> {
    if (this.ticking) return;
    this.ticking = true;
    try {
      await this.cloudlet.clock.tick();
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
      for (const vi of this.cloudlet.vis.live()) await this.cloudlet.vis.teardown(vi, 'stopped', 'the controller shut down (onExit: stop)');
    }
    // Before the data plane closes: the router stops sending it traffic.
    await this.router?.stop();
    await this.linkLoad?.stop();
    this.dataPath?.close();
    this.sflow?.close();
    this.evidence.close();
    await this.supervisor.settle();
    if (this.supervisor.running().length === 0) removeBaseCgroups(this.host);
    this.supervisor.detach();
    this.store.close();
  }
}
