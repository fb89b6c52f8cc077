/**
 * A lab session: the lab of a topology up in namespaces mode (hosts, Open
 * vSwitch routers, a scheduler and one controller per cloudlet, from
 * labSupervisor.ts and labNetwork.ts), with what experiments and tests do in
 * it: run bounded commands in hosts, start background servers, and reserve
 * VIs through the scheduler exactly as a provider does (the lab's provider,
 * its rules' ownership proofs signed by the lab's trust anchor, approved by
 * the lab's operator), waiting until the VI runs AND its router flows are
 * installed (it serves traffic), and ending them until their flows are gone.
 *
 * Who calls: experiments and system tests (contracts.md 1). What it leaves:
 * nothing once stop() returns (the supervisor removes every namespace, OVS
 * and process it made; the background processes started here are killed).
 * The data folder must be short (say /tmp/pclab-xxxx): Open vSwitch's
 * sockets live under it and Unix socket paths are limited to 108 bytes.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { z } from 'zod';
import { viIdOf } from '../controller/holds.ts';
import { signAttestation } from '../controller/ownership.ts';
import { UPLOADED_PROGRAM } from '../controller/uploads.ts';
import { uploadBundleInChunks } from '../protocol/bundleUpload.ts';
import { RpcClient } from '../protocol/client.ts';
import { controllerApi, type ViView } from '../protocol/controllerApi.ts';
import type { DemuxRuleSpecSchema, Reservation, Resources, ViPort } from '../protocol/domain.ts';
import { schedulerApi } from '../protocol/schedulerApi.ts';
import { endedViStates, finalStates } from '../protocol/vocabulary.ts';
import { catalog } from '../services/catalog.ts';
import { labControllerConfig } from './labControllerConfig.ts';
import { hostSubnet, readLabPlan, type LabNetworkPlan } from './labNetwork.ts';
import { labProviderId, LabSupervisor, type LabState } from './labSupervisor.ts';
import { execNamespace, inNamespaceArgv } from './labTraffic.ts';
import { childProcessLauncher } from './processLauncher.ts';

/** A demux rule of a VI reserved in the lab: what `pcctl reserve --rules FILE` takes (the proof is added when missing). */
export type LabViRule = z.input<typeof DemuxRuleSpecSchema>;

export interface LabViRequest {
  cloudletId: string;
  program: string;
  args?: Record<string, string>;
  rules: LabViRule[];
  /** Used as the reservation's client request id (a retried reserveVi with the same name files nothing new). */
  name?: string;
  /** Default: 1 core, 256 MiB, 1 GiB, 500 Mb/s (the VI's token bucket). */
  capacity?: Resources;
  /** The VI's port; default the program's own (from the service catalog). */
  port?: ViPort;
  /** How long it is reserved for, default an hour (endVi ends it sooner). */
  durationMs?: number;
  /** How long to wait until it serves, default 60 s. */
  timeoutMs?: number;
  /**
   * The provider's own program (program "upload"): a bundle (tar with manifest.json, uploads.ts)
   * sent through the scheduler once the reservation is held, before the VI starts.
   */
  bundle?: Buffer;
}

export interface LabExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Round-trip times of a ping run (ms) and how many echo requests got no reply. */
export interface LabPingRtt {
  min: number;
  avg: number;
  max: number;
  lost: number;
}

