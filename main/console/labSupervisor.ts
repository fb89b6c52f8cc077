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
 *
 * Prefix ownership in the lab: the lab's provider owns the lab's host
 * networks (the scheduler's registry says so), and the lab makes a trust
 * anchor key of its own (<labDir>/attestation-key.pem, 0600; the controllers
 * trust its public key), so a reservation of the lab's provider can name a
 * host's prefix with a proof signed by it (`pcctl attest sign --key ...`).
 */
import { chmodSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { z } from 'zod';
import { newToken } from '../protocol/auth.ts';
import { RpcClient } from '../protocol/client.ts';
import { schedulerApi } from '../protocol/schedulerApi.ts';
import type { LabHandle, LabStarter } from './connectionManager.ts';
import { readJsonFile, writeJsonFile } from './jsonFile.ts';
import { newAnchorKeys } from '../controller/ownership.ts';
import { buildLabNetwork, chooseLabMode, cloudletUplink, hostSubnet, planLabNetwork, readLabNetwork, removeLabNetwork, writeLabPlan, type LabMode } from './labNetwork.ts';
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
  /** Namespaces, links and routers (root with Open vSwitch), or the userspace traffic source; and why. */
  mode: z.object({ kind: z.enum(['namespaces', 'userspace']), reason: z.string() }).default({ kind: 'userspace', reason: 'recorded before lab modes existed' }),
  /** Userspace mode: the loopback UDP port the traffic source sends from, where the controllers send back. */
  sourcePort: z.number().int().optional(),
  /** The lab's trust anchor's private key (PEM, 0600): signs the lab provider's prefix-ownership proofs. */
  attestationKeyFile: z.string().optional(),
  /** Background traffic runners (`pcctl lab traffic`), stopped with the lab. */
  traffic: z.array(z.object({ profile: z.string(), pid: z.number().int(), startTime: z.string().nullable(), until: z.number() })).default([]),
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

/**
 * Start time of a running process in clock ticks since boot (Linux), to tell a reused pid from
 * ours; null when there is no such process or it has exited and waits to be reaped (a zombie: a
 * detached runner whose reaper is slow must not count as running traffic).
 */
export function processStartTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (fields[0] === 'Z' || fields[0] === 'X') return null;
    return fields[19] ?? null;
  } catch {
    return null;
  }
}

/** A loopback UDP port free now (the userspace traffic source's, and each controller's uplink). */
async function freeUdpPort(): Promise<number> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, '127.0.0.1', () => resolve());
  });
  const { port } = socket.address();
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
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

/** Where a lab controller's data plane listens and whom it answers (contracts.md 4 for `router`). */
export interface LabUplink {
  /** The uplink's namespace (namespaces mode); absent: the controller's own, on loopback. */
  netns?: string;
  bind: string;
  port: number;
  routerAddress: string;
  routerPort: number;
  vni: number;
  router?: { kind: 'ovs'; bridge: string; vxlanPort: string; ovsdb: string; openflow: string; vni: number; links?: { port: string; from: string; to: string }[] };
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
  uplink: LabUplink;
  /** Loopback port of the controller's Prometheus endpoint (uplink counters among them). */
  metricsPort: number;
  /** The lab's trust anchor: proofs of prefix ownership signed by it are good. */
  trustAnchor: { name: string; publicKey: string };
}) => string;

export interface LabSupervisorOptions {
  dataDir: string;
  launcher: ProcessLauncher;
  /** Writes a controller's config file and returns its path; without it the lab runs no controllers. */
  writeControllerConfig?: ControllerConfigWriter;
  /** pcctl lab up: the daemons outlive the command that started them. */
  detached?: boolean;
  readyTimeoutMs?: number;
  /** auto (the default): namespaces when root with Open vSwitch, else the userspace traffic source. */
  mode?: 'auto' | 'namespaces' | 'userspace';
  /** Where topology files are read (default: resources/labs): a lab's own variant of a topology. */
  labsDir?: string;
}

/** The uplink of a cloudlet: in its namespace beside the router, or on loopback facing the userspace source. */
async function labUplink(plan: ReturnType<typeof planLabNetwork>, cloudletId: string, sourcePort: number | undefined): Promise<LabUplink> {
  const u = cloudletUplink(plan, cloudletId);
  if (!u) throw new Error(`cloudlet ${cloudletId} has no uplink in the lab's plan`);
  if (sourcePort === undefined) return { netns: u.netns, bind: u.bind, port: 4789, routerAddress: u.routerAddress, routerPort: 4789, vni: u.vni, router: u.router };
  return { bind: '127.0.0.1', port: await freeUdpPort(), routerAddress: '127.0.0.1', routerPort: sourcePort, vni: u.vni };
}

