/**
 * `pcctl lab up | down | status | exec | traffic`: the embedded lab from a
 * shell. `up` starts the scheduler and controllers detached (they outlive
 * pcctl; logs beside their configs) and, as root with Open vSwitch, builds
 * the topology's network (main/console/labNetwork.ts); `down` stops exactly
 * the processes `up` recorded (pid and start time must both match, so a
 * reused pid is never signalled) and removes the network it recorded;
 * `status` says what runs, in which mode, each link's delay and what the delay
 * line counted, and what the scheduler sees;
 * `exec` runs a bounded command in a lab host; `traffic` starts or stops a
 * background traffic runner (main/console/labTraffic.ts).
 */
import { spawn } from 'node:child_process';
import { openSync, readdirSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { RpcClient } from '../protocol/client.ts';
import { schedulerApi } from '../protocol/schedulerApi.ts';
import { defaultDataDir } from '../console/dataDir.ts';
import { LabSupervisor, labDir, processStartTime, readLabState, recordedLabs, stopTraffic, type LabState } from '../console/labSupervisor.ts';
import { labLinkDelays, readLabNetwork, removeLabNetwork } from '../console/labNetwork.ts';
import { defaultLabTopology } from '../console/labTopology.ts';
import { writeJsonFile } from '../console/jsonFile.ts';
import { childProcessLauncher, pcctlEntry } from '../console/processLauncher.ts';
import { execNamespace, runTraffic, trafficProfiles, TrafficRunSchema } from '../console/labTraffic.ts';
import { findTool } from '../console/labNetwork.ts';
import { describeIssues } from '../protocol/dispatcher.ts';
import { labControllerConfig } from '../console/labControllerConfig.ts';
import { UsageError, type Command } from './command.ts';
import { basename, join } from 'node:path';

const usage = `usage: pcctl lab up [--topology NAME] [--mode auto|namespaces|userspace] [--json]
       pcctl lab down|status [--topology NAME] [--json]
       pcctl lab exec HOST [--topology NAME] [--timeout SECONDS] -- COMMAND [ARGS...]
       pcctl lab traffic web|bulk|flood|replay [--topology NAME] [--duration SECONDS]
                         [--pps N] [--mbps N] [--pcap FILE]...
       pcctl lab traffic stop [--topology NAME]

The embedded lab: a scheduler and one controller per cloudlet of a topology in
resources/labs (default ${defaultLabTopology}). Data and logs live in
$PCLOUD_DATA_DIR/lab/NAME (default: the console's data folder).
As root on Linux with Open vSwitch, up also builds the topology's network
(mode "namespaces"): a network namespace per host, router and cloudlet uplink,
an Open vSwitch bridge per router, addresses from 198.18.0.0/15. Otherwise
(mode "userspace") a traffic source sends VXLAN to the controllers on loopback.
Without --topology, status and down act on every lab that is up.
exec runs a command in a host (or router, or cloudlet uplink) of a namespaces
lab, where the topology's host names resolve (pcctl lab exec A -- ping -c 3 B);
it is ended after --timeout seconds (default 60, at most 3600; exit 124).
traffic starts named background traffic, bounded by --duration (default 300 s,
at most 3600): web browsing from the first host to a content server on the
last, a bulk transfer (--mbps, default 100), a ping flood from the first host
(--pps, default 500), or a capture replayed (--pcap, classic pcap).
`;

function options(args: string[]) {
  const { values } = parseArgs({
    args,
    options: {
      topology: { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
      mode: { type: 'string' },
      timeout: { type: 'string' },
      duration: { type: 'string' },
      pps: { type: 'string' },
      mbps: { type: 'string' },
      pcap: { type: 'string', multiple: true },
    },
    strict: true,
  });
  return values;
}

/** Every lab folder in the data folder, up or not (--topology narrows it to one). */
function labDirs(dataDir: string, topology?: string): string[] {
  if (topology) return [labDir(dataDir, topology)];
  try {
    return readdirSync(join(dataDir, 'lab')).map((name) => labDir(dataDir, name));
  } catch {
    return [];
  }
}

/** The one lab an action acts on: the named one, or the only one up. */
function oneLab(dataDir: string, topology: string | undefined): LabState {
  if (topology) {
    const state = readLabState(dataDir, topology);
    if (!state) throw new UsageError(`the ${topology} lab is not up (pcctl lab up --topology ${topology})`);
    return state;
  }
  const labs = recordedLabs(dataDir);
  if (labs.length === 1) return labs[0] as LabState;
  throw new UsageError(labs.length === 0 ? 'no lab is up (pcctl lab up)' : `${labs.length} labs are up (${labs.map((l) => l.topology).join(', ')}): say which with --topology`);
}

function seconds(value: string | undefined, flag: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 3600) throw new UsageError(`${flag} is a whole number of seconds from 1 to 3600, not "${value}"`);
  return n;
}

/** Runs COMMAND in a lab host's namespace with the terminal attached; ended after the timeout. */
async function execInLab(dataDir: string, args: string[]): Promise<number> {
  const dashes = args.indexOf('--');
  if (dashes < 0 || dashes === args.length - 1) throw new UsageError('say what to run after "--", e.g. pcctl lab exec A -- ping -c 3 B');
  const [target, ...flags] = args.slice(0, dashes);
  if (!target || target.startsWith('-')) throw new UsageError('name the host first, e.g. pcctl lab exec A -- ping -c 3 B');
  const values = options(flags);
  const timeoutS = seconds(values.timeout, '--timeout', 60);
  const state = oneLab(dataDir, values.topology);
  let ns: string;
  try {
    ns = execNamespace(state, target);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const command = args.slice(dashes + 1);
  const child = spawn(findTool('ip') ?? 'ip', ['netns', 'exec', ns, ...command], { stdio: 'inherit' });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, timeoutS * 1000);
  const code = await new Promise<number>((resolve) => {
    child.once('error', (e) => {
      process.stderr.write(`pcctl lab exec: ${e.message}\n`);
      resolve(127);
    });
    child.once('exit', (c, signal) => resolve(c ?? (signal ? 128 : 1)));
  });
  clearTimeout(timer);
  if (timedOut) {
    process.stderr.write(`pcctl lab exec: ${command.join(' ')} ran past ${timeoutS} s in ${target} and was ended\n`);
    return 124;
  }
  return code;
}

/** Starts a detached traffic runner (its own process group) and records it in the lab's state first thing. */
function startTrafficRunner(dataDir: string, state: LabState, args: string[]): string {
  const entry = pcctlEntry();
  const log = join(state.dir, 'traffic.log');
  const logFd = openSync(log, 'a', 0o600);
  const child = spawn(process.execPath, [...entry.execArgv, entry.file, 'lab', 'traffic-run', ...args, '--topology', state.topology], {
    detached: true,
    stdio: ['ignore', logFd, logFd],
    env: process.env,
  });
  if (child.pid === undefined) throw new Error('could not start the traffic runner');
  child.unref();
  const current = readLabState(dataDir, state.topology) ?? state;
  const traffic = current.traffic.filter((t) => processStartTime(t.pid) !== null);
  traffic.push({ profile: args[0] as string, pid: child.pid, startTime: processStartTime(child.pid), until: Date.now() + seconds(options(args.slice(1)).duration, '--duration', 300) * 1000 });
  writeJsonFile(join(state.dir, 'lab-state.json'), { ...current, traffic }, 0o600);
  return log;
}

async function trafficAction(dataDir: string, args: string[]): Promise<number> {
  const [profile, ...flags] = args;
  const values = options(flags);
  const state = oneLab(dataDir, values.topology);
  if (profile === 'stop') {
    const stopped = stopTraffic(state);
    writeJsonFile(join(state.dir, 'lab-state.json'), { ...(readLabState(dataDir, state.topology) ?? state), traffic: [] }, 0o600);
    process.stdout.write(stopped.length ? `stopped traffic ${stopped.join(', ')}\n` : 'no traffic was running\n');
    return 0;
  }
  const run = trafficRun(profile, values);
  const runnerArgs = [run.profile, '--duration', String(run.durationS), '--pps', String(run.pps), '--mbps', String(run.mbps), ...run.pcap.flatMap((f) => ['--pcap', f])];
  const log = startTrafficRunner(dataDir, state, runnerArgs);
  process.stdout.write(`${run.profile} traffic in the ${state.topology} lab (${state.mode.kind} mode) for ${run.durationS} s; log ${log}; pcctl lab traffic stop ends it\n`);
  return 0;
}

function trafficRun(profile: string | undefined, values: ReturnType<typeof options>) {
  const parsed = TrafficRunSchema.safeParse({
    profile,
    durationS: values.duration === undefined ? undefined : Number(values.duration),
    pps: values.pps === undefined ? undefined : Number(values.pps),
    mbps: values.mbps === undefined ? undefined : Number(values.mbps),
    pcap: values.pcap ?? [],
  });
  if (!parsed.success) throw new UsageError(`lab traffic refused: ${describeIssues(parsed.error, 'traffic')} (profiles: ${trafficProfiles.join(', ')}, or stop)`);
  return parsed.data;
}

/** The runner itself (started by \`lab traffic\`): runs until its time is up or it is signalled. */
async function trafficRunner(dataDir: string, args: string[]): Promise<number> {
  const [profile, ...flags] = args;
  const values = options(flags);
  const state = oneLab(dataDir, values.topology);
  const run = trafficRun(profile, values);
  const stop = new AbortController();
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => stop.abort());
  process.stdout.write(`${new Date().toISOString()} ${run.profile} starts (${state.mode.kind} mode, ${run.durationS} s)\n`);
  const summary = await runTraffic(state, run, stop.signal);
  process.stdout.write(`${new Date().toISOString()} ${summary}\n`);
  return 0;
}

