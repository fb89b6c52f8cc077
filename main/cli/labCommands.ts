/**
 * `pcctl lab up | down | status [--topology NAME]`: the embedded lab from a
 * shell. `up` starts the scheduler and controllers detached (they outlive
 * pcctl; logs beside their configs), `down` stops exactly the processes `up`
 * recorded (pid and start time must both match, so a reused pid is never
 * signalled), `status` says what runs and what the scheduler sees.
 */
import { parseArgs } from 'node:util';
import { RpcClient } from '../protocol/client.ts';
import { schedulerApi } from '../protocol/schedulerApi.ts';
import { defaultDataDir } from '../console/dataDir.ts';
import { LabSupervisor, labDir, processStartTime, readLabState, recordedLabs, stopTraffic, type LabState } from '../console/labSupervisor.ts';
import { removeLabNetwork } from '../console/labNetwork.ts';
import { defaultLabTopology } from '../console/labTopology.ts';
import { writeJsonFile } from '../console/jsonFile.ts';
import { childProcessLauncher } from '../console/processLauncher.ts';
import { labControllerConfig } from '../console/labControllerConfig.ts';
import { UsageError, type Command } from './command.ts';
import { join } from 'node:path';

const usage = `usage: pcctl lab up|down|status [--topology NAME] [--json]

The embedded lab on loopback: a scheduler and one controller per cloudlet of a
topology in resources/labs (default ${defaultLabTopology}). Data and logs live in
$PCLOUD_DATA_DIR/lab/NAME (default: the console's data folder).
Without --topology, status and down act on every lab that is up.
`;

function options(args: string[]) {
  const { values } = parseArgs({
    args,
    options: { topology: { type: 'string' }, json: { type: 'boolean', default: false }, help: { type: 'boolean', default: false } },
    strict: true,
  });
  return values;
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
      const values = options(rest);
      if (values.help || !action || action === '--help') {
        process.stdout.write(usage);
        return action ? 0 : 2;
      }
      const dataDir = defaultDataDir();
      if (action === 'up') {
        const topology = values.topology ?? defaultLabTopology;
        const existing = readLabState(dataDir, topology);
        if (existing && existing.processes.some(isOurs)) {
          process.stdout.write(`the ${topology} lab is already up (scheduler ${existing.schedulerUrl})\n${controllerLines(existing)}\n${envLines(existing)}\n`);
          return 0;
        }
        const supervisor = new LabSupervisor({ dataDir, launcher: childProcessLauncher, detached: true, writeControllerConfig: labControllerConfig });
        const lab = await supervisor.start(topology, (done, total, what) => process.stderr.write(`[${done}/${total}] ${what}\n`));
        if (values.json) process.stdout.write(`${JSON.stringify(lab.state, null, 2)}\n`);
        else {
          process.stdout.write(`the ${topology} lab is up: scheduler ${lab.schedulerUrl}, ${lab.state.processes.length} processes, data in ${labDir(dataDir, topology)}\n`);
          process.stdout.write(`controllers:\n${controllerLines(lab.state)}\n${envLines(lab.state)}\n`);
        }
        return 0;
      }
      // Without --topology: every lab with a recorded state (also one whose start was interrupted).
      const labs = values.topology ? [readLabState(dataDir, values.topology)].flatMap((s) => s ?? []) : recordedLabs(dataDir);
      if (action === 'down') {
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
          reports.push({ topology: state.topology, up: true, ready: state.ready, schedulerUrl: state.schedulerUrl, processes, scheduler: await schedulerView(state) });
        }
        if (values.json) process.stdout.write(`${JSON.stringify(values.topology ? reports[0] : reports, null, 2)}\n`);
        else {
          for (const r of reports) {
            process.stdout.write(`lab ${r.topology}${r.ready ? '' : ' (still starting, or its start was interrupted)'}: scheduler ${r.schedulerUrl}\n`);
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
