/**
 * The console backend: implements the console API (main/protocol/consoleApi.ts)
 * without any Electron import, so the Electron shell and the headless host
 * serve exactly the same behaviour through one dispatcher.
 */
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { z } from 'zod';
import { createDispatcher, type Dispatcher } from '../protocol/dispatcher.ts';
import { consoleApi, type AppInfo } from '../protocol/consoleApi.ts';
import type { Contract } from '../protocol/contract.ts';
import { ConnectionManager, type LabStarter } from './connectionManager.ts';
import { experiments } from './experiments/catalog.ts';
import { ExperimentRunner } from './experiments/runner.ts';
import { readJsonFile, writeJsonFile } from './jsonFile.ts';
import { defaultLabTopology, listLabTopologies } from './labTopology.ts';
import { LayoutStore } from './layoutStore.ts';
import { ProfileStore, type TokenVault } from './profiles.ts';
import { ErrorCode, RpcError } from '../protocol/errors.ts';
import { ensurePcctlShim } from './pcctlShim.ts';
import { TerminalSessions, defaultShell, resolveLocalShell, terminalEnv, type LaunchResolver, type TerminalSessionsOptions } from './terminals.ts';

export interface ConsoleBackendOptions {
  version: string;
  transport: AppInfo['transport'];
  dataDir: string;
  /** How profile tokens are sealed: safeStorage in Electron, a 0600 file headless. */
  vault: TokenVault;
  /** Starts the embedded lab (child processes under Node, utility processes in Electron). */
  lab: LabStarter;
  controllerContract?: Contract;
  terminals?: TerminalSessionsOptions;
  /** The paper's experiments (default: every one in experiments/catalog.ts, results in the data folder). */
  experiments?: ExperimentRunner;
}

/** What a pcctl shell was set up for: the connection's name and scheduler URL. */
function connectionKey(target: { name: string; url: string }): string {
  return `${target.name} ${target.url}`;
}

const LastConnectionSchema = z.object({
  last: z.discriminatedUnion('kind', [z.object({ kind: z.literal('lab'), topology: z.string() }), z.object({ kind: z.literal('remote'), profile: z.string() })]).nullable(),
});

export interface ConsoleBackend {
  readonly dispatcher: Dispatcher;
  readonly terminals: TerminalSessions;
  readonly connections: ConnectionManager;
  readonly experiments: ExperimentRunner;
  /**
   * Connects where the operator last was, or else starts the embedded lab on
   * the default topology: a newcomer sees a living network at once.
   */
  connectDefault(): Promise<void>;
  /** A window or browser tab went away: end what it owned. */
  disconnect(connectionId: string): void;
  close(): Promise<void>;
}

