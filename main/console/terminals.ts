/**
 * Terminal sessions owned by the console backend.
 *
 * Who may call: the console API handlers, on behalf of one connection (a
 * window or a headless-host browser tab). What it trusts: nothing from the
 * renderer but the session id, the attach token and sizes, all schema-checked.
 * What it bounds: sessions per owner, input size (by the contract).
 *
 * A session is opened first (returning a single-use attach token) and spawned
 * when its frame stream attaches, so no output is lost before anyone listens.
 * Spawn failures are written into the terminal as an error status frame,
 * never left as a silent "connecting". Only processes this module spawned are
 * ever signalled: it keeps the node-pty handle and signals through it, never
 * by pid lookup or name.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { accessSync, constants } from 'node:fs';
import { constants as osConstants, homedir } from 'node:os';
import { spawn as spawnPty, type IPty } from 'node-pty';
import type { TerminalFrame, TerminalTarget } from '../protocol/consoleApi.ts';
import { ErrorCode, RpcError } from '../protocol/errors.ts';

export interface TerminalLaunch {
  file: string;
  args: string[];
  env: Record<string, string>;
  cwd: string;
  title: string;
  /** For a shell set up for one connection (pcctl's URL and token): which one, so it ends with it. */
  connection?: string;
}

/** Turns a target into the program to run (the local shell, or a shell with pcctl set up for the connection). */
export type LaunchResolver = (target: TerminalTarget) => TerminalLaunch;

export function defaultShell(env: NodeJS.ProcessEnv = process.env): string {
  return env.SHELL && env.SHELL.length > 0 ? env.SHELL : '/bin/sh';
}

/** The console's own environment, for a terminal: what the user's shell would get. */
export function terminalEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
  // Never pass the console's own secrets or Electron's mode switches to a shell.
  for (const k of Object.keys(env)) if (k.startsWith('ELECTRON_') || k === 'PCLOUD_SCHEDULER_TOKEN') delete env[k];
  env.TERM = 'xterm-256color';
  env.COLORTERM = 'truecolor';
  return env;
}

export const resolveLocalShell: LaunchResolver = () => {
  const file = defaultShell();
  return { file, args: [], env: terminalEnv(), cwd: homedir(), title: `local: ${file}` };
};

type FrameListener = (frame: TerminalFrame) => void;

interface Session {
  readonly id: string;
  readonly owner: string;
  readonly title: string;
  readonly launch: TerminalLaunch;
  cols: number;
  rows: number;
  attachToken: Buffer | undefined;
  pty: IPty | undefined;
  state: 'starting' | 'running' | 'exited' | 'failed';
  listener: FrameListener | undefined;
  killTimer: NodeJS.Timeout | undefined;
}

export interface TerminalSessionsOptions {
  resolve?: LaunchResolver;
  maxPerOwner?: number;
  /** Time between SIGHUP and SIGKILL when closing a session whose process lingers. */
  killGraceMs?: number;
}

export class TerminalSessions {
  private readonly sessions = new Map<string, Session>();
  private nextId = 1;
  private readonly resolve: LaunchResolver;
  private readonly maxPerOwner: number;
  private readonly killGraceMs: number;

  constructor(options: TerminalSessionsOptions = {}) {
    this.resolve = options.resolve ?? resolveLocalShell;
    this.maxPerOwner = options.maxPerOwner ?? 32;
    this.killGraceMs = options.killGraceMs ?? 2000;
  }

  open(owner: string, target: TerminalTarget, cols: number, rows: number): { sessionId: string; attachToken: string; title: string } {
    const owned = [...this.sessions.values()].filter((s) => s.owner === owner).length;
    if (owned >= this.maxPerOwner) throw new RpcError(ErrorCode.Conflict, `at most ${this.maxPerOwner} terminal sessions per window; close one first`);
    const launch = this.resolve(target);
    const token = randomBytes(24).toString('base64url');
    const session: Session = {
      id: `t${this.nextId++}`,
      owner,
      title: launch.title,
      launch,
      cols,
      rows,
      attachToken: Buffer.from(token),
      pty: undefined,
      state: 'starting',
      listener: undefined,
      killTimer: undefined,
    };
    this.sessions.set(session.id, session);
    return { sessionId: session.id, attachToken: token, title: session.title };
  }

  /** Spends the attach token, starts the process and streams its frames to `listener`. */
  attach(owner: string, sessionId: string, attachToken: string, listener: FrameListener): () => void {
    const session = this.owned(owner, sessionId);
    const presented = Buffer.from(attachToken);
    const expected = session.attachToken;
    if (!expected || presented.length !== expected.length || !timingSafeEqual(presented, expected)) {
      throw new RpcError(ErrorCode.Forbidden, `attach token for ${sessionId} is wrong or already used`);
    }
    session.attachToken = undefined;
    session.listener = listener;
    this.spawn(session);
    return () => {
      session.listener = undefined;
    };
  }

