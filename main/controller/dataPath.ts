/**
 * The controller's side of the data plane (DESIGN.md section 6): it owns the
 * native flow table and data plane, keeps the table equal to the rule book
 * (through the one translation in flowRules.ts), opens and closes each VI's
 * port, sets each VI's token buckets, and drains what the native threads
 * produce (samples, spoofing evidence, counters) on a timer. No JavaScript
 * runs per packet: this module only configures and reads in batches.
 *
 * Samples go to three consumers given by the daemon: the vi.samples topic,
 * the per-VI evidence rings and the sFlow exporter. Spoofed packets a VI
 * emitted become an alarm with the first offending packets as evidence.
 */
import { chmodSync, chownSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataPlane, type DirectionCounters, type EgressPolicy, type SpoofingAlarm, type UplinkCounters, type ViCounters } from '../../native/dataplane.ts';
import { FlowTable } from '../../native/demux.ts';
import type { TrafficDirection, ViUsage } from '../protocol/controllerApi.ts';
import type { ServiceSpec, TrafficReport } from '../protocol/domain.ts';
import { portOf } from '../services/catalog.ts';
import { ROUTER_MAC_ENV } from '../services/sdk/daemonService.ts';
import type { DataPlaneConfig } from './config.ts';
import { FlowTableLoader, ViNumbers } from './flowRules.ts';
import type { PacketSample } from './packetSample.ts';
import type { FlowTableTarget } from './ruleInstaller.ts';

export interface DataPathSinks {
  /** Samples, already named with the controller's VI and rule ids. */
  samples(samples: readonly PacketSample[]): void;
  /** Offending packets a VI emitted (dropped by the egress check). */
  spoofing(viId: string, packets: readonly PacketSample[]): void;
  log(line: string): void;
}

export interface PortRequest {
  viId: string;
  service: Pick<ServiceSpec, 'mode' | 'port' | 'args' | 'program'>;
}

interface OpenPort {
  number: number;
  kind: 'ring' | 'tap';
  socketPath: string | null;
}

type Traffic = NonNullable<ViUsage['traffic']>;

/** Addresses a visible service may send from: its `address` argument, comma separated. */
function egressOf(service: PortRequest['service']): EgressPolicy {
  if (service.mode === 'transparent') return { mode: 'transparent' };
  const addresses = (service.args.address ?? '').split(',').map((a) => a.trim()).filter(Boolean);
  return { mode: 'visible', addresses };
}

export class CloudletDataPath {
  readonly plane: DataPlane;
  private readonly table: FlowTable;
  private readonly vis = new ViNumbers();
  private readonly loader: FlowTableLoader;
  private readonly ports = new Map<string, OpenPort>();
  private readonly last = new Map<string, { at: number; counters: ViCounters; traffic: Traffic }>();
  /** Counters at the previous report to the scheduler (its own period, apart from usage sampling). */
  private reported: { at: number; vis: Map<string, ViCounters>; uplink: UplinkCounters } | null = null;
  private readonly sinks: DataPathSinks;
  private readonly config: DataPlaneConfig;
  private readonly timer: NodeJS.Timeout;
  /**
   * Where ring ports' sockets live: a directory of this controller's own (short paths, no clash
   * between controllers), searchable but not listable; each socket is 0600 and belongs to its VI's
   * user, so no VI can reach another's port.
   */
  private readonly socketDir: string;

  constructor(config: DataPlaneConfig, sinks: DataPathSinks) {
    this.config = config;
    this.sinks = sinks;
    this.socketDir = mkdtempSync(join(tmpdir(), 'pcloud-ports-'));
    chmodSync(this.socketDir, 0o711);
    this.table = new FlowTable({ vxlanPort: 0 });
    this.loader = new FlowTableLoader(this.table, this.vis);
    this.plane = new DataPlane({
      table: this.table,
      routers: config.routers,
      vnis: config.vnis,
      bind: config.bind,
      port: config.port,
      routerPort: config.routerPort,
      threads: config.threads,
      busyPoll: config.busyPoll,
      idleSpins: config.idleSpins,
      ...(config.netns ? { netns: config.netns } : {}),
    });
    this.timer = setInterval(() => this.drain(), config.drainIntervalMs);
    this.timer.unref();
  }

  /** The uplink's UDP port (the one the kernel chose when configured with port 0). */
  get port(): number {
    return this.plane.port;
  }

  /** Where the rule installer loads the rule book. */
  flowTable(): FlowTableTarget {
    return { load: (tenant, isp) => this.loader.load(tenant, isp) };
  }

