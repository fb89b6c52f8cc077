/**
 * The opt-in Prometheus endpoint (prom-client): VIs by state, per-VI CPU and
 * memory, reports sent, rules installed. Off unless the config has a
 * `metrics` section; it binds loopback only (the same rule as the RPC
 * listener, and there is no token on a scrape endpoint). Values are read from
 * the daemon at scrape time, so nothing here keeps its own copy of state.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { assertBindAllowed } from '../protocol/listen.ts';
import type { UplinkCounters, ViCounters } from '../../native/dataplane.ts';
import type { ViUsage } from '../protocol/controllerApi.ts';

export interface MetricsSource {
  visByState(): Record<string, number>;
  usages(): ViUsage[];
  rulesInstalled(): number;
  /** The data plane's counters, when this controller carries traffic. */
  dataPlane?(): { uplink: UplinkCounters; ports: { viId: string; counters: ViCounters }[] } | undefined;
}

/** The event-loop lag's sampling period: a scrape every few seconds needs no finer lag than this. */
const eventLoopSampleMs = 200;

export class ControllerMetrics {
  readonly registry = new Registry();
  readonly reportsSent: Counter;
  private server: Server | undefined;

  constructor(cloudletId: string, source: MetricsSource) {
    this.registry.setDefaultLabels({ cloudlet: cloudletId });
    // The event-loop lag histogram samples with a timer of this many ms. prom-client's default (10)
    // woke an idle controller's main thread 100 times a second, 4% of a core each: a fifth of a core
    // for the five controllers of the globalwan lab, on machines that run the lab on two.
    collectDefaultMetrics({ register: this.registry, prefix: 'pcloud_controller_process_', eventLoopMonitoringPrecision: eventLoopSampleMs });
    this.reportsSent = new Counter({ name: 'pcloud_controller_reports_sent_total', help: 'Reports the scheduler acknowledged', registers: [this.registry] });
    new Gauge({
      name: 'pcloud_controller_vis',
      help: 'VIs by state',
      labelNames: ['state'],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [state, n] of Object.entries(source.visByState())) this.set({ state }, n);
      },
    });
    new Gauge({
      name: 'pcloud_controller_vi_cpu_cores',
      help: 'CPU cores used by a running VI (last sample)',
      labelNames: ['vi'],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const u of source.usages()) this.set({ vi: u.viId }, u.cpuCores);
      },
    });
    new Gauge({
      name: 'pcloud_controller_vi_memory_bytes',
      help: 'Memory used by a running VI (last sample)',
      labelNames: ['vi'],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const u of source.usages()) this.set({ vi: u.viId }, u.memMiB * 1048576);
      },
    });
    new Gauge({
      name: 'pcloud_controller_rules',
      help: 'Demux rules installed (tenant rules)',
      registers: [this.registry],
      collect() {
        this.set(source.rulesInstalled());
      },
    });
    this.dataPlaneMetrics(source);
  }

  /**
   * The data plane's counters are totals kept by the native threads since the controller
   * started: exported as gauges of those totals (a counter here would need its own copy).
   */
  private dataPlaneMetrics(source: MetricsSource): void {
    const read = (): ReturnType<NonNullable<MetricsSource['dataPlane']>> => source.dataPlane?.();
    new Gauge({
      name: 'pcloud_dataplane_uplink_packets',
      help: 'Datagrams the uplink received (rx) and sent (tx), and how the received ones went (legacy, rule drop, malformed, socket drops)',
      labelNames: ['what'],
      registers: [this.registry],
      collect() {
        this.reset();
        const d = read();
        if (!d) return;
        const u = d.uplink;
        for (const [what, n] of Object.entries({ rx: u.rxPackets, tx: u.txPackets, legacy: u.legacy, rule_drop: u.ruleDrops, missed: u.missed, no_port: u.noPort, from_vi: u.fromVi, socket_drop: u.socketDrops, tx_error: u.txErrors })) this.set({ what }, n);
      },
    });
    new Gauge({
      name: 'pcloud_dataplane_malformed_packets',
      help: 'Datagrams the uplink refused, by reason',
      labelNames: ['reason'],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [reason, n] of Object.entries(read()?.uplink.malformed ?? {})) if (n > 0) this.set({ reason }, n);
      },
    });
    const perVi = (name: string, help: string, pick: (c: ViCounters['to_vi']) => number): void => {
      new Gauge({
        name,
        help,
        labelNames: ['vi', 'direction'],
        registers: [this.registry],
        collect() {
          this.reset();
          for (const { viId, counters } of read()?.ports ?? []) {
            this.set({ vi: viId, direction: 'to_vi' }, pick(counters.to_vi));
            this.set({ vi: viId, direction: 'from_vi' }, pick(counters.from_vi));
          }
        },
      });
    };
    perVi('pcloud_dataplane_vi_packets', 'Packets through a VI port, by direction', (c) => c.packets);
    perVi('pcloud_dataplane_vi_bytes', 'Bytes through a VI port, by direction', (c) => c.bytes);
    new Gauge({
      name: 'pcloud_dataplane_vi_drops',
      help: 'Packets a VI port dropped, by direction and reason (ring full, policed, spoofing...)',
      labelNames: ['vi', 'direction', 'reason'],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const { viId, counters } of read()?.ports ?? []) {
          for (const direction of ['to_vi', 'from_vi'] as const) {
            for (const [reason, n] of Object.entries(counters[direction].drops)) this.set({ vi: viId, direction, reason }, n);
          }
        }
      },
    });
  }

  async listen(host: string, port: number): Promise<AddressInfo> {
    assertBindAllowed(host, undefined, 'metrics endpoint');
    const server = createServer((req, res) => {
      if (req.url !== '/metrics') {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('metrics are at /metrics\n');
        return;
      }
      this.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': this.registry.contentType }).end(text),
        (e: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${(e as Error).message}\n`),
      );
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    return server.address() as AddressInfo;
  }

  async close(): Promise<void> {
    const server = this.server;
    if (server) await new Promise<void>((r) => server.close(() => r()));
  }
}
