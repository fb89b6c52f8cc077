/**
 * `pcctl lab up | status | down` with real processes: the lab outlives the
 * command that started it, status reports what the scheduler sees, and down
 * ends exactly the processes up started.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { pcctlWith, repoRoot } from './harness.ts';

const dataDir = mkdtempSync(join(tmpdir(), 'pcloud-lab-cli-'));

const pcctl = pcctlWith(dataDir);

const stateFile = join(dataDir, 'lab', 'deterlab', 'lab-state.json');
let pids: number[] = [];

afterAll(async () => {
  await pcctl('lab', 'down');
  for (const pid of pids) if (existsSync(`/proc/${pid}`)) process.kill(pid, 'SIGKILL');
});

describe('pcctl lab', () => {
  test('status before up says it is not up (exit 3)', async () => {
    const r = await pcctl('lab', 'status', '--topology', 'deterlab');
    expect(r.code).toBe(3);
    expect(r.stdout).toContain('the deterlab lab is not up');
    const any = await pcctl('lab', 'status');
    expect(any.code).toBe(3);
    expect(any.stdout).toContain('no lab is up');
  });

  test('up starts a scheduler and two controllers that outlive pcctl, with tokens in a 0600 file', async () => {
    const r = await pcctl('lab', 'up', '--topology', 'deterlab');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/export PCLOUD_SCHEDULER_URL=ws:\/\/127\.0\.0\.1:\d+/);
    // Each controller's console API, for pcctl cloudlet --url.
    expect(r.stdout).toMatch(/controller-C1 +ws:\/\/127\.0\.0\.1:\d+\n +controller-C2 +ws:\/\/127\.0\.0\.1:\d+/);
    const state = JSON.parse(readFileSync(stateFile, 'utf8')) as { processes: { name: string; pid: number }[] };
    expect(state.processes.map((p) => p.name)).toEqual(['scheduler', 'controller-C1', 'controller-C2']);
    pids = state.processes.map((p) => p.pid);
    for (const pid of pids) expect(existsSync(`/proc/${pid}`)).toBe(true);
    expect(statSync(stateFile).mode & 0o777).toBe(0o600);
  });

  test('status lists the processes running and both cloudlets connected', async () => {
    const r = await pcctl('lab', 'status', '--topology', 'deterlab', '--json');
    expect(r.code).toBe(0);
    const status = JSON.parse(r.stdout) as { up: boolean; processes: { running: boolean }[]; scheduler: { cloudlets: { id: string; connected: boolean }[] } };
    expect(status.up).toBe(true);
    expect(status.processes.every((p) => p.running)).toBe(true);
    expect(status.scheduler.cloudlets).toEqual([expect.objectContaining({ id: 'C1', connected: true }), expect.objectContaining({ id: 'C2', connected: true })]);
  });

  test('up again does not start a second lab', async () => {
    const r = await pcctl('lab', 'up');
    expect(r.stdout).toContain('already up');
    const state = JSON.parse(readFileSync(stateFile, 'utf8')) as { processes: { pid: number }[] };
    expect(state.processes.map((p) => p.pid)).toEqual(pids);
  });

  test('down ends every process it started', async () => {
    const r = await pcctl('lab', 'down');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('stopped scheduler');
    // Gone, not zombies: detached children were re-parented and reaped by init.
    await expect.poll(() => pids.filter((pid) => existsSync(`/proc/${pid}`) && !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z ')), { timeout: 15_000 }).toEqual([]);
    expect((await pcctl('lab', 'status')).code).toBe(3);
  });

  test('a start interrupted by SIGKILL is recorded as it goes: status without --topology reports it, down stops it', async () => {
    const globalwanState = join(dataDir, 'lab', 'globalwan', 'lab-state.json');
    const up = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', 'main/cli/pcctl.ts', 'lab', 'up', '--topology', 'globalwan'], {
      cwd: repoRoot,
      env: { ...process.env, PCLOUD_DATA_DIR: dataDir },
      stdio: 'ignore',
    });
    const exited = new Promise((r) => up.once('exit', r));
    // Killed as soon as the scheduler is recorded, while the controllers are still to come.
    const recorded = (): { ready: boolean; processes: { pid: number }[] } | null => {
      try {
        return JSON.parse(readFileSync(globalwanState, 'utf8')) as { ready: boolean; processes: { pid: number }[] } | null;
      } catch {
        return null;
      }
    };
    await expect.poll(() => recorded()?.processes.length ?? 0, { timeout: 60_000, interval: 20 }).toBeGreaterThan(0);
    up.kill('SIGKILL');
    await exited;
    const state = recorded();
    expect(state?.ready).toBe(false);
    const survivors = state?.processes.map((p) => p.pid) ?? [];
    pids.push(...survivors);
    expect(survivors.some((pid) => existsSync(`/proc/${pid}`))).toBe(true);
    const status = await pcctl('lab', 'status');
    expect(status.stdout).toContain('lab globalwan (still starting, or its start was interrupted)');
    const down = await pcctl('lab', 'down');
    expect(down.stdout).toContain('globalwan: stopped scheduler');
    await expect.poll(() => survivors.filter((pid) => existsSync(`/proc/${pid}`) && !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z ')), { timeout: 15_000 }).toEqual([]);
  });

  test('Ctrl-C on the headless host while its lab is starting stops every lab process it had started', async () => {
    const serveDir = mkdtempSync(join(tmpdir(), 'pcloud-serve-int-'));
    const state = join(serveDir, 'lab', 'globalwan', 'lab-state.json');
    const host = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', 'main/console/headlessMain.ts', '--port', '0', '--lab', 'globalwan'], {
      cwd: repoRoot,
      env: { ...process.env, PCLOUD_DATA_DIR: serveDir },
      stdio: 'ignore',
    });
    const exited = new Promise((r) => host.once('exit', r));
    const recorded = (): { ready: boolean; processes: { pid: number }[] } | null => {
      try {
        return JSON.parse(readFileSync(state, 'utf8')) as { ready: boolean; processes: { pid: number }[] } | null;
      } catch {
        return null;
      }
    };
    await expect.poll(() => recorded()?.processes.length ?? 0, { timeout: 60_000, interval: 20 }).toBeGreaterThan(0);
    const starting = recorded();
    // Recorded while still starting (five controllers to go), not only once up.
    expect(starting?.ready).toBe(false);
    const started = starting?.processes.map((p) => p.pid) ?? [];
    pids.push(...started);
    host.kill('SIGINT');
    await exited;
    // Whatever it had launched by then, and anything launched while it shut down, is gone.
    const all = [...new Set([...started, ...(recorded()?.processes.map((p) => p.pid) ?? [])])];
    pids.push(...all);
    await expect.poll(() => all.filter((pid) => existsSync(`/proc/${pid}`) && !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z ')), { timeout: 15_000 }).toEqual([]);
  });
});
