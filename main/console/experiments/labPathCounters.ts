/**
 * Where packets went on the lab's path during one measurement, for the
 * experiments' reports: the delay line's drops per link direction, each
 * router's per-port packets and drops (Open vSwitch's interface
 * statistics), the HTB of one shaped access port, and the CPU the lab's
 * programs and the whole machine used. Cumulative readings (pathCounters),
 * their difference over a measurement (pathDelta), and a sentence of it
 * (describePath). Found necessary by ids-flood, whose results moved with
 * losses no single counter showed (see its header).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { readProcStat } from '../../controller/sandbox.ts';
import { readDelayLineStats } from '../labDelayLine.ts';
import type { LabSession } from '../labSession.ts';

/** Where a measurement's packets can be lost or slowed on the lab's path, counted over it (differences of counters). */
export interface PathCounters {
  /** Each delayed link's direction (from>to): frames the delay line forwarded and dropped (the link's random loss, tail drops past its byte bound, the kernel's drops before it read, refused sends). */
  links: Record<string, Record<DelayLineCount, number>>;
  /** Open vSwitch's drop counters (rx, tx, QoS) of each router port, as router:port. */
  routerDrops: Record<string, number>;
  /**
   * Packets each router port received and sent, as router:port>peer: what
   * a hop received against what the previous hop sent shows losses that no
   * drop counter sees: a userspace router's receive socket overflowing, or
   * its one AF_PACKET send socket (shared by all its ports) full while a
   * shaped port's HTB holds about 90 packets (its 208 KiB send buffer, seen
   * with `ss -0 -m`): Open vSwitch then drops what it cannot send, on every
   * port of that router, without a counter.
   */
  routerPackets: Record<string, { rx: number; tx: number }>;
  /** The HTB of the shaped access port: bytes and packets it sent towards the host, and dropped. */
  access: { sentBytes: number; sent: number; dropped: number };
  /** CPU seconds of the lab's programs by name (not counted: tcpreplay and iperf3, which exit or live outside the lab's folder). */
  cpuSeconds: Record<string, number>;
  /** The whole machine: CPU seconds busy out of those available (cores x wall time). */
  machine: { busySeconds: number; availableSeconds: number };
}
export type DelayLineCount = 'forwarded' | 'lossDrops' | 'queueDrops' | 'socketDrops' | 'sendErrors';
const delayLineCounts: DelayLineCount[] = ['forwarded', 'lossDrops', 'queueDrops', 'socketDrops', 'sendErrors'];

/** A router port shaped to an access link's capacity, towards a host. */
export interface AccessPort {
  routerId: string;
  dev: string;
  host: string;
}

/** The lab's programs: every process whose command line names the experiment's folder (OVS, the delay line, controllers, Suricata). */
function labProcesses(dir: string): { pid: string; name: string }[] {
  const found: { pid: string; name: string }[] = [];
  for (const pid of readdirSync('/proc').filter((e) => /^\d+$/.test(e))) {
    let argv: string[];
    try {
      argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    } catch {
      continue; // exited meanwhile
    }
    if (!argv.some((a) => a.includes(dir))) continue;
    const program = basename(argv[0] ?? '');
    // The controllers and the scheduler are node running pcctl: named by their subcommand.
    const script = argv.findIndex((a) => a.endsWith('.ts'));
    found.push({ pid, name: program === 'node' && script >= 0 ? `${basename(argv[script] as string)} ${argv[script + 1] ?? ''}`.trim() : program });
  }
  return found;
}

/** utime + stime of a process in seconds (0 once it has exited); the controller's parser of /proc/PID/stat. */
function cpuSecondsOf(pid: string): number {
  const stat = readProcStat(Number(pid));
  return stat ? (stat.utimeTicks + stat.stimeTicks) / clockTicksPerSecond : 0;
}

/** The kernel's clock tick (USER_HZ), 100 on Linux's every architecture that matters here. */
const clockTicksPerSecond = 100;

function machineCpu(): { busySeconds: number; availableSeconds: number } {
  const [, ...ticks] = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/);
  const n = ticks.slice(0, 8).map(Number);
  const total = n.reduce((s, v) => s + v, 0);
  // idle and iowait are the 4th and 5th.
  return { busySeconds: (total - (n[3] ?? 0) - (n[4] ?? 0)) / clockTicksPerSecond, availableSeconds: total / clockTicksPerSecond };
}