/** A recorded process that is still the one we started. */
function isOurs(p: LabState['processes'][number]): boolean {
  const now = processStartTime(p.pid);
  if (now === null) return false;
  // Where /proc is missing (macOS) the start time was not recorded either: trust the pid.
  return p.startTime === null || now === p.startTime;
}

async function schedulerView(state: LabState): Promise<{ cloudlets: { id: string; connected: boolean; status: string }[] } | string> {
  const client = new RpcClient(schedulerApi, { url: state.schedulerUrl, token: state.tokens.viewer, timeoutMs: 5000, client: 'pcctl' });
  try {
    await client.connect();
    const topology = await client.call('topology.get', {});
    return { cloudlets: topology.cloudlets.map((c) => ({ id: c.id, connected: c.connected, status: c.status })) };
  } catch (e) {
    return `scheduler not answering: ${(e as Error).message}`;
  } finally {
    client.close();
  }
}

async function stopLab(state: LabState): Promise<string[]> {
  const ours = state.processes.filter(isOurs);
  for (const p of [...ours].reverse()) process.kill(p.pid, 'SIGTERM');
  const deadline = Date.now() + 8000;
  while (Date.now() < deadline && ours.some(isOurs)) await new Promise((r) => setTimeout(r, 100));
  for (const p of ours.filter(isOurs)) process.kill(p.pid, 'SIGKILL');
  return ours.map((p) => `${p.name} (pid ${p.pid})`);
}

