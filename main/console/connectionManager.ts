/**
 * What the console is connected to: the embedded lab or a saved remote
 * scheduler, and the controllers of its cloudlets. The backend holds these
 * connections and their tokens; the renderer only asks for relayed calls and
 * topics, and the caller's own role is checked against the daemon's contract
 * before anything is relayed, so a viewer cannot borrow the operator token.
 *
 * Relayed items keep the count of what the daemon dropped for this console
 * (`lost`), so the window learns of losses upstream as well as its own.
 *
 * A dropped scheduler connection is retried with exponential backoff and
 * jitter; relayed subscriptions end on every change, and consoles subscribe
 * again when `connection.changes` says connected.
 */
import type { ConnectionStatus } from '../protocol/consoleApi.ts';
import type { CallContext, Contract, TopicSink } from '../protocol/contract.ts';
import { RpcClient } from '../protocol/client.ts';
import { ErrorCode, RpcError } from '../protocol/errors.ts';
import type { Principal } from '../protocol/roles.ts';
import { schedulerApi, type SchedulerApi } from '../protocol/schedulerApi.ts';
import type { ProfileStore } from './profiles.ts';

/** A running embedded lab, as the supervisor reports it. */
export interface LabHandle {
  readonly topology: string;
  readonly schedulerUrl: string;
  /** Operator token accepted by the lab's scheduler and controllers. */
  readonly operatorToken: string;
  /** Token of the lab's demo provider, for filing reservations from a terminal. */
  readonly providerToken?: string;
  /** How its network runs (main/console/labNetwork.ts). */
  readonly mode?: { kind: 'namespaces' | 'userspace'; reason: string };
  stop(): Promise<void>;
}

export interface LabStarter {
  start(topology: string, onProgress: (done: number, total: number, what: string) => void): Promise<LabHandle>;
}

export interface ConnectionManagerOptions {
  lab: LabStarter;
  profiles: ProfileStore;
  /** Contract of the controllers' console-facing API, for relays to controllers. */
  controllerContract?: Contract;
  backoff?: { initialMs: number; maxMs: number };
}

type Target =
  | { kind: 'lab'; name: string; lab: LabHandle }
  | { kind: 'remote'; name: string; url: string; token: string };

function allowed(contract: Contract, method: string, principal: Principal, what: 'method' | 'topic'): void {
  const table: Record<string, { roles: readonly string[] }> = what === 'method' ? contract.methods : contract.topics;
  const spec = Object.hasOwn(table, method) ? table[method] : undefined;
  if (!spec) throw new RpcError(ErrorCode.MethodNotFound, `the ${contract.name} has no ${what} "${method}"`);
  if (!spec.roles.includes(principal.role)) {
    throw new RpcError(ErrorCode.Forbidden, `role "${principal.role}" may not use ${contract.name} ${method} (allowed: ${spec.roles.join(', ')})`);
  }
}

export class ConnectionManager {
  private status: ConnectionStatus = { kind: 'none', name: '', schedulerUrl: null, state: 'idle', message: 'not connected', progress: null };
  private target: Target | undefined;
  private scheduler: RpcClient<SchedulerApi> | undefined;
  private readonly controllers = new Map<string, Promise<RpcClient<Contract>>>();
  private readonly listeners = new Set<(status: ConnectionStatus) => void>();
  private readonly relayedSinks = new Set<TopicSink<unknown>>();
  private generation = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly options: ConnectionManagerOptions;

  constructor(options: ConnectionManagerOptions) {
    this.options = options;
  }

  current(): ConnectionStatus {
    return this.status;
  }

