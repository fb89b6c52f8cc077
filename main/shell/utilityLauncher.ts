/**
 * The lab's daemons as Electron utility processes: the packaged app has no
 * separate Node binary to run, and utility processes are Electron's supported
 * way to run Node code out of the main process. Same interface as the child
 * process launcher the headless host and pcctl use.
 */
import { utilityProcess } from 'electron';
import type { LaunchedProcess, ProcessExit, ProcessLauncher } from '../console/processLauncher.ts';
import { pcctlEntry } from '../console/processLauncher.ts';

const outputLimit = 16 * 1024;

export const utilityLauncher: ProcessLauncher = {
  launch(name, args, options = {}) {
    const child = utilityProcess.fork(pcctlEntry().file, args, {
      env: { ...process.env, ...options.env },
      stdio: 'pipe',
      serviceName: `PacketCloud ${name}`,
    });
    let out = '';
    const keep = (d: Buffer): void => {
      out = (out + d.toString()).slice(-outputLimit);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    let running = true;
    const exited = new Promise<ProcessExit>((resolve) => {
      child.once('exit', (code) => {
        running = false;
        resolve({ code, signal: null });
      });
    });
    const launched: LaunchedProcess = {
      name,
      get pid() {
        return child.pid;
      },
      exited,
      // utilityProcess.kill() ends the process it forked; it takes no signal.
      kill: () => {
        if (running) child.kill();
      },
      output: () => out,
    };
    return launched;
  },
};
