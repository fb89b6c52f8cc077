/**
 * Starting the lab's daemons. Under Node they are child processes running
 * pcctl; in the packaged Electron app they are utility processes
 * (main/shell/utilityLauncher.ts implements the same interface), so the lab
 * supervisor never knows which it has.
 */
import { spawn } from 'node:child_process';
import { existsSync, openSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface ProcessExit {
  code: number | null;
  signal: string | null;
}

export interface LaunchedProcess {
  readonly name: string;
  readonly pid: number | undefined;
  readonly exited: Promise<ProcessExit>;
  kill(signal?: NodeJS.Signals): void;
  /** The last few kilobytes of what it printed, for error messages. */
  output(): string;
}

export interface LaunchOptions {
  env?: Record<string, string>;
  /** Keep running after this process exits (pcctl lab up). Output then goes to `logFile`. */
  detached?: boolean;
  logFile?: string;
}

export interface ProcessLauncher {
  /** Runs `pcctl <args>` as a separate process. */
  launch(name: string, args: string[], options?: LaunchOptions): LaunchedProcess;
}

/** pcctl's entry: the bundle (dist/main/pcctl.js, beside this chunk or one folder up) when built, else the source. */
export function pcctlEntry(): { file: string; execArgv: string[] } {
  const here = dirname(fileURLToPath(import.meta.url));
  const bundled = [join(here, 'pcctl.js'), join(here, '..', 'pcctl.js')].find((f) => existsSync(f));
  if (bundled) return { file: bundled, execArgv: [] };
  return { file: join(here, '..', 'cli', 'pcctl.ts'), execArgv: ['--disable-warning=ExperimentalWarning'] };
}

const outputLimit = 16 * 1024;

export const childProcessLauncher: ProcessLauncher = {
  launch(name, args, options = {}) {
    const entry = pcctlEntry();
    const logFd = options.logFile ? openSync(options.logFile, 'a', 0o600) : undefined;
    const child = spawn(process.execPath, [...entry.execArgv, entry.file, ...args], {
      env: { ...process.env, ...options.env },
      detached: options.detached ?? false,
      stdio: logFd !== undefined ? ['ignore', logFd, logFd] : ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    const keep = (d: Buffer): void => {
      out = (out + d.toString()).slice(-outputLimit);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    const exited = new Promise<ProcessExit>((resolve) => {
      child.once('exit', (code, signal) => resolve({ code, signal }));
      child.once('error', (e) => {
        out += `\n${e.message}`;
        resolve({ code: null, signal: null });
      });
    });
    if (options.detached) child.unref();
    return {
      name,
      pid: child.pid,
      exited,
      kill: (signal = 'SIGTERM') => {
        // Signal through our own handle: never a pid looked up elsewhere.
        if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      },
      output: () => (options.logFile && existsSync(options.logFile) ? readFileSync(options.logFile, 'utf8').slice(-outputLimit) : out),
    };
  },
};
