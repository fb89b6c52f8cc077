/**
 * Named background traffic in the lab (`pcctl lab traffic <profile>`), so the
 * inspector always has something to show: web browsing from the first host to
 * a content server on the last, a bulk transfer between them, a ping flood
 * from the first host (the attacker) at the last, or a capture replayed.
 *
 * With the lab's network (namespaces mode) the real tools run in the hosts
 * (node's HTTP server and curl, iperf3, ping, tcpreplay); without it the
 * userspace traffic source sends the same kinds of packets as VXLAN to the
 * controllers. Either way a runner process does it: `pcctl lab traffic`
 * starts it detached, leading a process group of its own so that `pcctl lab
 * traffic stop` (or the lab going down) ends it with every tool it started,
 * and records it in the lab's state before returning. Every run is bounded in
 * time (at most an hour) and rate.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { findTool, namespaceOf, readLabPlan, type LabNetworkPlan } from './labNetwork.ts';
import type { LabState } from './labSupervisor.ts';
import { readPcapFrames, runTrafficSource, synthesizedFrame, type SourceRun, type SourceTarget } from './labTrafficSource.ts';

/**
 * tcpreplay's command line for a capture replayed on a lab host's eth0 at
 * `pps`, looping until `limit` packets or `durationS` seconds. The timer is
 * nanosleep: tcpreplay's default (gtod) waits for each packet's time by
 * spinning on the clock, so a replay at 500 packets/s took a whole core (4.02
 * s of CPU in 4 s, measured here), and on the lab's two cores two replays
 * starved the routers, data planes and VIs they were sent through. With
 * nanosleep the same replay sent its 2,001 packets in 4 s for 0.08 s of CPU.
 */
export function pacedReplay(pps: number, captures: readonly string[], bound: { limit?: number; durationS?: number } = {}): string[] {
  return [
    'tcpreplay', '--quiet', '--timer=nano', '--intf1=eth0', `--pps=${pps}`, '--loop=0',
    ...(bound.limit ? [`--limit=${bound.limit}`] : []),
    ...(bound.durationS ? [`--duration=${bound.durationS}`] : []),
    ...captures,
  ];
}

export const trafficProfiles = ['web', 'bulk', 'flood', 'replay'] as const;
export type TrafficProfile = (typeof trafficProfiles)[number];

export const TrafficRunSchema = z.strictObject({
  profile: z.enum(trafficProfiles),
  durationS: z.number().int().min(1).max(3600).default(300),
  /** Packets per second of the flood, the replay and the userspace source. */
  pps: z.number().int().min(1).max(20_000).default(500),
  /** The bulk transfer's rate. */
  mbps: z.number().int().min(1).max(1000).default(100),
  /** Classic pcap capture(s) to replay (Ethernet link type). */
  pcap: z.array(z.string()).default([]),
}).superRefine((r, ctx) => {
  if (r.profile === 'replay' && r.pcap.length === 0) ctx.addIssue({ code: 'custom', path: ['pcap'], message: 'replay needs --pcap FILE (a classic pcap capture)' });
  r.pcap.forEach((f, i) => {
    if (!existsSync(f)) ctx.addIssue({ code: 'custom', path: ['pcap', i], message: `no capture ${f}` });
  });
});
export type TrafficRun = z.output<typeof TrafficRunSchema>;

function labEnds(plan: LabNetworkPlan): { client: LabNetworkPlan['hosts'][number]; server: LabNetworkPlan['hosts'][number] } {
  const client = plan.hosts[0];
  const server = plan.hosts[plan.hosts.length - 1];
  if (!client || !server || client === server) throw new Error('traffic needs two hosts in the topology (a client and a server); this one has ' + plan.hosts.length);
  return { client, server };
}

/** The controllers' uplinks as the userspace source sends to them (from their configs). */
function sourceTargets(state: LabState, plan: LabNetworkPlan): SourceTarget[] {
  return plan.uplinks.map((u) => {
    const file = join(state.dir, `controller-${u.cloudletId}.json`);
    const config = JSON.parse(readFileSync(file, 'utf8')) as { dataPlane?: { port?: number } };
    if (!config.dataPlane?.port) throw new Error(`${file} has no data-plane port for the traffic source to send to`);
    return { cloudletId: u.cloudletId, port: config.dataPlane.port, vni: u.vni };
  });
}

/** Runs `profile` until its time is up or `stop` aborts; what it did, for the runner's log. */
export async function runTraffic(state: LabState, run: TrafficRun, stop: AbortSignal): Promise<string> {
  const plan = readLabPlan(state.dir);
  if (!plan) throw new Error(`the ${state.topology} lab has no recorded plan (start it again with pcctl lab up)`);
  if (state.mode.kind === 'userspace') {
    if (state.sourcePort === undefined) throw new Error('the lab recorded no port for its userspace traffic source');
    let next: (n: number) => Buffer;
    if (run.profile === 'replay') {
      if (run.pcap.length === 0) throw new Error('replay needs --pcap FILE (a classic pcap capture)');
      const frames = run.pcap.flatMap(readPcapFrames);
      next = (n) => frames[n % frames.length] as Buffer;
    } else {
      const { client, server } = labEnds(plan);
      const profile = run.profile;
      next = (n) => synthesizedFrame(profile, { client: { address: client.address, mac: client.mac }, server: { address: server.address, mac: server.mac } }, n);
    }
    const result: SourceRun = await runTrafficSource({ sourcePort: state.sourcePort, targets: sourceTargets(state, plan), next, pps: run.pps, durationMs: run.durationS * 1000, stop });
    return `userspace source: sent ${result.sent} VXLAN datagrams, ${result.received} came back`;
  }
  return runInNamespaces(plan, run, stop);
}