  /**
   * The port a VI will get, and the environment that tells the VI where it is: a ring port's
   * socket, or a tap port's interface names (eth0, or in0 and out0 for a bump in the wire) and,
   * on a single tap, the router's MAC (attachToRouter in the SDK).
   */
  portPlan(req: PortRequest): { port: { kind: 'ring' | 'tap'; layout: 'single' | 'bump'; interfaces: string[] }; env: Record<string, string> } {
    const { layout, kind } = portOf(req.service);
    if (kind === 'tap') {
      const interfaces = layout === 'bump' ? ['in0', 'out0'] : ['eth0'];
      // A bump in the wire only passes frames on; a single tap VI sends frames of its own, to the router.
      const router: Record<string, string> = layout === 'single' ? { [ROUTER_MAC_ENV]: this.config.routerMac } : {};
      return { port: { kind: 'tap', layout, interfaces }, env: { PCLOUD_VI_TAPS: interfaces.join(','), ...router } };
    }
    return { port: { kind: 'ring', layout, interfaces: [] }, env: { PCLOUD_VI_RING: join(this.socketDir, `${req.viId}.sock`) } };
  }

  /**
   * Opens a VI's tap port inside the VI's own network namespace, which its launcher (`pid`)
   * makes after it starts: waits (up to `timeoutMs`) until that process is in a namespace other
   * than the controller's, then creates the devices there, up, IPv6 off (the VI may turn it on).
   * The data plane keeps their fds; the devices vanish when it closes them.
   */
  async openTapPort(req: PortRequest, pid: number, timeoutMs = 10_000): Promise<string[]> {
    const own = statSync('/proc/self/ns/net').ino;
    const netns = `/proc/${pid}/ns/net`;
    const until = Date.now() + timeoutMs;
    for (;;) {
      let ino: number;
      try {
        ino = statSync(netns).ino;
      } catch {
        throw new Error(`VI ${req.viId}: its launcher (pid ${pid}) ended before its network namespace could get the tap port`);
      }
      if (ino !== own) break;
      if (Date.now() > until) throw new Error(`VI ${req.viId}: its launcher (pid ${pid}) made no network namespace of its own within ${timeoutMs} ms, so there is nowhere to put its tap port`);
      await new Promise((r) => setTimeout(r, 10));
    }
    this.closePort(req.viId);
    const number = this.vis.number(req.viId);
    const { layout } = portOf(req.service);
    const names = this.plane.addTapPort(number, { layout, netns, egress: egressOf(req.service), ...(layout === 'single' ? { name: 'eth0' } : {}) });
    this.ports.set(req.viId, { number, kind: 'tap', socketPath: null });
    return names;
  }

  /** Opens a VI's ring port before the VI starts; returns the environment that tells the VI where it is. */
  openPort(req: PortRequest): Record<string, string> {
    if (portOf(req.service).kind === 'tap') throw new Error(`VI ${req.viId}: a tap port opens in the VI's namespace once the VI runs (openTapPort)`);
    this.closePort(req.viId);
    const number = this.vis.number(req.viId);
    const egress = egressOf(req.service);
    const kind = 'ring';
    const socketPath = join(this.socketDir, `${req.viId}.sock`);
    this.plane.addRingPort(number, { socketPath, slots: this.config.ringSlots, egress });
    chmodSync(socketPath, 0o600);
    this.ports.set(req.viId, { number, kind, socketPath });
    return { PCLOUD_VI_RING: socketPath };
  }

  /** Gives the VI's user its port's socket (its ring client retries until it may connect). */
  grant(viId: string, user: { uid: number; gid: number }): void {
    const port = this.ports.get(viId);
    if (port?.socketPath) chownSync(port.socketPath, user.uid, user.gid);
  }

  /** Closes a VI's port (its rules must be gone first, so its traffic is legacy, not "no port"). */
  closePort(viId: string): void {
    const port = this.ports.get(viId);
    if (!port) return;
    this.ports.delete(viId);
    this.last.delete(viId);
    this.plane.closePort(port.number);
  }

  hasPort(viId: string): boolean {
    return this.ports.has(viId);
  }

  /** The VI's token buckets: its reservation's network share and an operator's packet-rate cap. */
  setLimits(viId: string, limits: { netMbps: number; ppsCap: number | null }): void {
    const port = this.ports.get(viId);
    if (!port) return;
    this.plane.setLimits(port.number, { bitsPerSecond: Math.round(limits.netMbps * 1e6), packetsPerSecond: limits.ppsCap ?? 0 });
  }

  /** Quarantines the VI's port (its to_vi traffic goes legacy, what it emits is dropped), or releases it. */
  setQuarantined(viId: string, quarantined: boolean): void {
    const port = this.ports.get(viId);
    if (port) this.plane.setQuarantined(port.number, quarantined);
  }

  /** The traffic of the last sampleTraffic() call. */
  lastTraffic(viId: string): Traffic | undefined {
    return this.last.get(viId)?.traffic;
  }

