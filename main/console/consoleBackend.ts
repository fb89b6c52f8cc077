/**
 * The console backend: implements the console API (main/protocol/consoleApi.ts)
 * without any Electron import, so the Electron shell and the headless host
 * serve exactly the same behaviour through one dispatcher.
 */
import { createDispatcher, type Dispatcher } from '../protocol/dispatcher.ts';
import { consoleApi, type AppInfo } from '../protocol/consoleApi.ts';
import { TerminalSessions, type TerminalSessionsOptions } from './terminals.ts';

export interface ConsoleBackendOptions {
  version: string;
  transport: AppInfo['transport'];
  dataDir: string;
  terminals?: TerminalSessionsOptions;
}

export interface ConsoleBackend {
  readonly dispatcher: Dispatcher;
  readonly terminals: TerminalSessions;
  /** A window or browser tab went away: end what it owned. */
  disconnect(connectionId: string): void;
  close(): Promise<void>;
}

export function createConsoleBackend(options: ConsoleBackendOptions): ConsoleBackend {
  const terminals = new TerminalSessions(options.terminals);
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
    },
    {
      'terminal.frames': (p, sink, ctx) => {
        const detach = terminals.attach(ctx.connectionId, p.sessionId, p.attachToken, (frame) => {
          sink.push(frame);
          if (frame.kind === 'exit') sink.end();
        });
        return detach;
      },
    },
  );
  return {
    dispatcher,
    terminals,
    disconnect: (connectionId) => terminals.closeOwnedBy(connectionId),
    close: () => terminals.closeAll(),
  };
}
