/**
 * The embedded lab: a scheduler and one controller per cloudlet of a topology
 * from resources/labs/, on loopback, with tokens made fresh for every run and
 * data under the console's data folder (so reservations survive a restart).
 *
 * Who calls: the console backend (when nothing else is configured) and
 * `pcctl lab up`. What it writes: <dataDir>/lab/<topology>/ with the daemons'
 * configs and databases, and lab-state.json (mode 0600: it holds the tokens)
 * recording each process's pid and start time, so `pcctl lab down` signals
 * only processes this lab started. The file is rewritten as soon as each
 * process is spawned, before it is waited for, so a start interrupted at any
 * point (Ctrl-C, a crash) leaves nothing running that `pcctl lab down` does
 * not know; `shutdown()` stops every lab this supervisor started or is starting.
 */
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { z } from 'zod';
import { newToken } from '../protocol/auth.ts';
import { RpcClient } from '../protocol/client.ts';
import { schedulerApi } from '../protocol/schedulerApi.ts';
import type { LabHandle, LabStarter } from './connectionManager.ts';
import { readJsonFile, writeJsonFile } from './jsonFile.ts';
import { loadLabTopology, resolveLinks, type LabTopology } from './labTopology.ts';
import type { LaunchedProcess, ProcessLauncher } from './processLauncher.ts';

/** The provider the lab's pcctl terminals act as when filing reservations. */
export const labProviderId = 'demo';

export const LabStateSchema = z.object({
  topology: z.string(),
  dir: z.string(),
  schedulerUrl: z.string(),
  tokens: z.object({ operator: z.string(), provider: z.string(), viewer: z.string() }),
  processes: z.array(
    z.object({
      name: z.string(),
      pid: z.number().int(),
      startTime: z.string().nullable(),
      configFile: z.string(),
      /** The console API of a controller (absent for the scheduler). */
      url: z.string().optional(),
    }),
  ),
  startedAt: z.number(),
  /** False while the lab is still starting (its processes are recorded all the same). */
  ready: z.boolean().default(true),
});
export type LabState = z.infer<typeof LabStateSchema>;

export function labDir(dataDir: string, topology: string): string {
  return join(dataDir, 'lab', topology);
}

export function readLabState(dataDir: string, topology: string): LabState | undefined {
  const file = join(labDir(dataDir, topology), 'lab-state.json');
  const state = readJsonFile(file, LabStateSchema.nullable(), null);
  return state ?? undefined;
}

/** Every lab with a recorded state in the data folder, whatever its topology. */
export function recordedLabs(dataDir: string): LabState[] {
  let names: string[];
  try {
    names = readdirSync(join(dataDir, 'lab'));
  } catch {
    return [];
  }
  return names.sort().flatMap((name) => readLabState(dataDir, name) ?? []);
}

/** Start time of a process in clock ticks since boot (Linux), to tell a reused pid from ours. */
export function processStartTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (!address || typeof address === 'string') throw new Error('could not find a free port on 127.0.0.1');
  return address.port;
}

export interface ControllerLaunch {
  cloudletId: string;
  url: string;
  configFile: string;
}

/** How a controller of the lab is configured; kept beside the daemon that reads it. */
export type ControllerConfigWriter = (input: {
  topology: LabTopology;
  cloudlet: LabTopology['cloudlets'][number];
  dir: string;
  schedulerUrl: string;
  controllerToken: string;
  operatorToken: string;
  viewerToken: string;
  port: number;
}) => string;

export interface LabSupervisorOptions {
  dataDir: string;
  launcher: ProcessLauncher;
  /** Writes a controller's config file and returns its path; without it the lab runs no controllers. */
  writeControllerConfig?: ControllerConfigWriter;
  /** pcctl lab up: the daemons outlive the command that started them. */
  detached?: boolean;
  readyTimeoutMs?: number;
}

export class LabSupervisor implements LabStarter {
  private readonly options: LabSupervisorOptions;
  /** Stops for every lab started or starting here, until it is stopped. */
  private readonly stoppers = new Set<() => Promise<void>>();

  constructor(options: LabSupervisorOptions) {
    this.options = options;
  }