export interface LabSession {
  readonly topology: string;
  readonly state: LabState;
  readonly plan: LabNetworkPlan;
  /** Runs a bounded command in a host, router or cloudlet-uplink namespace; rejects with stderr on a non-zero exit unless allowFailure. */
  exec(target: string, argv: string[], opts?: { timeoutMs?: number; allowFailure?: boolean }): Promise<LabExecResult>;
  /** Starts a background process in a host (iperf3 -s, an HTTP server); killed by stop(). */
  spawn(target: string, argv: string[]): ChildProcess;
  /** The address of a host of the topology (198.18.x.y). */
  addressOf(host: string): string;
  /** The /24 of a host of the topology (each host sits alone on its own). */
  subnetOf(host: string): string;
  /** `count` pings from one host of the topology to another, 0.2 s apart: what the path's RTT is as the lab emulates it. */
  ping(from: string, to: string, count: number): Promise<LabPingRtt>;
  /** Reserves a VI through the scheduler as the lab's provider and waits until it runs and its router flows are installed. */
  reserveVi(req: LabViRequest): Promise<{ reservationId: string; viId: string }>;
  /** Terminates it and waits until its flows are gone from the router. */
  endVi(reservationId: string): Promise<void>;
  /** The console API of a cloudlet's controller (use with operatorToken). */
  controllerUrl(cloudletId: string): string;
  readonly operatorToken: string;
  readonly providerToken: string;
  /** The lab down: nothing left behind (namespaces, OVS, processes). */
  stop(): Promise<void>;
}

const defaultCapacity: Resources = { cpu: 1, memMiB: 256, diskGiB: 1, netMbps: 500 };
const pollMs = 200;
/** The VI's start at least this far away: a t0 that passes before approval declines it. */
const startLeadMs = 2000;
/** With a bundle, more: it is uploaded between the controller's hold and t0. */
const bundleStartLeadMs = 6000;
/** Output kept per exec stream; a command printing more is cut (and says so). */
const maxOutput = 16 * 2 ** 20;

type Closable = { close(): void };

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * readyTimeoutMs: how long each of the lab's daemons may take to come up (the supervisor's default otherwise; a busy
 * machine needs more). labsDir: where the topology file is read (default resources/labs).
 */
export async function startLabSession(opts: { topology: string; dataDir: string; onStep?: (s: string) => void; mode?: 'namespaces' | 'auto'; readyTimeoutMs?: number; labsDir?: string }): Promise<LabSession> {
  const supervisor = new LabSupervisor({
    dataDir: opts.dataDir,
    launcher: childProcessLauncher,
    writeControllerConfig: labControllerConfig,
    mode: opts.mode ?? 'namespaces',
    ...(opts.readyTimeoutMs ? { readyTimeoutMs: opts.readyTimeoutMs } : {}),
    ...(opts.labsDir ? { labsDir: opts.labsDir } : {}),
  });
  const lab = await supervisor.start(opts.topology, (done, total, what) => opts.onStep?.(`[${done}/${total}] ${what}`));
  const plan = readLabPlan(lab.state.dir);
  if (!plan) {
    await lab.stop();
    throw new Error(`the ${opts.topology} lab recorded no plan in ${lab.state.dir}`);
  }
  return new RunningLab(lab.state, plan, lab.stop, opts.onStep);
}

class RunningLab implements LabSession {
  readonly topology: string;
  readonly state: LabState;
  readonly plan: LabNetworkPlan;
  readonly operatorToken: string;
  readonly providerToken: string;
  private readonly stopLab: () => Promise<void>;
  private readonly onStep: (s: string) => void;
  private readonly children = new Set<ChildProcess>();
  private stopping: Promise<void> | undefined;

  constructor(state: LabState, plan: LabNetworkPlan, stopLab: () => Promise<void>, onStep: ((s: string) => void) | undefined) {
    this.topology = state.topology;
    this.state = state;
    this.plan = plan;
    this.operatorToken = state.tokens.operator;
    this.providerToken = state.tokens.provider;
    this.stopLab = stopLab;
    this.onStep = onStep ?? (() => undefined);
  }