/** The counters of every place between B and A that can drop or delay (cumulative; see pathDelta). */
export async function pathCounters(lab: LabSession, access: AccessPort, dir: string): Promise<PathCounters> {
  const links: PathCounters['links'] = {};
  const stats = lab.plan.delayLine ? readDelayLineStats(lab.plan.delayLine) : undefined;
  for (const l of lab.plan.links) {
    const s = stats?.links.find((x) => x.a === l.delay?.wireA && x.b === l.delay?.wireB);
    if (!s) continue;
    links[`${l.a.pop}>${l.b.pop}`] = Object.fromEntries(delayLineCounts.map((k) => [k, s.aToB[k]])) as Record<DelayLineCount, number>;
    links[`${l.b.pop}>${l.a.pop}`] = Object.fromEntries(delayLineCounts.map((k) => [k, s.bToA[k]])) as Record<DelayLineCount, number>;
  }
  const routerDrops: Record<string, number> = {};
  const routerPackets: PathCounters['routerPackets'] = {};
  const peerOf = (routerId: string, dev: string): string => {
    const l = lab.plan.links.find((x) => (x.a.pop === routerId && x.a.dev === dev) || (x.b.pop === routerId && x.b.dev === dev));
    return l ? (l.a.pop === routerId ? l.b.pop : l.a.pop) : dev;
  };
  await Promise.all(lab.plan.routers.map(async (r) => {
    const listing = (await lab.exec(r.id, ['ovs-vsctl', `--db=unix:${join(r.runDir, 'db.sock')}`, '--format=csv', '--data=bare', '--no-headings', '--columns=name,statistics', 'list', 'interface'])).stdout;
    for (const line of listing.split('\n').filter(Boolean)) {
      const [name, statistics = ''] = line.split(',', 2);
      routerDrops[`${r.id}:${name}`] = [...statistics.matchAll(/\w*drop\w*=(\d+)/g)].reduce((s, m) => s + Number(m[1]), 0);
      const packets = (k: string): number => Number(new RegExp(`\\b${k}=(\\d+)`).exec(statistics)?.[1] ?? 0);
      routerPackets[`${r.id}:${name}>${peerOf(r.id, name ?? '')}`] = { rx: packets('rx_packets'), tx: packets('tx_packets') };
    }
  }));
  // The root HTB's own counters: "Sent <bytes> bytes <packets> pkt (dropped <n>, ...".
  const qdisc = (await lab.exec(access.routerId, ['tc', '-s', 'qdisc', 'show', 'dev', access.dev])).stdout;
  const root = /Sent (\d+) bytes (\d+) pkt \(dropped (\d+)/.exec(qdisc);
  if (!root) throw new Error(`no counters in the qdisc of ${access.routerId} port ${access.dev} (towards ${access.host}):\n${qdisc}`);
  const cpuSeconds: Record<string, number> = {};
  for (const p of labProcesses(dir)) cpuSeconds[p.name] = (cpuSeconds[p.name] ?? 0) + cpuSecondsOf(p.pid);
  return { links, routerDrops, routerPackets, access: { sentBytes: Number(root[1]), sent: Number(root[2]), dropped: Number(root[3]) }, cpuSeconds, machine: machineCpu() };
}

/** What happened between two readings; counters that did not move are left out, so the report shows where packets went. */
export function pathDelta(before: PathCounters, after: PathCounters): PathCounters {
  const links: PathCounters['links'] = {};
  for (const [k, v] of Object.entries(after.links)) {
    const d = Object.fromEntries(delayLineCounts.map((c) => [c, v[c] - (before.links[k]?.[c] ?? 0)])) as Record<DelayLineCount, number>;
    if (delayLineCounts.some((c) => d[c] > 0)) links[k] = d;
  }
  const moved = (a: Record<string, number>, b: Record<string, number>): Record<string, number> =>
    Object.fromEntries(Object.entries(a).map(([k, v]) => [k, v - (b[k] ?? 0)] as const).filter(([, v]) => v > 0.005));
  return {
    links,
    routerDrops: moved(after.routerDrops, before.routerDrops),
    routerPackets: Object.fromEntries(Object.entries(after.routerPackets).map(([k, v]) => [k, { rx: v.rx - (before.routerPackets[k]?.rx ?? 0), tx: v.tx - (before.routerPackets[k]?.tx ?? 0) }] as const).filter(([, v]) => v.rx + v.tx > 0)),
    access: { sentBytes: after.access.sentBytes - before.access.sentBytes, sent: after.access.sent - before.access.sent, dropped: after.access.dropped - before.access.dropped },
    cpuSeconds: moved(after.cpuSeconds, before.cpuSeconds),
    machine: { busySeconds: after.machine.busySeconds - before.machine.busySeconds, availableSeconds: after.machine.availableSeconds - before.machine.availableSeconds },
  };
}
/** Each router-to-router hop: packets the one router sent on the link and the other received (their difference was lost between). */
function routerHops(p: PathCounters): { from: string; to: string; sent: number; received: number }[] {
  const ports = Object.entries(p.routerPackets).map(([k, v]) => ({ router: k.slice(0, k.indexOf(':')), peer: k.slice(k.indexOf('>') + 1), ...v }));
  return ports.flatMap((out) => {
    const into = ports.find((x) => x.router === out.peer && x.peer === out.router);
    return into ? [{ from: out.router, to: out.peer, sent: out.tx, received: into.rx }] : [];
  });
}

/** The path's counters in a sentence: the shaped port's drops, the delay line's and routers' losses, the CPU. */
export function describePath(p: PathCounters, seconds: number): string {
  const wall = Math.max(1, Math.round(seconds));
  const drops = (k: DelayLineCount): string => Object.entries(p.links).filter(([, v]) => v[k] > 0).map(([l, v]) => `${l} ${v[k]}`).join(', ') || 'none';
  const hops = routerHops(p).filter((h) => h.sent > 0).map((h) => `${h.from}>${h.to} ${h.sent} sent, ${h.sent - h.received} lost`).join(', ');
  const router = Object.entries(p.routerDrops).map(([port, n]) => `${port} ${n}`).join(', ') || 'none';
  const cpu = Object.entries(p.cpuSeconds).sort(([, x], [, y]) => y - x).slice(0, 5).map(([name, sec]) => `${name} ${sec.toFixed(1)}`).join(', ');
  return `the shaped port's HTB dropped ${Math.round(p.access.dropped / wall)} packets/s; `
    + `delay line tail drops ${drops('queueDrops')}, kernel drops before it read ${drops('socketDrops')}, random loss ${drops('lossDrops')}; OVS port drops ${router}; between routers ${hops || 'nothing'}; `
    + `CPU s over ${wall} s: ${cpu}; machine ${(100 * p.machine.busySeconds / Math.max(1e-9, p.machine.availableSeconds)).toFixed(0)}% busy.`;
}
