/**
 * Pieces of the controller system tests: a controller daemon as a real child
 * process (`pcctl controller --config FILE`), optionally as another user, a
 * stand-in scheduler that speaks the real scheduler contract (for driving
 * commands precisely), and /proc scans for orphan checks.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TokenStore } from '../../main/protocol/auth.ts';
import { RpcClient } from '../../main/protocol/client.ts';
import type { Handlers, TopicSink } from '../../main/protocol/contract.ts';
import { controllerApi } from '../../main/protocol/controllerApi.ts';
import type { ControllerConfigInput } from '../../main/controller/config.ts';
import { createDispatcher } from '../../main/protocol/dispatcher.ts';
import type { ControllerCommand, ControllerReport, Profile, Reservation, ServiceSpec } from '../../main/protocol/domain.ts';
import { schedulerApi, type SchedulerApi } from '../../main/protocol/schedulerApi.ts';
import { RpcServer } from '../../main/protocol/server.ts';
import { repoRoot } from './harness.ts';

export const tokens = {
  controller: 'controller-token-0123456789abcdef',
  operator: 'operator-token-0123456789abcdef',
  viewer: 'viewer-token-0123456789abcdef',
};

type Body = ControllerCommand extends infer C ? (C extends ControllerCommand ? Omit<C, 'commandId'> : never) : never;

/** Speaks the scheduler's contract to controllers: records hellos and reports, sends commands, awaits answers. */
export class StandInScheduler {
  readonly reports: { cloudletId: string; report: ControllerReport }[] = [];
  readonly hellos: { cloudletId: string; controllerUrl?: string }[] = [];
  assignments: Reservation[] = [];
  private readonly sinks = new Map<string, TopicSink<ControllerCommand>>();
  private readonly waiting = new Map<string, (a: { ok: boolean; reason?: string }) => void>();
  private next = 1;
  private server: RpcServer | undefined;
  url = '';
  port = 0;

  async start(cloudletIds: string[], port = 0): Promise<void> {
    const cloudletOf = (p: { role: string; cloudletId?: string }): string => p.cloudletId ?? '';
    const handlers = {
      'controller.hello': (p: { controllerUrl?: string }, ctx: { principal: { role: string; cloudletId?: string } }) => {
        this.hellos.push({ cloudletId: cloudletOf(ctx.principal), ...(p.controllerUrl ? { controllerUrl: p.controllerUrl } : {}) });
        return { cloudletId: cloudletOf(ctx.principal), nodes: [], slotMs: 1000, reportIntervalMs: 500, staleAfterMs: 2000 };
      },
      'controller.report': (p: ControllerReport, ctx: { principal: { role: string; cloudletId?: string } }) => {
        this.reports.push({ cloudletId: cloudletOf(ctx.principal), report: p });
        return {};
      },
      'controller.answer': (p: { commandId: string; ok: boolean; reason?: string }) => {
        const w = this.waiting.get(p.commandId);
        this.waiting.delete(p.commandId);
        w?.({ ok: p.ok, ...(p.reason ? { reason: p.reason } : {}) });
        return { accepted: Boolean(w) };
      },
      'controller.assignments': () => ({ reservations: this.assignments }),
    } as unknown as Handlers<SchedulerApi>;
    const dispatcher = createDispatcher(schedulerApi, handlers, {
      'scheduler.events': () => () => undefined,
      'controller.commands': (_p, sink, ctx) => {
        const id = cloudletOf(ctx.principal as { role: string; cloudletId?: string });
        this.sinks.set(id, sink);
        return () => {
          if (this.sinks.get(id) === sink) this.sinks.delete(id);
        };
      },
    });
    this.server = new RpcServer({
      dispatcher,
      tokens: new TokenStore(cloudletIds.map((id, i) => ({ token: `${tokens.controller}-${i}`, principal: { role: 'controller' as const, name: `ctl-${id}`, cloudletId: id } }))),
      log: () => undefined,
    });
    const address = await this.server.listen('127.0.0.1', port);
    this.port = address.port;
    this.url = `ws://127.0.0.1:${address.port}`;
  }

