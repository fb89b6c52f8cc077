/**
 * The SDK for services that wrap an unmodified Linux daemon on a tap port
 * (Suricata, squid, haproxy): the launcher writes the daemon's configuration
 * into the VI's directory, runs the daemon in the foreground as its child,
 * follows a log file the daemon appends to (logFollower.ts), and ends when
 * the daemon ends.
 *
 * The controller stops a VI with SIGTERM to the launcher's process group,
 * which reaches the daemon too; the launcher also forwards the signal itself
 * (a daemon that set up its own group would miss it otherwise) and exits
 * with the daemon's status, so a daemon that dies is a crashed VI.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

/** The path of an executable from PATH or the usual system directories (a VI's PATH may lack sbin), or null. */
export function findExecutable(name: string): string | null {
  const dirs = [...(process.env.PATH ?? '').split(':').filter(Boolean), '/usr/sbin', '/sbin', '/usr/bin', '/bin'];
  return dirs.map((d) => join(d, name)).find((f) => existsSync(f)) ?? null;
}

/** A descriptor's availability for a daemon on a tap port: tap ports need root, the daemon must be installed. */
export function tapDaemonAvailability(host: { root: boolean }, executables: readonly string[]): string | null {
  if (!host.root) return 'tap ports need a root controller';
  const missing = executables.filter((e) => findExecutable(e) === null);
  return missing.length ? `${missing.join(' and ')} not installed` : null;
}

/** The VI's tap interfaces as the controller names them (PCLOUD_VI_TAPS), else `fallback`. */
export function tapInterfaces(fallback: readonly string[]): string[] {
  const taps = (process.env.PCLOUD_VI_TAPS ?? '').split(',').filter(Boolean);
  return taps.length ? taps : [...fallback];
}

export interface DaemonOptions {
  /** Short name for messages ("suricata"). */
  name: string;
  command: string;
  args: string[];
  /** Called (at most once) just before the launcher exits, e.g. to write final counters. */
  onExit?: () => void;
}

/** Starts the daemon with the launcher's stdout/stderr (the VI's log) and ties their lives together. */
export function runDaemon(o: DaemonOptions): ChildProcess {
  const child = spawn(findExecutable(o.command) ?? o.command, o.args, { stdio: ['ignore', 'inherit', 'inherit'] });
  let stopping = false;
  const finish = (code: number): never => {
    o.onExit?.();
    process.exit(code);
  };
  child.once('error', (e) => {
    process.stderr.write(`${o.name}: could not start ${o.command}: ${e.message}\n`);
    finish(127);
  });
  child.once('exit', (code, signal) => {
    if (!stopping) process.stderr.write(`${o.name}: ${o.command} exited on its own (${signal ? `signal ${signal}` : `status ${code}`})\n`);
    finish(stopping ? 0 : code === 0 ? 1 : (code ?? 1));
  });
  const stop = (): void => {
    stopping = true;
    child.kill('SIGTERM');
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  // Whatever ends the launcher (an exception too) ends the daemon: it must not outlive the VI's supervision.
  process.on('exit', () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return child;
}