export function createConsoleBackend(options: ConsoleBackendOptions): ConsoleBackend {
  const profiles = new ProfileStore(options.dataDir, options.vault);
  const layouts = new LayoutStore(options.dataDir);
  const connections = new ConnectionManager({
    lab: options.lab,
    profiles,
    ...(options.controllerContract ? { controllerContract: options.controllerContract } : {}),
  });
  // A "connection" terminal is a shell whose pcctl talks to what the console is connected to.
  const resolveTarget: LaunchResolver = (target) => {
    if (target.kind === 'local') return resolveLocalShell(target);
    const current = connections.currentTarget();
    if (!current) throw new RpcError(ErrorCode.Unavailable, 'not connected: start the lab or pick a profile before opening a pcctl terminal');
    const env = terminalEnv();
    env.PATH = `${ensurePcctlShim(options.dataDir)}${delimiter}${env.PATH ?? '/usr/bin:/bin'}`;
    env.PCLOUD_SCHEDULER_URL = current.url;
    env.PCLOUD_TOKEN = current.token;
    if (current.providerToken) env.PCLOUD_PROVIDER_TOKEN = current.providerToken;
    const file = defaultShell();
    return { file, args: [], env, cwd: homedir(), title: `pcctl: ${current.name}`, connection: connectionKey(current) };
  };
  const terminals = new TerminalSessions({ resolve: resolveTarget, ...options.terminals });
  // A pcctl shell holds the URL and token of the connection it was opened on: when the console
  // switches elsewhere (or restarts the lab, which gets a new URL), those shells end, saying why.
  connections.onChange(() => {
    const current = connections.currentTarget();
    terminals.endConnectionSessions(current ? connectionKey(current) : undefined, (key) =>
      `the console left ${key.split(' ')[0]}: this pcctl shell was set up for that connection and is closed; open a new pcctl terminal`,
    );
  });
  const experimentRunner = options.experiments ?? new ExperimentRunner(options.dataDir, experiments);
  const settingsFile = join(options.dataDir, 'connection.json');
  const remember = (last: z.infer<typeof LastConnectionSchema>['last']): void => writeJsonFile(settingsFile, { last }, 0o600);
  const useLab = async (topology: string) => {
    const status = await connections.useLab(topology);
    if (status.state === 'connected') remember({ kind: 'lab', topology });
    return status;
  };
  const useProfile = async (name: string) => {
    const status = await connections.useProfile(name);
    if (status.state !== 'failed') remember({ kind: 'remote', profile: name });
    return status;
  };
  const dispatcher = createDispatcher(
    consoleApi,
    {
      'app.info': () => ({
        name: 'PacketCloud Console',
        version: options.version,
        platform: `${process.platform}-${process.arch}`,
        transport: options.transport,
        dataDir: options.dataDir,
      }),
      'terminal.open': (p, ctx) => terminals.open(ctx.connectionId, p.target, p.cols, p.rows),
      'terminal.input': (p, ctx) => {
        terminals.input(ctx.connectionId, p.sessionId, p.data);
        return {};
      },
      'terminal.resize': (p, ctx) => {
        terminals.resize(ctx.connectionId, p.sessionId, p.cols, p.rows);
        return {};
      },
      'terminal.close': (p, ctx) => {
        terminals.close(ctx.connectionId, p.sessionId);
        return {};
      },
      'terminal.list': (_p, ctx) => terminals.list(ctx.connectionId),
      'connection.status': () => connections.current(),
      'connection.useLab': (p) => useLab(p.topology ?? defaultLabTopology),
      'connection.useProfile': (p) => useProfile(p.name),
      'lab.topologies': () =>
        listLabTopologies().map((t) => ({
          name: t.name,
          title: t.title,
          description: t.description,
          // Hosts are end points of the lab, not PoPs: only routers count as PoPs.
          pops: t.pops.filter((p) => p.kind !== 'host').length,
          nodes: t.cloudlets.reduce((n, c) => n + c.nodes.length, 0),
        })),
      'profile.list': () => profiles.list(),
      'profile.save': (p) => {
        profiles.save({ name: p.name, schedulerUrl: p.schedulerUrl }, p.token);
        return {};
      },
      'profile.remove': (p) => {
        profiles.remove(p.name);
        return {};
      },
      'layout.get': (p) => ({ positions: layouts.get(p.topology) }),
      'layout.save': (p) => {
        layouts.save(p.topology, p.positions);
        return {};
      },
      'experiment.list': () => experimentRunner.list(),
      'experiment.start': (p) => {
        const { progress, finished } = experimentRunner.start(p.name, { quick: p.quick });
        // The outcome reaches the console as the last progress item (state done or failed, with the error).
        finished.catch(() => undefined);
        return progress;
      },
      'experiment.status': () => experimentRunner.current(),
      'experiment.lastRun': (p) => experimentRunner.lastRun(p.name),
      'scheduler.call': (p, ctx) => connections.callScheduler(ctx, p.method, p.params),
      'controller.call': (p, ctx) => connections.callController(ctx, p.cloudletId, p.method, p.params),
    },
    {
      'terminal.frames': (p, sink, ctx) =>
        terminals.attach(ctx.connectionId, p.sessionId, p.attachToken, (frame) => {
          sink.push(frame);
          if (frame.kind === 'exit') sink.end();
        }),
      'experiment.progress': (_p, sink) => {
        const now = experimentRunner.current();
        if (now) sink.push(now);
        return experimentRunner.onProgress((p) => sink.push(p));
      },
      'connection.changes': (_p, sink) => {
        sink.push(connections.current());
        return connections.onChange((status) => sink.push(status));
      },
      'scheduler.subscribe': (p, sink, ctx) => connections.subscribeScheduler(ctx, p.topic, p.params, sink),
      'controller.subscribe': (p, sink, ctx) => connections.subscribeController(ctx, p.cloudletId, p.topic, p.params, sink),
    },
  );
  return {
    dispatcher,
    terminals,
    connections,
    experiments: experimentRunner,
    connectDefault: async () => {
      const { last } = readJsonFile(settingsFile, LastConnectionSchema, { last: null });
      if (last?.kind === 'remote' && profiles.list().some((p) => p.name === last.profile)) {
        await useProfile(last.profile);
        return;
      }
      const known = listLabTopologies().map((t) => t.name);
      await useLab(last?.kind === 'lab' && known.includes(last.topology) ? last.topology : defaultLabTopology);
    },
    disconnect: (connectionId) => terminals.closeOwnedBy(connectionId),
    close: async () => {
      await Promise.all([terminals.closeAll(), connections.close(), experimentRunner.abandon()]);
    },
  };
}