  /** Counters of the VI's port with rates since the previous call (the usage period), or undefined without a port. */
  sampleTraffic(viId: string, now = Date.now()): Traffic | undefined {
    const port = this.ports.get(viId);
    const counters = port && this.plane.viCounters(port.number);
    if (!counters) return undefined;
    const before = this.last.get(viId);
    const seconds = before ? Math.max(1e-3, (now - before.at) / 1000) : 0;
    const direction = (d: 'to_vi' | 'from_vi'): TrafficDirection => {
      const c = counters[d];
      const b = before?.counters[d];
      return {
        packets: c.packets,
        bytes: c.bytes,
        pps: b && seconds ? Math.max(0, (c.packets - b.packets) / seconds) : 0,
        bps: b && seconds ? Math.max(0, ((c.bytes - b.bytes) * 8) / seconds) : 0,
        drops: { ...c.drops },
      };
    };
    const traffic = { to_vi: direction('to_vi'), from_vi: direction('from_vi') };
    this.last.set(viId, { at: now, counters, traffic });
    return traffic;
  }

  /**
   * The traffic for the next report to the scheduler: per VI port and for the uplink, rates since
   * the previous report, totals and drops by reason. `reservationOf` names each VI's reservation.
   */
  trafficReport(reservationOf: (viId: string) => string | undefined, now = Date.now()): TrafficReport {
    const before = this.reported;
    const seconds = before ? Math.max(1e-3, (now - before.at) / 1000) : 0;
    const per = (n: number, was: number | undefined): number => (seconds && was !== undefined ? Math.max(0, (n - was) / seconds) : 0);
    const direction = (c: DirectionCounters, was: DirectionCounters | undefined): TrafficReport['vis'][number]['in'] => ({
      pps: per(c.packets, was?.packets),
      bps: per(c.bytes * 8, was === undefined ? undefined : was.bytes * 8),
      packets: c.packets,
      bytes: c.bytes,
      drops: { ...c.drops },
    });
    const counters = new Map(this.portCounters().map((p) => [p.viId, p.counters]));
    const vis = [...counters].map(([viId, c]) => {
      const was = before?.vis.get(viId);
      return { viId, reservationId: reservationOf(viId) ?? '', in: direction(c.to_vi, was?.to_vi), out: direction(c.from_vi, was?.from_vi) };
    });
    const u = this.plane.uplinkCounters();
    const wasU = before?.uplink;
    this.reported = { at: now, vis: counters, uplink: u };
    return {
      periodSeconds: seconds,
      vis,
      uplink: {
        rxPps: per(u.rxPackets, wasU?.rxPackets),
        rxBps: per(u.rxBytes * 8, wasU === undefined ? undefined : wasU.rxBytes * 8),
        txPps: per(u.txPackets, wasU?.txPackets),
        txBps: per(u.txBytes * 8, wasU === undefined ? undefined : wasU.txBytes * 8),
        rxPackets: u.rxPackets,
        txPackets: u.txPackets,
        legacy: u.legacy,
        ruleDrops: u.ruleDrops,
        socketDrops: u.socketDrops,
        malformed: { ...u.malformed },
      },
    };
  }

  /** Every open port's counters, for the sFlow exporter and metrics. */
  portCounters(): { viId: string; counters: ViCounters }[] {
    return [...this.ports].flatMap(([viId, p]) => {
      const counters = this.plane.viCounters(p.number);
      return counters ? [{ viId, counters }] : [];
    });
  }

  private named(s: { viId: string; ruleId: string }): { viId: string; ruleId: string } {
    return { viId: this.vis.viOf(Number(s.viId)) ?? '', ruleId: this.loader.ruleIdOf(Number(s.ruleId)) };
  }

  /** Reads what the native threads queued since the last call. */
  drain(): void {
    try {
      for (let round = 0; round < 16; round++) {
        const batch = this.plane.drainSamples(512);
        if (batch.length === 0) break;
        const samples = batch.map((s) => ({ ...s, ...this.named(s) })).filter((s) => s.viId !== '');
        if (samples.length) this.sinks.samples(samples);
        if (batch.length < 512) break;
      }
      const alarms = this.plane.drainAlarms(256);
      const byVi = new Map<string, SpoofingAlarm[]>();
      for (const a of alarms) {
        const viId = this.vis.viOf(a.viId);
        if (!viId) continue;
        const list = byVi.get(viId);
        if (list) list.push(a);
        else byVi.set(viId, [a]);
      }
      for (const [viId, list] of byVi) {
        this.sinks.spoofing(
          viId,
          list.map((a) => ({ at: a.at, ns: a.ns, viId, ruleId: '', direction: 'from_vi', verdict: 'spoofing', vni: 0, wireLength: a.wireLength, samplingRate: 1, samplePool: 0, drops: 0, bytes: a.bytes })),
        );
      }
    } catch (e) {
      this.sinks.log(`data plane drain failed: ${(e as Error).message}`);
    }
  }

  close(): void {
    clearInterval(this.timer);
    this.drain();
    this.plane.close();
    rmSync(this.socketDir, { recursive: true, force: true });
  }
}