  exec(target: string, argv: string[], opts: { timeoutMs?: number; allowFailure?: boolean } = {}): Promise<LabExecResult> {
    const [file, args] = inNamespaceArgv(execNamespace(this.state, target), argv);
    const timeoutMs = opts.timeoutMs ?? 60_000;
    return new Promise((resolve, reject) => {
      execFile(file, args, { timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: maxOutput, encoding: 'utf8' }, (error, stdout, stderr) => {
        const e = error as (NodeJS.ErrnoException & { killed?: boolean; code?: number | string }) | null;
        if (e?.killed) return reject(new Error(`${argv.join(' ')} ran past ${timeoutMs} ms in ${target} and was ended${stderr.trim() ? `: ${stderr.trim()}` : ''}`));
        if (e && typeof e.code !== 'number') return reject(new Error(`cannot run ${argv.join(' ')} in ${target}: ${e.message}`));
        const result = { code: typeof e?.code === 'number' ? e.code : 0, stdout, stderr };
        if (result.code !== 0 && !opts.allowFailure) return reject(new Error(`${argv.join(' ')} in ${target} exited with ${result.code}: ${stderr.trim() || stdout.trim().slice(-2000)}`));
        resolve(result);
      });
    });
  }

  spawn(target: string, argv: string[]): ChildProcess {
    const [file, args] = inNamespaceArgv(execNamespace(this.state, target), argv);
    const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    // Drained so a chatty server never blocks on a full pipe.
    child.stdout?.resume();
    child.stderr?.resume();
    this.children.add(child);
    child.once('exit', () => this.children.delete(child));
    return child;
  }

  addressOf(host: string): string {
    const h = this.plan.hosts.find((x) => x.id === host);
    if (!h) throw new Error(`no host "${host}" in the ${this.topology} lab (hosts: ${this.plan.hosts.map((x) => x.id).join(', ')})`);
    return h.address;
  }

  subnetOf(host: string): string {
    return hostSubnet({ address: this.addressOf(host) });
  }

  async ping(from: string, to: string, count: number): Promise<LabPingRtt> {
    const r = await this.exec(from, ['ping', '-c', String(count), '-i', '0.2', '-W', '1', '-q', this.addressOf(to)], { allowFailure: true, timeoutMs: (count + 10) * 1000 });
    const rtt = /= ([\d.]+)\/([\d.]+)\/([\d.]+)\//.exec(r.stdout);
    const counts = /(\d+) packets transmitted, (\d+) received/.exec(r.stdout);
    if (!rtt || !counts) throw new Error(`ping from ${from} to ${to} in the ${this.topology} lab gave no RTT: ${r.stdout.trim() || r.stderr.trim()}`);
    return { min: Number(rtt[1]), avg: Number(rtt[2]), max: Number(rtt[3]), lost: Number(counts[1]) - Number(counts[2]) };
  }

  controllerUrl(cloudletId: string): string {
    const url = this.state.processes.find((p) => p.name === `controller-${cloudletId}`)?.url;
    if (!url) throw new Error(`no cloudlet "${cloudletId}" in the ${this.topology} lab (cloudlets: ${this.state.processes.flatMap((p) => (p.url ? p.name.replace(/^controller-/, '') : [])).join(', ')})`);
    return url;
  }

  async reserveVi(req: LabViRequest): Promise<{ reservationId: string; viId: string }> {
    const clients: Closable[] = [];
    try {
      return await this.reserveWith(req, clients);
    } finally {
      for (const c of clients) c.close();
    }
  }

