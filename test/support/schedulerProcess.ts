/**
 * `pcctl scheduler --config FILE` as a real child process, resolved once it
 * prints the address it listens on (port 0 in the config picks a free one).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SchedulerConfig } from '../../main/scheduler/config.ts';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

export interface SchedulerProcess {
  child: ChildProcess;
  url: string;
  output: () => string;
}

/** Writes a parsed config (its database path already absolute) as `dir/scheduler.json` and returns the file. */
export function writeSchedulerConfig(config: SchedulerConfig, dir: string): string {
  const file = join(dir, 'scheduler.json');
  writeFileSync(file, JSON.stringify(config));
  return file;
}

/** Resolves once the child has exited (at once if it already has). */
export function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

export async function spawnScheduler(configFile: string): Promise<SchedulerProcess> {
  const child = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', 'main/cli/pcctl.ts', 'scheduler', '--config', configFile], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`scheduler printed no address in 20 s:\n${out}`)), 20_000);
    child.stdout?.on('data', () => {
      const m = /listening on (\S+)/.exec(out);
      if (m?.[1]) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    // 'close', not 'exit': by then everything it printed (the reason it stopped) has been read.
    child.once('close', (code) => {
      clearTimeout(timer);
      reject(new Error(`scheduler exited (${code}) before listening:\n${out}`));
    });
  });
  return { child, url, output: () => out };
}
