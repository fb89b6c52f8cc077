// Root test lab for the tap-port services (ids, web-cache, load-balancer):
// network namespaces shaped like a VI's (contracts.md point 2: eth0 for a
// single tap, in0/out0 for a bump), the hosts around it, and a way to run a
// service launcher in the VI's namespace as an unprivileged uid holding only
// the ambient capabilities it is given, as a VI would.
//
//   bump:   a (198.18.60.1) ── in0 [VI] out0 ── b (198.18.60.2)        one segment, the VI in the wire
//   routed: hosts ── r (router) ── VI eth0                              each host its own /24 behind r
//
// Every name carries a per-lab tag; close() removes all of it, also after a failure.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { run } from '../../main/console/dataplaneLab.ts';

const repo = resolve(import.meta.dirname, '..', '..');

/** The uid a VI runs as in these tests (a VI uid, never root). */
export const VI_UID = 61313;

export class TapServiceLab {
  readonly tag = `t13${randomBytes(2).toString('hex')}`;
  private readonly namespaces: string[] = [];
  private readonly processes: ChildProcess[] = [];
  private readonly dirs: string[] = [];

  ns(suffix: string): string {
    return `${this.tag}${suffix}`;
  }

  exec(ns: string, ...args: string[]): string {
    return run(['ip', 'netns', 'exec', ns, ...args]);
  }

  addNamespace(suffix: string): string {
    const name = this.ns(suffix);
    run(['ip', 'netns', 'add', name]);
    this.namespaces.push(name);
    this.exec(name, 'ip', 'link', 'set', 'lo', 'up');
    // No IPv6 chatter (router solicitations, MLD) in the counts.
    this.exec(name, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1');
    this.exec(name, 'sysctl', '-qw', 'net.ipv6.conf.default.disable_ipv6=1');
    return name;
  }

  /** A veth pair between two namespaces, up, with checksum offload off on both ends (NETWORK-NOTES.md pitfall 1). */
  link(nsA: string, devA: string, nsB: string, devB: string): void {
    run(['ip', '-n', nsA, 'link', 'add', devA, 'type', 'veth', 'peer', 'name', devB, 'netns', nsB]);
    for (const [n, d] of [[nsA, devA], [nsB, devB]] as const) {
      this.exec(n, 'ethtool', '-K', d, 'tx', 'off');
      this.exec(n, 'ip', 'link', 'set', d, 'up');
    }
  }

  /** a ── in0 [vi] out0 ── b, a and b on 198.18.60.0/24. */
  bump(): { a: string; vi: string; b: string } {
    const a = this.addNamespace('a');
    const vi = this.addNamespace('vi');
    const b = this.addNamespace('b');
    this.link(a, 'eth0', vi, 'in0');
    this.link(vi, 'out0', b, 'eth0');
    this.exec(a, 'ip', 'addr', 'add', '198.18.60.1/24', 'dev', 'eth0');
    this.exec(b, 'ip', 'addr', 'add', '198.18.60.2/24', 'dev', 'eth0');
    return { a, vi, b };
  }

  /**
   * A router namespace r with one /24 per attached namespace: the attached
   * side (eth0) gets `.2` (plus any extra addresses), r gets `.1` and is its
   * default route. Returns r's name.
   */
  router(attached: { ns: string; subnet: string; extra?: string[] }[]): string {
    const r = this.addNamespace('r');
    this.exec(r, 'sysctl', '-qw', 'net.ipv4.ip_forward=1');
    attached.forEach(({ ns, subnet, extra }, i) => {
      const dev = `r${i}`;
      this.link(r, dev, ns, 'eth0');
      this.exec(r, 'ip', 'addr', 'add', `${subnet}.1/24`, 'dev', dev);
      this.exec(ns, 'ip', 'addr', 'add', `${subnet}.2/24`, 'dev', 'eth0');
      for (const x of extra ?? []) this.exec(ns, 'ip', 'addr', 'add', `${x}/24`, 'dev', 'eth0');
      this.exec(ns, 'ip', 'route', 'add', 'default', 'via', `${subnet}.1`);
    });
    return r;
  }

  /** A VI directory owned by the VI's uid (its $PCLOUD_VI_DIR), removed with the lab. */
  viDir(): string {
    const dir = mkdtempSync(join(tmpdir(), `${this.tag}-vi-`));
    chownSync(dir, VI_UID, VI_UID);
    this.dirs.push(dir);
    return dir;
  }

  /** A process inside namespace `ns` as root (servers, tools); killed with the lab. */
  spawnIn(ns: string, args: string[]): ChildProcess {
    const child = spawn('ip', ['netns', 'exec', ns, ...args], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    this.processes.push(child);
    return child;
  }

  /**
   * A service launcher (main/services/<program>.ts) in the VI's namespace as
   * uid VI_UID with only `caps` as ambient capabilities, its output in
   * <dir>/launcher.log. Stopped with SIGTERM to its group by stop() or close().
   */
  runService(ns: string, program: string, args: Record<string, string>, caps: string[], dir: string): ChildProcess {
    const capList = caps.map((c) => `+${c}`).join(',');
    const node = process.execPath;
    const argv = Object.entries(args).map(([k, v]) => `--${k}=${v}`);
    const child = spawn(
      'ip',
      ['netns', 'exec', ns, 'setpriv', `--reuid=${VI_UID}`, `--regid=${VI_UID}`, '--clear-groups', ...(caps.length ? [`--inh-caps=${capList}`, `--ambient-caps=${capList}`] : []), '--',
        node, '--disable-warning=ExperimentalWarning', join(repo, 'main', 'services', `${program}.ts`), ...argv],
      { cwd: dir, env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8', HOME: dir, PCLOUD_VI_DIR: dir }, stdio: ['ignore', 'pipe', 'pipe'], detached: true },
    );
    let log = '';
    child.stdout?.on('data', (d: Buffer) => (log += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (log += d.toString()));
    Object.defineProperty(child, 'output', { get: () => log });
    this.processes.push(child);
    return child;
  }

  /** Stops a process started here and waits for it (bounded). */
  async stop(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    try {
      if (child.pid) process.kill(-child.pid, signal);
    } catch {
      return;
    }
    const timer = setTimeout(() => {
      try {
        if (child.pid) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // gone
      }
    }, 5000);
    await exited;
    clearTimeout(timer);
  }

  async close(): Promise<void> {
    await Promise.all(this.processes.map((p) => this.stop(p)));
    for (const n of this.namespaces.reverse()) {
      try {
        run(['ip', 'netns', 'del', n]);
      } catch {
        // already gone
      }
    }
    for (const d of this.dirs) rmSync(d, { recursive: true, force: true });
  }
}

/** What a launcher printed (stdout and stderr), for failure messages. */
export function outputOf(child: ChildProcess): string {
  return (child as ChildProcess & { output?: string }).output ?? '';
}

/** Polls `probe` every 100 ms until it returns a value, or fails after `ms` with `what` and `context()`. */
export async function waitFor<T>(what: string, ms: number, probe: () => T | undefined | null | false, context: () => string = () => ''): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = probe();
    if (v !== undefined && v !== null && v !== false) return v;
    if (Date.now() > until) throw new Error(`timed out after ${ms} ms waiting for ${what}\n${context()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export function readIfExists(path: string): string {
  return existsSync(path) ? readFileSync(path, 'utf8') : '';
}
