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
import type { ViUsage } from '../protocol/controllerApi.ts';

export interface MetricsSource {
  visByState(): Record<string, number>;
  usages(): ViUsage[];
  rulesInstalled(): number;
}

export class ControllerMetrics {
  readonly registry = new Registry();
  readonly reportsSent: Counter;
  private server: Server | undefined;

  constructor(cloudletId: string, source: MetricsSource) {
    this.registry.setDefaultLabels({ cloudlet: cloudletId });
    collectDefaultMetrics({ register: this.registry, prefix: 'pcloud_controller_process_' });
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