  private async reserveWith(req: LabViRequest, clients: Closable[]): Promise<{ reservationId: string; viId: string }> {
    const cloudletUrl = this.controllerUrl(req.cloudletId);
    const popId = this.plan.uplinks.find((u) => u.cloudletId === req.cloudletId)?.routerId as string;
    if (req.bundle && req.program !== UPLOADED_PROGRAM) throw new Error(`a bundle runs as program "${UPLOADED_PROGRAM}", not "${req.program}"`);
    const descriptor = catalog.find((d) => d.program === req.program);
    const provider = await this.scheduler(this.providerToken, clients);
    const operator = await this.scheduler(this.operatorToken, clients);
    const info = await provider.call('scheduler.info', {});
    const t0 = Math.ceil((info.now + (req.bundle ? bundleStartLeadMs : startLeadMs)) / info.slotMs) * info.slotMs;
    const t1 = t0 + Math.ceil((req.durationMs ?? 3_600_000) / info.slotMs) * info.slotMs;
    const reservation = await provider.call('reservation.request', {
      requestorPopId: popId,
      preferredCloudletId: req.cloudletId,
      t0,
      t1,
      profile: [{ from: t0, to: t1, capacity: req.capacity ?? defaultCapacity }],
      service: {
        mode: descriptor?.mode ?? 'transparent',
        ...(req.port ? { port: req.port } : descriptor ? { port: descriptor.port } : {}),
        program: req.program,
        args: req.args ?? {},
        rules: req.rules.map((r) => this.withProof(r)),
      },
      ...(req.name ? { clientRequestId: req.name } : {}),
    });
    const viId = viIdOf(reservation.id);
    const timeoutMs = req.timeoutMs ?? 60_000;
    this.onStep(`reservation ${reservation.id} ${reservation.state}: ${req.program} at ${req.cloudletId}`);
    try {
      if (reservation.state === 'pending_approval') {
        await operator.call('reservation.approve', { id: reservation.id, reason: `lab session (${this.topology})` }).catch(async (e: Error) => {
          // Declined meanwhile (the controller refused to hold it): its reason says more than the conflict.
          const r = await operator.call('reservation.get', { id: reservation.id });
          throw new Error(`reservation ${r.id} could not be approved (${e.message}): ${r.state}: ${r.reason}`);
        });
      }
      if (req.bundle) await this.upload(provider, operator, reservation.id, req.bundle, timeoutMs);
      await this.until(timeoutMs, `reservation ${reservation.id} to become active`, async () => {
        const r = await operator.call('reservation.get', { id: reservation.id });
        if (finalStates.includes(r.state)) throw new Error(`reservation ${r.id} is ${r.state}: ${r.reason}`);
        if (r.state === 'active' && r.cloudletId !== req.cloudletId) throw new Error(`reservation ${r.id} was placed at ${r.cloudletId}, not ${req.cloudletId}`);
        return r.state === 'active' ? true : `${r.state}${r.reason ? ` (${r.reason})` : ''}`;
      });
      const controller = await this.controller(cloudletUrl, clients);
      await this.until(timeoutMs, `VI ${viId} at ${req.cloudletId} to serve traffic`, async () => {
        let vi: ViView;
        try {
          vi = await controller.call('vi.get', { viId });
        } catch (e) {
          return `not there yet (${(e as Error).message})`;
        }
        if (endedViStates.includes(vi.state)) throw new Error(`VI ${viId} at ${req.cloudletId} is ${vi.state}: ${vi.reason}`);
        // No routerFlows: the controller programs no router, or the VI has no rules; it serves once running.
        if (vi.state === 'running' && (vi.routerFlows?.installed ?? true)) return true;
        return vi.state !== 'running' ? `${vi.state} (${vi.reason})` : `running, router flows not installed: ${vi.routerFlows?.detail}`;
      });
    } catch (e) {
      // Nothing half-made stays behind: the reservation ends (its rules and VI with it).
      await operator.call('reservation.terminate', { id: reservation.id, reason: `lab session: ${(e as Error).message}`.slice(0, 1024) }).catch(() => undefined);
      throw e;
    }
    this.onStep(`VI ${viId} serves at ${req.cloudletId}`);
    return { reservationId: reservation.id, viId };
  }

  /** Once the controller holds the reservation (scheduled), its bundle goes through the scheduler as `pcctl upload` sends it. */
  private async upload(provider: RpcClient<typeof schedulerApi>, operator: RpcClient<typeof schedulerApi>, id: string, bundle: Buffer, timeoutMs: number): Promise<void> {
    await this.until(timeoutMs, `reservation ${id} to be held by its cloudlet for the upload`, async () => {
      const r = await operator.call('reservation.get', { id });
      if (finalStates.includes(r.state) || r.state === 'active') throw new Error(`reservation ${id} is ${r.state} before its bundle could be uploaded${r.reason ? `: ${r.reason}` : ''}`);
      return r.state === 'scheduled' ? true : r.state;
    });
    const answer = await uploadBundleInChunks(provider, id, bundle, `lab session (${this.topology}): the provider's bundle`);
    if (!answer.stored) throw new Error(`the bundle of reservation ${id} was not stored: ${answer.detail}`);
    this.onStep(`reservation ${id}: bundle ${answer.detail}`);
  }