  async start(topologyName: string, onProgress: (done: number, total: number, what: string) => void = () => undefined): Promise<LabHandle & { state: LabState }> {
    const topology = loadLabTopology(topologyName);
    const dir = labDir(this.options.dataDir, topology.name);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const controllersToo = Boolean(this.options.writeControllerConfig);
    const total = 1 + (controllersToo ? topology.cloudlets.length : 0);
    const tokens = { operator: newToken(), provider: newToken(), viewer: newToken() };
    const controllerTokens = new Map(topology.cloudlets.map((c) => [c.id, newToken()]));
    const schedulerPort = await freePort();
    const schedulerUrl = `ws://127.0.0.1:${schedulerPort}`;
    const schedulerConfig = join(dir, 'scheduler.json');
    writeJsonFile(schedulerConfig, {
      listen: { host: '127.0.0.1', port: schedulerPort },
      database: 'scheduler.sqlite',
      tokens: [
        { token: tokens.operator, role: 'operator', name: 'lab-operator' },
        { token: tokens.viewer, role: 'viewer', name: 'lab-viewer' },
        { token: tokens.provider, role: 'provider', name: 'lab-provider', providerId: labProviderId },
        ...topology.cloudlets.map((c) => ({ token: controllerTokens.get(c.id), role: 'controller', name: `controller-${c.id}`, cloudletId: c.id })),
      ],
      // Ten-second slots keep the lab lively: a reservation filed now starts within seconds.
      slotMs: 10_000,
      horizonDays: 7,
      reportIntervalMs: 2000,
      staleAfterMs: 7000,
      approval: { autoApprove: ['isp'] },
      topology: {
        pops: topology.pops.map((p) => ({ id: p.id, name: p.name })),
        links: resolveLinks(topology),
        cloudlets: topology.cloudlets.map((c) => ({ id: c.id, popId: c.popId, nodes: c.nodes })),
      },
    });

    const started: LaunchedProcess[] = [];
    const records: LabState['processes'] = [];
    const stateFile = join(dir, 'lab-state.json');
    const startedAt = Date.now();
    const record = (ready: boolean): LabState => {
      const state: LabState = { topology: topology.name, dir, schedulerUrl, tokens, processes: records, startedAt, ready };
      writeJsonFile(stateFile, state, 0o600);
      return state;
    };
    const stopAll = async (): Promise<void> => {
      this.stoppers.delete(stopAll);
      // Controllers first, so they do not spend their last breath reconnecting.
      for (const p of [...started].reverse()) p.kill('SIGTERM');
      const grace = new Promise((r) => setTimeout(r, 5000).unref());
      await Promise.race([Promise.all(started.map((p) => p.exited)), grace]);
      for (const p of started) p.kill('SIGKILL');
      writeJsonFile(stateFile, null, 0o600);
    };
    this.stoppers.add(stopAll);
    const launch = (name: string, args: string[], configFile: string, url?: string): LaunchedProcess => {
      const proc = this.options.launcher.launch(name, args, {
        ...(this.options.detached ? { detached: true, logFile: join(dir, `${name}.log`) } : {}),
      });
      started.push(proc);
      if (proc.pid !== undefined) records.push({ name, pid: proc.pid, startTime: processStartTime(proc.pid), configFile, ...(url ? { url } : {}) });
      record(false);
      return proc;
    };

    try {
      onProgress(0, total, 'starting the scheduler');
      const scheduler = launch('scheduler', ['scheduler', '--config', schedulerConfig], schedulerConfig);
      const client = await this.waitReady(scheduler, schedulerUrl, tokens.operator);
      onProgress(1, total, 'scheduler up');
      if (this.options.writeControllerConfig) {
        let done = 1;
        for (const cloudlet of topology.cloudlets) {
          const port = await freePort();
          const configFile = this.options.writeControllerConfig({
            topology,
            cloudlet,
            dir,
            schedulerUrl,
            controllerToken: controllerTokens.get(cloudlet.id) as string,
            operatorToken: tokens.operator,
            viewerToken: tokens.viewer,
            port,
          });
          const controller = launch(`controller-${cloudlet.id}`, ['controller', '--config', configFile], configFile, `ws://127.0.0.1:${port}`);
          await this.waitControllerConnected(controller, client, cloudlet.id);
          onProgress(++done, total, `controller of ${cloudlet.id} up`);
        }
      }
      client.close();
    } catch (e) {
      await stopAll();
      throw e;
    }

    const state = record(true);
    // A detached lab outlives this process: `pcctl lab down` stops it, not our shutdown.
    if (this.options.detached) this.stoppers.delete(stopAll);
    return {
      topology: topology.name,
      schedulerUrl,
      operatorToken: tokens.operator,
      providerToken: tokens.provider,
      state,
      stop: stopAll,
    };
  }

  /** Stops every lab this supervisor started or is still starting (the console is closing). */
  async shutdown(): Promise<void> {
    await Promise.all([...this.stoppers].map((stop) => stop()));
  }

  private async waitReady(proc: LaunchedProcess, url: string, token: string): Promise<RpcClient<typeof schedulerApi>> {
    const deadline = Date.now() + (this.options.readyTimeoutMs ?? 30_000);
    let exited = false;
    void proc.exited.then(() => (exited = true));
    let lastError = '';
    while (Date.now() < deadline) {
      if (exited) throw new Error(`${proc.name} exited while starting:\n${proc.output().trim()}`);
      const client = new RpcClient(schedulerApi, { url, token, client: 'lab-supervisor', timeoutMs: 5000 });
      try {
        await client.connect();
        await client.call('scheduler.info', {});
        return client;
      } catch (e) {
        lastError = (e as Error).message;
        client.close();
        await new Promise((r) => setTimeout(r, 150));
      }
    }
    throw new Error(`${proc.name} did not answer at ${url} within ${this.options.readyTimeoutMs ?? 30_000} ms (${lastError}):\n${proc.output().trim()}`);
  }

  private async waitControllerConnected(proc: LaunchedProcess, scheduler: RpcClient<typeof schedulerApi>, cloudletId: string): Promise<void> {
    const deadline = Date.now() + (this.options.readyTimeoutMs ?? 30_000);
    let exited = false;
    void proc.exited.then(() => (exited = true));
    while (Date.now() < deadline) {
      if (exited) throw new Error(`${proc.name} exited while starting:\n${proc.output().trim()}`);
      const topology = await scheduler.call('topology.get', {});
      const cloudlet = topology.cloudlets.find((c) => c.id === cloudletId);
      if (cloudlet?.connected && cloudlet.controllerUrl) return;
      await new Promise((r) => setTimeout(r, 150));
    }
    throw new Error(`${proc.name} did not connect to the scheduler within ${this.options.readyTimeoutMs ?? 30_000} ms:\n${proc.output().trim()}`);
  }
}