  onChange(listener: (status: ConnectionStatus) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async useLab(topology: string): Promise<ConnectionStatus> {
    const generation = await this.leave({ kind: 'lab', name: topology, schedulerUrl: null, state: 'starting', message: `starting the ${topology} lab`, progress: { done: 0, total: 1 } });
    let lab: LabHandle;
    try {
      lab = await this.options.lab.start(topology, (done, total, what) =>
        this.setStatus({ ...this.status, message: what, progress: { done, total } }),
      );
    } catch (e) {
      this.setStatus({ ...this.status, state: 'failed', message: `the ${topology} lab did not start: ${(e as Error).message}`, progress: null });
      return this.status;
    }
    if (generation !== this.generation) {
      await lab.stop();
      return this.status;
    }
    this.target = { kind: 'lab', name: topology, lab };
    if (lab.mode) this.status = { ...this.status, labMode: lab.mode };
    return this.connect(generation);
  }

  async useProfile(name: string): Promise<ConnectionStatus> {
    const profile = this.options.profiles.get(name);
    return this.useRemote(name, profile.schedulerUrl, this.options.profiles.token(name));
  }

  /** Connects to a scheduler given its URL and token (a profile, or `serve --scheduler`). */
  async useRemote(name: string, url: string, token: string): Promise<ConnectionStatus> {
    const generation = await this.leave({ kind: 'remote', name, schedulerUrl: url, state: 'starting', message: `connecting to ${url}`, progress: null });
    this.target = { kind: 'remote', name, url, token };
    return this.connect(generation);
  }

  async callScheduler(ctx: CallContext, method: string, params: unknown): Promise<unknown> {
    allowed(schedulerApi, method, ctx.principal, 'method');
    const client = this.requireScheduler();
    return client.call(method as never, params as never);
  }

  async subscribeScheduler(ctx: CallContext, topic: string, params: unknown, sink: TopicSink<unknown>): Promise<() => void> {
    allowed(schedulerApi, topic, ctx.principal, 'topic');
    const client = this.requireScheduler();
    return this.relay(sink, () => client.subscribe(topic as never, params as never, (item, lost) => sink.push(item, lost), () => sink.end()));
  }

  async callController(ctx: CallContext, cloudletId: string, method: string, params: unknown): Promise<unknown> {
    const contract = this.requireControllerContract();
    allowed(contract, method, ctx.principal, 'method');
    const client = await this.controller(cloudletId);
    return client.call(method, params as never);
  }

  async subscribeController(ctx: CallContext, cloudletId: string, topic: string, params: unknown, sink: TopicSink<unknown>): Promise<() => void> {
    const contract = this.requireControllerContract();
    allowed(contract, topic, ctx.principal, 'topic');
    const client = await this.controller(cloudletId);
    return this.relay(sink, () => client.subscribe(topic, params as never, (item, lost) => sink.push(item, lost), () => sink.end()));
  }

  async close(): Promise<void> {
    await this.leave({ kind: 'none', name: '', schedulerUrl: null, state: 'idle', message: 'closed', progress: null });
  }

  /** The token of the current connection, for terminals that run pcctl against it. */
  currentTarget(): { name: string; url: string; token: string; providerToken?: string } | undefined {
    if (!this.target) return undefined;
    const { lab } = this.target.kind === 'lab' ? this.target : { lab: undefined };
    if (lab) return { name: this.target.name, url: lab.schedulerUrl, token: lab.operatorToken, ...(lab.providerToken ? { providerToken: lab.providerToken } : {}) };
    const remote = this.target as Extract<Target, { kind: 'remote' }>;
    return { name: remote.name, url: remote.url, token: remote.token };
  }

  private async relay(sink: TopicSink<unknown>, subscribe: () => Promise<() => Promise<void>>): Promise<() => void> {
    const unsubscribe = await subscribe();
    this.relayedSinks.add(sink);
    return () => {
      this.relayedSinks.delete(sink);
      void unsubscribe();
    };
  }

  private requireScheduler(): RpcClient<SchedulerApi> {
    if (!this.scheduler?.connected) {
      throw new RpcError(ErrorCode.Unavailable, `not connected to a scheduler (${this.status.state}: ${this.status.message})`);
    }
    return this.scheduler;
  }

  private requireControllerContract(): Contract {
    if (!this.options.controllerContract) throw new RpcError(ErrorCode.Unavailable, 'this console was built without the controller contract');
    return this.options.controllerContract;
  }

  private controller(cloudletId: string): Promise<RpcClient<Contract>> {
    const existing = this.controllers.get(cloudletId);
    if (existing) return existing;
    const connecting = (async () => {
      const target = this.currentTarget();
      if (!target) throw new RpcError(ErrorCode.Unavailable, 'not connected');
      const topology = await this.requireScheduler().call('topology.get', {});
      const cloudlet = topology.cloudlets.find((c) => c.id === cloudletId);
      if (!cloudlet) throw new RpcError(ErrorCode.NotFound, `no cloudlet "${cloudletId}" (known: ${topology.cloudlets.map((c) => c.id).join(', ')})`);
      if (!cloudlet.controllerUrl) throw new RpcError(ErrorCode.Unavailable, `cloudlet ${cloudletId}'s controller has not said where consoles reach it yet`);
      const client = new RpcClient(this.requireControllerContract(), { url: cloudlet.controllerUrl, token: target.token, client: 'packetcloud-console' });
      await client.connect();
      client.onClosed(() => this.controllers.delete(cloudletId));
      return client;
    })();
    this.controllers.set(cloudletId, connecting);
    connecting.catch(() => this.controllers.delete(cloudletId));
    return connecting;
  }

  private async connect(generation: number, attempt = 0): Promise<ConnectionStatus> {
    const target = this.currentTarget();
    if (!target || generation !== this.generation) return this.status;
    const client = new RpcClient(schedulerApi, { url: target.url, token: target.token, client: 'packetcloud-console', timeoutMs: 15_000 });
    try {
      await client.connect();
    } catch (e) {
      const error = e as RpcError;
      // A refused token will not get better by retrying.
      if (error.code === ErrorCode.Unauthenticated || error.code === ErrorCode.VersionMismatch) {
        this.setStatus({ ...this.status, schedulerUrl: target.url, state: 'failed', message: `${target.url} refused this console: ${error.message}`, progress: null });
        return this.status;
      }
      this.scheduleRetry(generation, attempt, error.message);
      return this.status;
    }
    if (generation !== this.generation) {
      client.close();
      return this.status;
    }
    this.scheduler = client;
    client.onClosed((reason) => {
      if (generation !== this.generation || this.scheduler !== client) return;
      this.scheduler = undefined;
      this.endRelays();
      this.scheduleRetry(generation, 0, reason);
    });
    this.setStatus({ ...this.status, schedulerUrl: target.url, state: 'connected', message: `connected to ${target.url}`, progress: null });
    return this.status;
  }

  private scheduleRetry(generation: number, attempt: number, reason: string): void {
    const { initialMs, maxMs } = this.options.backoff ?? { initialMs: 500, maxMs: 10_000 };
    const delay = Math.min(maxMs, initialMs * 2 ** attempt) * (0.5 + Math.random() / 2);
    this.setStatus({ ...this.status, state: 'reconnecting', message: `${reason}; retrying in ${(delay / 1000).toFixed(1)} s`, progress: null });
    this.retryTimer = setTimeout(() => void this.connect(generation, attempt + 1), delay);
    this.retryTimer.unref();
  }

  private endRelays(): void {
    for (const sink of [...this.relayedSinks]) sink.end();
    this.relayedSinks.clear();
    for (const pending of this.controllers.values()) void pending.then((c) => c.close(), () => undefined);
    this.controllers.clear();
  }

  /**
   * Drops the current connection (and stops the lab if it was ours); returns
   * the new generation. `next` is announced before the old lab is stopped,
   * which takes seconds: nobody may believe the old connection is still up
   * meanwhile.
   */
  private async leave(next: ConnectionStatus): Promise<number> {
    const generation = ++this.generation;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.endRelays();
    this.scheduler?.close();
    this.scheduler = undefined;
    const target = this.target;
    this.target = undefined;
    if (target?.kind === 'lab') {
      this.setStatus({ ...next, message: `stopping the ${target.name} lab, then ${next.message}`, progress: next.progress ?? null });
      await target.lab.stop();
    }
    if (generation === this.generation) this.setStatus(next);
    return generation;
  }

  private setStatus(status: ConnectionStatus): void {
    this.status = status;
    for (const listener of this.listeners) listener(status);
  }
}