/** Ends the lab's traffic runners (each leads a process group of its own: its tools go with it). */
export function stopTraffic(state: LabState | undefined): string[] {
  const stopped: string[] = [];
  for (const t of state?.traffic ?? []) {
    if (processStartTime(t.pid) === null || (t.startTime !== null && processStartTime(t.pid) !== t.startTime)) continue;
    try {
      process.kill(-t.pid, 'SIGTERM');
      stopped.push(`${t.profile} (pid ${t.pid})`);
    } catch {
      // gone meanwhile
    }
  }
  return stopped;
}

export class LabSupervisor implements LabStarter {
  private readonly options: LabSupervisorOptions;
  /** Stops for every lab started or starting here, until it is stopped. */
  private readonly stoppers = new Set<() => Promise<void>>();

  constructor(options: LabSupervisorOptions) {
    this.options = options;
  }

  async start(topologyName: string, onProgress: (done: number, total: number, what: string) => void = () => undefined): Promise<LabHandle & { state: LabState }> {
    const topology = loadLabTopology(topologyName, this.options.labsDir);
    const dir = labDir(this.options.dataDir, topology.name);
    // Traversable, not listable, from the data folder down: VIs run as users of their own and reach
    // their directories under the controllers' state directories in here (the files keep their own
    // modes: lab-state.json and the tokens are 0600).
    mkdirSync(dir, { recursive: true, mode: 0o711 });
    const top = resolve(this.options.dataDir);
    for (let d = resolve(dir); d.startsWith(top); d = dirname(d)) {
      chmodSync(d, 0o711);
      if (d === top) break;
    }
    const mode: LabMode = chooseLabMode(this.options.mode ?? 'auto');
    // A lab killed with SIGKILL left its network behind: it goes before a new one is made.
    if (readLabNetwork(dir)) await removeLabNetwork(dir);
    const plan = planLabNetwork(topology, dir);
    writeLabPlan(dir, plan);
    const sourcePort = mode.kind === 'userspace' ? await freeUdpPort() : undefined;
    const controllersToo = Boolean(this.options.writeControllerConfig);
    const total = 2 + (controllersToo ? topology.cloudlets.length : 0);
    const tokens = { operator: newToken(), provider: newToken(), viewer: newToken() };
    const controllerTokens = new Map(topology.cloudlets.map((c) => [c.id, newToken()]));
    const schedulerPort = await freePort();
    const schedulerUrl = `ws://127.0.0.1:${schedulerPort}`;
    const schedulerConfig = join(dir, 'scheduler.json');
    const anchor = newAnchorKeys();
    const attestationKeyFile = join(dir, 'attestation-key.pem');
    writeFileSync(attestationKeyFile, anchor.privateKeyPem, { mode: 0o600 });
    const trustAnchor = { name: `lab-${topology.name}`, publicKey: anchor.publicKeyPem };
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
      // The lab's provider owns the lab's host networks, so its rules may steer traffic to them.
      providers: [{ id: labProviderId, prefixes: plan.hosts.map(hostSubnet) }],
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
      const state: LabState = { topology: topology.name, dir, schedulerUrl, tokens, processes: records, startedAt, ready, mode, attestationKeyFile, traffic: [], ...(sourcePort ? { sourcePort } : {}) };
      writeJsonFile(stateFile, state, 0o600);
      return state;
    };
    // Stopped while the network is still being built: the build finishes (or fails) first, then all of it goes.
    let network: Promise<unknown> = Promise.resolve();
    const stopAll = async (): Promise<void> => {
      this.stoppers.delete(stopAll);
      // Controllers first, so they do not spend their last breath reconnecting.
      for (const p of [...started].reverse()) p.kill('SIGTERM');
      const grace = new Promise((r) => setTimeout(r, 5000).unref());
      await Promise.race([Promise.all(started.map((p) => p.exited)), grace]);
      for (const p of started) p.kill('SIGKILL');
      stopTraffic(readLabState(this.options.dataDir, topology.name));
      await network.catch(() => undefined);
      await removeLabNetwork(dir);
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
      if (mode.kind === 'namespaces') network = buildLabNetwork(plan, dir, (what) => onProgress(1, total, `network: ${what}`));
      const [client] = await Promise.all([this.waitReady(scheduler, schedulerUrl, tokens.operator), network]);
      onProgress(2, total, mode.kind === 'namespaces' ? 'scheduler and network up' : `scheduler up (userspace traffic source: ${mode.reason})`);
      if (this.options.writeControllerConfig) {
        let done = 2;
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
            uplink: await labUplink(plan, cloudlet.id, sourcePort),
            metricsPort: await freePort(),
            trustAnchor,
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
      mode,
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