function controllerLines(state: LabState): string {
  return state.processes
    .filter((p) => p.url)
    .map((p) => `  ${p.name.padEnd(16)} ${p.url}`)
    .join('\n');
}

function envLines(state: LabState): string {
  return [
    `export PCLOUD_SCHEDULER_URL=${state.schedulerUrl}`,
    `export PCLOUD_TOKEN=${state.tokens.operator}            # operator`,
    `export PCLOUD_PROVIDER_TOKEN=${state.tokens.provider}   # provider "demo": pcctl reserve --token "$PCLOUD_PROVIDER_TOKEN" ...`,
  ].join('\n');
}

export const labCommands: Record<string, Command> = {
  lab: {
    summary: 'start, stop or inspect the embedded lab (up | down | status)',
    async run(args) {
      const [action, ...rest] = args;
      const dataDir = defaultDataDir();
      // These take positional words (a host and a command, a profile): parsed by their own.
      if (action === 'exec') return execInLab(dataDir, rest);
      if (action === 'traffic') return trafficAction(dataDir, rest);
      if (action === 'traffic-run') return trafficRunner(dataDir, rest);
      const values = options(rest);
      if (values.help || !action || action === '--help') {
        process.stdout.write(usage);
        return action ? 0 : 2;
      }
      if (action === 'up') {
        const topology = values.topology ?? defaultLabTopology;
        const existing = readLabState(dataDir, topology);
        if (existing && existing.processes.some(isOurs)) {
          process.stdout.write(`the ${topology} lab is already up (scheduler ${existing.schedulerUrl})\n${controllerLines(existing)}\n${envLines(existing)}\n`);
          return 0;
        }
        const mode = values.mode ?? 'auto';
        if (mode !== 'auto' && mode !== 'namespaces' && mode !== 'userspace') throw new UsageError(`--mode is auto, namespaces or userspace, not "${mode}"`);
        const supervisor = new LabSupervisor({ dataDir, launcher: childProcessLauncher, detached: true, writeControllerConfig: labControllerConfig, mode });
        const lab = await supervisor.start(topology, (done, total, what) => process.stderr.write(`[${done}/${total}] ${what}\n`));
        if (values.json) process.stdout.write(`${JSON.stringify(lab.state, null, 2)}\n`);
        else {
          process.stdout.write(`the ${topology} lab is up: scheduler ${lab.schedulerUrl}, ${lab.state.processes.length} processes, data in ${labDir(dataDir, topology)}\n`);
          process.stdout.write(`mode: ${lab.state.mode.kind} (${lab.state.mode.reason})\n`);
          process.stdout.write(`controllers:\n${controllerLines(lab.state)}\n${envLines(lab.state)}\n`);
        }
        return 0;
      }
      // Without --topology: every lab with a recorded state (also one whose start was interrupted).
      const labs = values.topology ? [readLabState(dataDir, values.topology)].flatMap((s) => s ?? []) : recordedLabs(dataDir);
      if (action === 'down') {
        // A lab killed before it recorded any process may still have made part of its network.
        for (const dir of labDirs(dataDir, values.topology).filter((d) => !labs.some((l) => l.dir === d))) {
          const removed = await removeLabNetwork(dir);
          if (removed.length) process.stdout.write(`${basename(dir)}: removed ${removed.join(', ')}\n`);
        }
        if (labs.length === 0) {
          process.stdout.write(values.topology ? `the ${values.topology} lab is not up\n` : 'no lab is up\n');
          return 0;
        }
        for (const state of labs) {
          const traffic = stopTraffic(state);
          const stopped = [...traffic.map((t) => `traffic ${t}`), ...(await stopLab(state)), ...(await removeLabNetwork(state.dir))];
          writeJsonFile(join(state.dir, 'lab-state.json'), null, 0o600);
          process.stdout.write(stopped.length ? `${state.topology}: stopped ${stopped.join(', ')}\n` : `${state.topology}: nothing was still running\n`);
        }
        return 0;
      }
      if (action === 'status') {
        if (labs.length === 0) {
          const topology = values.topology ?? defaultLabTopology;
          if (values.json) process.stdout.write(`${JSON.stringify(values.topology ? { topology, up: false } : [])}\n`);
          else process.stdout.write(values.topology ? `the ${topology} lab is not up (pcctl lab up --topology ${topology})\n` : `no lab is up (pcctl lab up --topology ${topology})\n`);
          return 3;
        }
        const reports = [];
        for (const state of labs) {
          const processes = state.processes.map((p) => ({ name: p.name, pid: p.pid, running: isOurs(p), ...(p.url ? { url: p.url } : {}) }));
          const traffic = state.traffic.filter((t) => processStartTime(t.pid) !== null && (t.startTime === null || processStartTime(t.pid) === t.startTime)).map((t) => ({ profile: t.profile, pid: t.pid, until: t.until }));
          const network = readLabNetwork(state.dir);
          const links = network ? labLinkDelays(network) : [];
          reports.push({ topology: state.topology, up: true, ready: state.ready, mode: state.mode, schedulerUrl: state.schedulerUrl, processes, traffic, links, scheduler: await schedulerView(state) });
        }
        if (values.json) process.stdout.write(`${JSON.stringify(values.topology ? reports[0] : reports, null, 2)}\n`);
        else {
          for (const r of reports) {
            process.stdout.write(`lab ${r.topology}${r.ready ? '' : ' (still starting, or its start was interrupted)'}: scheduler ${r.schedulerUrl}\n`);
            process.stdout.write(`  mode ${r.mode.kind}: ${r.mode.reason}\n`);
            for (const l of r.links) {
              const applied = l.oneWayMs === null ? 'not delayed' : `delay line ${l.oneWayMs} ms each way, loss ${l.lossPercent}%`;
              const counted = l.counted ? `; forwarded ${l.counted.forwarded}, dropped ${l.counted.lossDrops} loss, ${l.counted.queueDrops} queue, ${l.counted.sendErrors} device` : '';
              process.stdout.write(`  link ${l.link.padEnd(11)} RTT ${l.rttMs} ms (${applied}${counted})\n`);
            }
            for (const t of r.traffic) process.stdout.write(`  traffic ${t.profile.padEnd(8)} pid ${String(t.pid).padEnd(8)} until ${new Date(t.until).toISOString()}\n`);
            for (const p of r.processes) process.stdout.write(`  ${p.name.padEnd(16)} pid ${String(p.pid).padEnd(8)} ${p.running ? 'running' : 'NOT RUNNING'}${p.url ? `  ${p.url}` : ''}\n`);
            if (typeof r.scheduler === 'string') process.stdout.write(`  ${r.scheduler}\n`);
            else for (const c of r.scheduler.cloudlets) process.stdout.write(`  cloudlet ${c.id.padEnd(8)} ${c.connected ? 'connected' : 'disconnected'}, ${c.status}\n`);
          }
        }
        return reports.every((r) => r.processes.every((p) => p.running)) ? 0 : 1;
      }
      throw new UsageError(`unknown lab action "${action}": use up, down or status`);
    },
  },
};