/** The program and arguments that run `argv` inside namespace `ns` (the tool found in sbin too). */
export function inNamespaceArgv(ns: string, argv: readonly string[]): [string, string[]] {
  const [cmd, ...rest] = argv;
  if (!cmd) throw new Error(`nothing to run in ${ns}: the command is empty`);
  return [findTool('ip') ?? 'ip', ['netns', 'exec', ns, findTool(cmd) ?? cmd, ...rest]];
}

function inHost(ns: string, args: string[]): ChildProcess {
  const [file, argv] = inNamespaceArgv(ns, args);
  return spawn(file, argv, { stdio: ['ignore', 'inherit', 'inherit'] });
}

const ended = (p: ChildProcess): Promise<number | null> => new Promise((resolve) => (p.exitCode !== null ? resolve(p.exitCode) : p.once('exit', (code) => resolve(code))));

async function runInNamespaces(plan: LabNetworkPlan, run: TrafficRun, stop: AbortSignal): Promise<string> {
  const { client, server } = labEnds(plan);
  const seconds = String(run.durationS);
  const children: ChildProcess[] = [];
  const start = (ns: string, args: string[]): ChildProcess => {
    const p = inHost(ns, args);
    children.push(p);
    return p;
  };
  const onStop = (): void => children.forEach((p) => p.kill('SIGTERM'));
  stop.addEventListener('abort', onStop);
  try {
    if (run.profile === 'bulk') {
      start(server.ns, ['iperf3', '--server', '--one-off', '--bind', server.address]);
      await new Promise((r) => setTimeout(r, 500));
      const code = await ended(start(client.ns, ['iperf3', '--client', server.id, '--time', seconds, '--bitrate', `${run.mbps}M`, '--connect-timeout', '5000']));
      return `bulk: iperf3 from ${client.id} to ${server.id} exited with ${code}`;
    }
    if (run.profile === 'flood') {
      const interval = Math.max(0.001, 1 / run.pps).toFixed(3);
      const code = await ended(start(client.ns, ['ping', '-q', '-i', interval, '-w', seconds, server.id]));
      return `flood: ping from ${client.id} to ${server.id} exited with ${code}`;
    }
    if (run.profile === 'replay') {
      if (run.pcap.length === 0) throw new Error('replay needs --pcap FILE (a classic pcap capture)');
      const code = await ended(start(client.ns, ['timeout', seconds, ...pacedReplay(run.pps, run.pcap)]));
      return `replay: tcpreplay in ${client.id} exited with ${code}`;
    }
    // web: a content server of 64 KiB pages on the last host, fetched from the first every 200 ms.
    const serverScript = `require('node:http').createServer((q, s) => s.end(Buffer.alloc(65536, 120))).listen(80, '${server.address}'); setTimeout(() => process.exit(0), ${run.durationS * 1000 + 2000});`;
    const web = start(server.ns, [process.execPath, '-e', serverScript]);
    const until = Date.now() + run.durationS * 1000;
    let fetched = 0;
    await new Promise((r) => setTimeout(r, 500));
    while (Date.now() < until && !stop.aborted && web.exitCode === null) {
      if ((await ended(start(client.ns, ['curl', '--silent', '--output', '/dev/null', '--max-time', '5', `http://${server.id}/page${fetched % 50}`]))) === 0) fetched++;
      children.splice(0, children.length, web);
      await new Promise((r) => setTimeout(r, 200));
    }
    return `web: ${client.id} fetched ${fetched} pages from ${server.id}`;
  } finally {
    stop.removeEventListener('abort', onStop);
    onStop();
  }
}

/** The namespace of a lab host (or router, or cloudlet uplink) for `pcctl lab exec`, with a clear refusal. */
export function execNamespace(state: LabState, target: string): string {
  if (state.mode.kind !== 'namespaces') throw new Error(`the ${state.topology} lab runs the userspace traffic source (${state.mode.reason}): it has no hosts to run commands in`);
  const plan = readLabPlan(state.dir);
  const ns = plan ? namespaceOf(plan, target) : undefined;
  if (!plan || !ns) {
    const known = plan ? [...plan.hosts.map((h) => h.id), ...plan.routers.map((r) => r.id), ...plan.uplinks.map((u) => u.cloudletId)] : [];
    throw new Error(`no host "${target}" in the ${state.topology} lab (known: ${known.join(', ') || 'none'})`);
  }
  return ns;
}
