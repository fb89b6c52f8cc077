/**
 * `pcctl scheduler --config FILE` as a real child process, resolved once it
 * prints the address it listens on (port 0 in the config picks a free one).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

export interface SchedulerProcess {
  child: ChildProcess;
  url: string;
  output: () => string;
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
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`scheduler exited (${code}) before listening:\n${out}`));
    });
  });
  return { child, url, output: () => out };
}
