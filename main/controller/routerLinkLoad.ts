/**
 * Link loads from the front-end router's ports: the ports the config names
 * as links of the topology (router.links) are read every period with
 * `ovs-ofctl dump-ports` (the datapath's own counters, current; the database's
 * statistics column lags by its update interval), and the bytes they sent and
 * received since the previous read become bit rates each way. The latest
 * rates go into every report to the scheduler, which shows them per link in
 * topology.get; a port that cannot be read, or whose counters went backwards
 * (the port was re-created), gives no load until two good reads follow, never
 * a made-up zero.
 *
 * Who calls: the controller daemon, when its router config names link ports.
 */
import type { LinkLoad } from '../protocol/domain.ts';
import type { RouterConfig } from './config.ts';
import type { OvsRouter } from './ovsRouter.ts';

export interface PortBytes {
  rx: number;
  tx: number;
}

/**
 * Byte counters per OpenFlow port number from `ovs-ofctl --no-names dump-ports`:
 *   port  2: rx pkts=5, bytes=390, drop=0, errs=0, frame=0, over=0, crc=0
 *            tx pkts=7, bytes=546, drop=0, errs=0, coll=0
 * A counter the datapath does not keep is printed "?" and the port is left out.
 */
export function parseDumpPorts(text: string): Map<number, PortBytes> {
  const ports = new Map<number, PortBytes>();
  let current: { port: number; rx: number | null } | undefined;
  for (const line of text.split('\n')) {
    const rx = /^\s*port\s+(\d+):\s+rx pkts=\S+,\s*bytes=(\d+|\?)/.exec(line);
    if (rx) {
      current = { port: Number(rx[1]), rx: rx[2] === '?' ? null : Number(rx[2]) };
      continue;
    }
    if (/^\s*port\s+\S+:/.test(line)) {
      current = undefined;
      continue;
    }
    const tx = /^\s*tx pkts=\S+,\s*bytes=(\d+|\?)/.exec(line);
    if (tx && current) {
      if (current.rx !== null && tx[1] !== '?') ports.set(current.port, { rx: current.rx, tx: Number(tx[1]) });
      current = undefined;
    }
  }
  return ports;
}

export interface PortRead {
  at: number;
  bytes: PortBytes;
}

/** A link's load from two reads of its port at this router (`from`): what the port sent went from → to. */
export function loadBetween(link: LinkPort, before: PortRead, after: PortRead): LinkLoad | undefined {
  const seconds = (after.at - before.at) / 1000;
  if (seconds <= 0 || after.bytes.tx < before.bytes.tx || after.bytes.rx < before.bytes.rx) return undefined;
  return {
    a: link.from,
    b: link.to,
    abBps: ((after.bytes.tx - before.bytes.tx) * 8) / seconds,
    baBps: ((after.bytes.rx - before.bytes.rx) * 8) / seconds,
    periodSeconds: seconds,
    at: after.at,
    measuredAt: link.from,
  };
}

type OvsTools = Pick<OvsRouter, 'vsctl' | 'ofctl' | 'name'>;
type LinkPort = NonNullable<RouterConfig['links']>[number];

export class RouterLinkLoad {
  private readonly links: readonly LinkPort[];
  private readonly ovs: OvsTools;
  private readonly openflow: string;
  private readonly now: () => number;
  private readonly intervalMs: number;
  private readonly log: (line: string) => void;
  private readonly previous = new Map<string, PortRead>();
  private latest: LinkLoad[] = [];
  private timer: NodeJS.Timeout | undefined;
  private reading: Promise<void> | undefined;
  private lastProblem = '';

  constructor(options: { config: RouterConfig; ovs: OvsTools; openflow: string; now: () => number; intervalMs: number; log: (line: string) => void }) {
    this.links = options.config.links ?? [];
    this.ovs = options.ovs;
    this.openflow = options.openflow;
    this.now = options.now;
    this.intervalMs = options.intervalMs;
    this.log = options.log;
  }

  /** The loads of the last period (one per link port read twice in a row). */
  loads(): LinkLoad[] {
    return this.latest;
  }

  start(): void {
    if (this.timer || this.links.length === 0) return;
    void this.read();
    this.timer = setInterval(() => void this.read(), this.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.reading;
  }

  /** One read of every link port (a read still running is not overlapped). */
  read(): Promise<void> {
    this.reading ??= this.readPorts().finally(() => (this.reading = undefined));
    return this.reading;
  }

  private async readPorts(): Promise<void> {
    const links = this.links;
    try {
      // Port numbers are looked up each time: a port re-created by its owner may get another.
      const numbers = (await this.ovs.vsctl(links.flatMap((l, i) => [...(i ? ['--'] : []), 'get', 'Interface', l.port, 'ofport']))).trim().split('\n').map(Number);
      const counters = parseDumpPorts(await this.ovs.ofctl(['dump-ports', this.openflow]));
      const at = this.now();
      const loads: LinkLoad[] = [];
      links.forEach((link, i) => {
        const bytes = counters.get(numbers[i] as number);
        const before = this.previous.get(link.port);
        if (!bytes) {
          this.previous.delete(link.port);
          return;
        }
        const read = { at, bytes };
        const load = before ? loadBetween(link, before, read) : undefined;
        if (load) loads.push(load);
        this.previous.set(link.port, read);
      });
      this.latest = loads;
      this.lastProblem = '';
    } catch (e) {
      this.latest = [];
      this.previous.clear();
      // Said once per new problem: a router that stays away must not fill the log every period.
      const problem = (e as Error).message;
      if (problem !== this.lastProblem) this.log(`link loads of ${this.ovs.name} not read: ${problem}`);
      this.lastProblem = problem;
    }
  }
}
