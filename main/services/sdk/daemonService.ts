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
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
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

/** Where the controller tells a VI on a single tap port the router's MAC (dataPath.ts portPlan). */
export const ROUTER_MAC_ENV = 'PCLOUD_VI_ROUTER_MAC';

/**
 * The next hop a VI on a single tap port routes through: never on the wire (the router sees only
 * the MAC it is bound to), so an address from the link-local block that no VI or router uses.
 */
const ROUTER_NEXT_HOP = '169.254.77.1';

/**
 * Makes `dev`, a single tap port under a controller, the VI's link to the front-end router, so
 * that an unmodified daemon (squid, haproxy) can talk from `address` (the VI's own address, /32)
 * through it: the default route goes to the router's MAC (ROUTER_MAC_ENV). The data plane hands
 * the VI the frames its rules select as the router addressed them (to the router's own next hop,
 * not to this device), so an ingress hook marks each as this host's (the packet type the device
 * gave it), or the kernel would drop them as meant for another host. Needs CAP_NET_ADMIN in the
 * VI's namespace (its user-namespace root has it under a root controller). Returns false, changing nothing, outside a
 * controller (no ROUTER_MAC_ENV: whoever made the namespace set its addresses and routes);
 * throws, naming the step, when a step fails.
 */
export function attachToRouter(dev: string, address: string | undefined): boolean {
  const routerMac = process.env[ROUTER_MAC_ENV];
  if (!routerMac) return false;
  const ip = findExecutable('ip') ?? 'ip';
  const steps: { what: string; argv: string[]; input?: string }[] = [
    {
      what: `take the frames arriving on ${dev} as this host's`,
      argv: [findExecutable('nft') ?? 'nft', '-f', '-'],
      input: `table netdev pcloud_vi {\n  chain to_vi {\n    type filter hook ingress device "${dev}" priority 0; policy accept;\n    meta pkttype set host\n  }\n}\n`,
    },
    ...(address ? [{ what: `give ${dev} the VI's address ${address}`, argv: [ip, 'addr', 'replace', `${address}/32`, 'dev', dev] }] : []),
    { what: `bind next hop ${ROUTER_NEXT_HOP} to the router's MAC ${routerMac}`, argv: [ip, 'neigh', 'replace', ROUTER_NEXT_HOP, 'lladdr', routerMac, 'dev', dev, 'nud', 'permanent'] },
    { what: `route everything through the router on ${dev}`, argv: [ip, 'route', 'replace', 'default', 'via', ROUTER_NEXT_HOP, 'dev', dev, 'onlink'] },
  ];
  for (const step of steps) {
    try {
      execFileSync(step.argv[0] ?? 'false', step.argv.slice(1), { input: step.input ?? '', stdio: ['pipe', 'ignore', 'pipe'] });
    } catch (e) {
      const err = e as { stderr?: Buffer; message: string };
      throw new Error(`cannot ${step.what} (${step.argv.slice(0, 3).join(' ')}...; needs CAP_NET_ADMIN in the VI's namespace): ${err.stderr?.toString().trim() || err.message}`, { cause: e });
    }
  }
  return true;
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