  input(owner: string, sessionId: string, data: string): void {
    const session = this.owned(owner, sessionId);
    if (session.state !== 'running' || !session.pty) throw new RpcError(ErrorCode.Conflict, `terminal ${sessionId} is ${session.state}, not running`);
    session.pty.write(data);
  }

  resize(owner: string, sessionId: string, cols: number, rows: number): void {
    const session = this.owned(owner, sessionId);
    session.cols = cols;
    session.rows = rows;
    if (session.state === 'running') session.pty?.resize(cols, rows);
  }

  close(owner: string, sessionId: string): void {
    this.end(this.owned(owner, sessionId));
  }

  list(owner: string): { sessionId: string; title: string; state: Session['state']; pid: number | null }[] {
    return [...this.sessions.values()]
      .filter((s) => s.owner === owner)
      .map((s) => ({ sessionId: s.id, title: s.title, state: s.state, pid: s.pty?.pid ?? null }));
  }

  /**
   * Ends the sessions set up for a connection other than `current` (the
   * console switched away: their pcctl URL and token are dead), after telling
   * their terminal why. Sessions not yet attached are dropped.
   */
  endConnectionSessions(current: string | undefined, message: (connection: string) => string): void {
    for (const s of [...this.sessions.values()]) {
      const connection = s.launch.connection;
      if (connection === undefined || connection === current) continue;
      this.emit(s, { kind: 'status', level: 'error', message: message(connection) });
      this.end(s);
    }
  }

  /** Ends every session of one owner (its window or tab went away). */
  closeOwnedBy(owner: string): void {
    for (const s of [...this.sessions.values()]) if (s.owner === owner) this.end(s);
  }

  /** Ends everything; resolves when every process this module started has exited. */
  async closeAll(): Promise<void> {
    const live = [...this.sessions.values()].filter((s) => s.state === 'running');
    const exits = live.map((s) => new Promise<void>((resolve) => s.pty?.onExit(() => resolve())));
    for (const s of [...this.sessions.values()]) this.end(s);
    await Promise.race([Promise.all(exits), new Promise((r) => setTimeout(r, this.killGraceMs + 1000))]);
  }

  private owned(owner: string, sessionId: string): Session {
    const session = this.sessions.get(sessionId);
    if (!session || session.owner !== owner) throw new RpcError(ErrorCode.NotFound, `no terminal session ${sessionId} in this window`);
    return session;
  }

  private emit(session: Session, frame: TerminalFrame): void {
    session.listener?.(frame);
  }

  private spawn(session: Session): void {
    const { file, args, env, cwd } = session.launch;
    try {
      accessSync(file, constants.X_OK);
    } catch {
      return this.fail(session, `cannot start ${file}: not found or not executable (set $SHELL to a shell that exists)`);
    }
    let pty: IPty;
    try {
      pty = spawnPty(file, args, { name: 'xterm-256color', cols: session.cols, rows: session.rows, cwd, env });
    } catch (e) {
      return this.fail(session, `cannot start ${file}: ${(e as Error).message}`);
    }
    session.pty = pty;
    session.state = 'running';
    this.emit(session, { kind: 'status', level: 'info', message: `started ${session.title} (pid ${pty.pid})` });
    pty.onData((data) => this.emit(session, { kind: 'data', data }));
    pty.onExit(({ exitCode, signal }) => {
      if (session.killTimer) clearTimeout(session.killTimer);
      session.state = 'exited';
      session.pty = undefined;
      this.emit(session, { kind: 'exit', exitCode, signal: signal ? signalName(signal) : null });
      this.sessions.delete(session.id);
    });
  }

  private fail(session: Session, message: string): void {
    session.state = 'failed';
    this.emit(session, { kind: 'status', level: 'error', message });
    this.emit(session, { kind: 'exit', exitCode: null, signal: null });
    this.sessions.delete(session.id);
  }

  private end(session: Session): void {
    const pty = session.pty;
    if (!pty) {
      this.sessions.delete(session.id);
      return;
    }
    if (session.killTimer) return;
    // SIGHUP is what a closing terminal sends; escalate only to our own child.
    pty.kill('SIGHUP');
    session.killTimer = setTimeout(() => {
      if (session.pty === pty) pty.kill('SIGKILL');
    }, this.killGraceMs);
    session.killTimer.unref();
  }
}

function signalName(signal: number): string {
  const found = Object.entries(osConstants.signals).find(([, n]) => n === signal);
  return found ? found[0] : `signal ${signal}`;
}