  async endVi(reservationId: string): Promise<void> {
    const clients: Closable[] = [];
    try {
      await this.endWith(reservationId, clients);
    } finally {
      for (const c of clients) c.close();
    }
  }

  private async endWith(reservationId: string, clients: Closable[]): Promise<void> {
    const operator = await this.scheduler(this.operatorToken, clients);
    const reservation: Reservation = await operator.call('reservation.get', { id: reservationId });
    const viId = viIdOf(reservationId);
    const cloudletId = reservation.cloudletId;
    const controller = cloudletId ? await this.controller(this.controllerUrl(cloudletId), clients) : undefined;
    const ruleIds = new Set(controller ? (await controller.call('rule.list', { viId })).rules.map((r) => r.id) : []);
    if (!finalStates.includes(reservation.state)) await operator.call('reservation.terminate', { id: reservationId, reason: `lab session (${this.topology}): VI ended` });
    if (!controller) return;
    await this.until(30_000, `the router flows of VI ${viId} to be removed`, async () => {
      const vi = await controller.call('vi.get', { viId }).catch(() => undefined);
      if (vi && !endedViStates.includes(vi.state)) return `VI still ${vi.state}`;
      const table = await controller.call('router.flows', {});
      const left = table.flows.filter((f) => f.ruleId !== null && ruleIds.has(f.ruleId));
      return left.length === 0 ? true : `${left.length} flow(s) left: ${left.map((f) => f.flow).join('; ')}`;
    });
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      const exits = [...this.children].map((c) => new Promise((r) => (c.exitCode !== null || c.signalCode !== null ? r(null) : c.once('exit', r))));
      for (const c of this.children) c.kill('SIGKILL');
      await Promise.race([Promise.all(exits), sleep(5000)]);
      await this.stopLab();
    })();
    return this.stopping;
  }

  /** A proof signed by the lab's anchor for a rule naming a destination prefix without one. */
  private withProof(rule: LabViRule): LabViRule {
    if (!rule.match.dstPrefix || rule.ownershipProof) return rule;
    if (!this.state.attestationKeyFile) throw new Error(`the ${this.topology} lab has no attestation key to prove ownership of ${rule.match.dstPrefix}`);
    const proof = signAttestation({ prefix: rule.match.dstPrefix, provider: labProviderId, notAfter: Date.now() + 86_400_000 }, readFileSync(this.state.attestationKeyFile, 'utf8'));
    return { ...rule, ownershipProof: proof };
  }

  /** A scheduler client, closed by the caller with the others in `clients`. */
  private async scheduler(token: string, clients: Closable[]): Promise<RpcClient<typeof schedulerApi>> {
    const client = new RpcClient(schedulerApi, { url: this.state.schedulerUrl, token, client: 'lab-session', timeoutMs: 15_000 });
    clients.push(client);
    await client.connect();
    return client;
  }

  private async controller(url: string, clients: Closable[]): Promise<RpcClient<typeof controllerApi>> {
    const client = new RpcClient(controllerApi, { url, token: this.operatorToken, client: 'lab-session', timeoutMs: 15_000 });
    clients.push(client);
    await client.connect();
    return client;
  }

  /** Polls `check` until it says true; rejects with its last answer after timeoutMs, or with what it threw. */
  private async until(timeoutMs: number, what: string, check: () => Promise<true | string>): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    while (Date.now() < deadline) {
      const answer = await check();
      if (answer === true) return;
      last = answer;
      await sleep(pollMs);
    }
    throw new Error(`waited ${timeoutMs} ms for ${what}; last seen: ${last}`);
  }
}