  connected(cloudletId: string): boolean {
    return this.sinks.has(cloudletId);
  }

  send(cloudletId: string, body: Body, timeoutMs = 15_000): Promise<{ ok: boolean; reason?: string }> {
    const sink = this.sinks.get(cloudletId);
    if (!sink) return Promise.resolve({ ok: false, reason: 'not connected' });
    const commandId = `t-${this.next++}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no answer to ${body.kind} within ${timeoutMs} ms`)), timeoutMs);
      this.waiting.set(commandId, (a) => {
        clearTimeout(timer);
        resolve(a);
      });
      sink.push({ ...body, commandId } as ControllerCommand);
    });
  }

  /** Pushes an item as is (even one the contract does not allow) and waits for the answer to `commandId`. */
  sendRaw(cloudletId: string, item: Record<string, unknown> & { commandId: string }, timeoutMs = 5000): Promise<{ ok: boolean; reason?: string }> {
    const sink = this.sinks.get(cloudletId);
    if (!sink) return Promise.resolve({ ok: false, reason: 'not connected' });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no answer to ${item.commandId} within ${timeoutMs} ms`)), timeoutMs);
      this.waiting.set(item.commandId, (a) => {
        clearTimeout(timer);
        resolve(a);
      });
      sink.push(item as unknown as ControllerCommand);
    });
  }

  async close(): Promise<void> {
    await this.server?.close();
  }
}

export interface RunningController {
  url: string;
  child: ChildProcess;
  output: () => string;
  configFile: string;
  /** Graceful stop (SIGTERM) and wait. */
  stop(): Promise<void>;
  /** kill -9 and wait. */
  crash(): Promise<void>;
}

export function controllerConfig(dir: string, cloudletId: string, schedulerUrl: string, index: number, extra: Partial<ControllerConfigInput> = {}): ControllerConfigInput {
  return {
    cloudletId,
    scheduler: { url: schedulerUrl, token: `${tokens.controller}-${index}`, reportIntervalMs: 500, backoffMs: 100, maxBackoffMs: 1000 },
    listen: { host: '127.0.0.1', port: 0 },
    tokens: [
      { token: tokens.operator, role: 'operator', name: 'noc-alice' },
      { token: tokens.viewer, role: 'viewer', name: 'noc-bob' },
    ],
    nodes: [
      { id: `${cloudletId}-n1`, capacity: { cpu: 2, memMiB: 2048, diskGiB: 10, netMbps: 1000 } },
      { id: `${cloudletId}-n2`, capacity: { cpu: 2, memMiB: 2048, diskGiB: 10, netMbps: 1000 } },
    ],
    stateDir: join(dir, `state-${cloudletId}`),
    sandbox: { graceMs: 1500 },
    ...extra,
  };
}

export function tempDir(name: string, worldWritable = false): string {
  const dir = mkdtempSync(join(tmpdir(), `pcloud-${name}-`));
  // A root controller refuses a VI whose user could not reach its directory below (mkdtemp makes 0700).
  chmodSync(dir, worldWritable ? 0o777 : 0o711);
  return dir;
}

/** Starts `pcctl controller --config FILE`; `asUser` runs it through setpriv as that uid. */
export async function startController(config: ControllerConfigInput, dir: string, asUser?: number): Promise<RunningController> {
  const configFile = join(dir, `controller-${config.cloudletId}.json`);
  writeFileSync(configFile, JSON.stringify(config, null, 2), { mode: 0o644 });
  const node = [process.execPath, '--disable-warning=ExperimentalWarning', join(repoRoot, 'main/cli/pcctl.ts'), 'controller', '--config', configFile];
  const [file, ...args] = asUser === undefined ? node : ['setpriv', `--reuid=${asUser}`, `--regid=${asUser}`, '--clear-groups', '--', ...node];
  const child = spawn(file as string, args, { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, HOME: dir } });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      // A controller that hangs in start-up must not outlive the test.
      child.kill('SIGKILL');
      reject(new Error(`controller printed no URL in 20 s:\n${out}`));
    }, 20_000);
    const check = (): void => {
      const m = /listening on (ws:\/\/\S+?)(,|\s)/.exec(out);
      if (m?.[1]) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    };
    child.stdout?.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`controller exited (${code}) before listening:\n${out}`));
    });
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  return {
    url,
    child,
    output: () => out,
    configFile,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 15_000))]);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
    async crash() {
      child.kill('SIGKILL');
      await exited;
    },
  };
}

export async function operatorClient(url: string, token = tokens.operator): Promise<RpcClient<typeof controllerApi>> {
  const client = new RpcClient(controllerApi, { url, token, timeoutMs: 30_000, client: 'test' });
  await client.connect();
  return client;
}

/** Pids of live processes whose environment has `marker` (e.g. PCLOUD_VI_ID=vi-r1), exactly or as a prefix. */
export function pidsWithEnv(marker: string, exact = true): number[] {
  const needle = Buffer.from(exact ? `${marker}\0` : marker);
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) continue;
      if (readFileSync(`/proc/${name}/environ`).includes(needle)) pids.push(Number(name));
    } catch {
      // Gone or unreadable.
    }
  }
  return pids;
}

export async function waitFor<T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export function profileOf(t0: number, t1: number, cpu = 0.5, memMiB = 256): Profile {
  return [{ from: t0, to: t1, capacity: { cpu, memMiB, diskGiB: 1, netMbps: 10 } }];
}

export function monitorService(args: Record<string, string> = {}, rules: ServiceSpec['rules'] = []): ServiceSpec {
  return { mode: 'visible', program: 'monitor', args: { 'interval-ms': '200', ...args }, rules };
}

/**
 * prepare + commit + start, as the scheduler does at admission and at t0. Answers the
 * prepare's refusal, or the start's answer; a refused commit throws (it never should).
 */
export async function hostReservation(
  s: StandInScheduler,
  cloudletId: string,
  id: string,
  opts: { nodeId?: string; t1?: number; providerId?: string; args?: Record<string, string>; rules?: ServiceSpec['rules']; service?: ServiceSpec; memMiB?: number } = {},
): Promise<{ ok: boolean; reason?: string }> {
  const t0 = Date.now();
  const t1 = opts.t1 ?? t0 + 600_000;
  const service = opts.service ?? monitorService(opts.args, opts.rules);
  const nodeId = opts.nodeId ?? `${cloudletId}-n1`;
  const providerId = opts.providerId ?? 'p1';
  const profile = profileOf(t0, t1, 0.5, opts.memMiB);
  const prepared = await s.send(cloudletId, { kind: 'prepare', reservationId: id, providerId, nodeId, t0, t1, profile, service, holdMs: 10_000 });
  if (!prepared.ok) return prepared;
  const committed = await s.send(cloudletId, { kind: 'commit', reservationId: id });
  if (!committed.ok) throw new Error(`commit of ${id} refused: ${committed.reason ?? ''}`);
  const started = await s.send(cloudletId, { kind: 'start', reservationId: id, nodeId, profile, service, t1 });
  // The controller's own clock may have started it at t0 (now) before the command arrived.
  return started.ok ? { ok: true } : started;
}

/** The controller's cgroup directories (packetcloud-<cloudletId>) that exist in any hierarchy. */
export function cgroupDirsOf(cloudletId: string): string[] {
  if (!existsSync('/sys/fs/cgroup')) return [];
  return readdirSync('/sys/fs/cgroup')
    .map((h) => join('/sys/fs/cgroup', h, `packetcloud-${cloudletId}`))
    .filter((d) => existsSync(d));
}

/** A reservation as the scheduler lists it in controller.assignments. */
export function assignment(id: string, cloudletId: string, nodeId: string, t0: number, t1: number, service: ServiceSpec, providerId = 'p1'): Reservation {
  return {
    id,
    providerId,
    requestorPopId: 'pop-a',
    preferredCloudletId: null,
    t0,
    t1,
    profile: profileOf(t0, t1),
    service,
    state: 'active',
    cloudletId,
    nodeId,
    price: 1,
    paid: 1,
    createdAt: t0,
    updatedAt: t0,
    reason: 'started',
  };
}
