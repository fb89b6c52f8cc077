/**
 * load-balancer: haproxy behind the VI's visible address (tap port, layout
 * single: eth0), spreading TCP connections over the backends given as
 * arguments, with health checks: a backend that fails two checks gets no
 * connection until it passes two again.
 *
 * Counted into the service's counters from haproxy's statistics socket:
 * connections accepted, servers up and down, and the connections each
 * backend (b1, b2... in the order given) was given.
 *
 * Privileges: none beyond listening on its port (below 1024 that is
 * CAP_NET_BIND_SERVICE, which the VI's user-namespace root has in its own
 * network namespace under a root controller).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { haproxyConfig, parseBackends, parseStats, statsCommand, statsSocket } from './load-balancer/haproxy.ts';
import { attachToRouter, runDaemon, tapDaemonAvailability, tapInterfaces } from './sdk/daemonService.ts';
import { integerArg, ipv4Arg, parsedArg, readArgs, runsAsProgram, type ServiceDescriptor } from './sdk/descriptor.ts';
import { ServiceCounters } from './sdk/serviceCounters.ts';

export const descriptor: ServiceDescriptor = {
  program: 'load-balancer',
  summary: 'haproxy on the VI\'s visible address spreading TCP connections over backends, with health checks',
  mode: 'visible',
  port: { kind: 'tap', layout: 'single' },
  args: z.strictObject({
    address: ipv4Arg().describe("the VI's visible address: clients connect to it and the backends are reached from it (a rule must send traffic to it to the VI)"),
    backends: parsedArg(parseBackends).describe('address:port of each backend, comma-separated (at most 16)'),
    port: integerArg(1, 65535).describe('the TCP port clients connect to (default 80)').optional(),
    balance: z.enum(['roundrobin', 'leastconn']).describe('roundrobin (default) or leastconn').optional(),
    'check-ms': integerArg(100, 60_000).describe('milliseconds between health checks (default 1000)').optional(),
  }) as z.ZodType<Record<string, string>>,
  availability: (host) => tapDaemonAvailability(host, ['haproxy']),
};

if (runsAsProgram('load-balancer', import.meta.url)) {
  const args = readArgs(descriptor);
  const dir = process.env.PCLOUD_VI_DIR ?? process.cwd();
  const [dev = 'eth0'] = tapInterfaces(['eth0']);
  try {
    attachToRouter(dev, args.address);
  } catch (e) {
    process.stderr.write(`load-balancer: ${(e as Error).message}\n`);
    process.exit(2);
  }
  const backends = parseBackends(args.backends ?? '');
  const configFile = join(dir, 'haproxy.cfg');
  writeFileSync(configFile, haproxyConfig({ dir, port: Number(args.port ?? 80), backends, balance: args.balance === 'leastconn' ? 'leastconn' : 'roundrobin', checkMs: Number(args['check-ms'] ?? 1000) }));

  const counters = new ServiceCounters(dir, 0);
  for (const name of ['connections', 'serversUp', 'serversDown', ...backends.map((b) => `${b.name}.connections`)]) counters.set(name, 0);
  counters.flush(true);
  let polling = false;
  const poll = async (): Promise<void> => {
    if (polling) return;
    polling = true;
    try {
      const { connections, servers } = parseStats(await statsCommand(statsSocket(dir), 'show stat'));
      counters.set('connections', connections);
      counters.set('serversUp', servers.filter((s) => s.up).length);
      counters.set('serversDown', servers.filter((s) => !s.up).length);
      for (const s of servers) counters.set(`${s.name}.connections`, s.sessions);
      counters.flush(true);
    } catch {
      // Not listening yet (starting) or going away (stopping): the next poll tries again.
    } finally {
      polling = false;
    }
  };
  const timer = setInterval(() => void poll(), 250);
  // -db: in the foreground, no daemon, so the VI's supervision sees haproxy itself.
  runDaemon({ name: 'load-balancer', command: 'haproxy', args: ['-db', '-f', configFile], onExit: () => clearInterval(timer) });
}
