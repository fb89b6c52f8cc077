/**
 * web-cache: squid as a transparent intercepting HTTP cache in a VI on a
 * tap port (layout single: eth0). The VI's demux rule sends it TCP port 80
 * towards chosen content prefixes; inside its own network namespace the
 * launcher redirects those connections to squid's intercept port (netfilter
 * REDIRECT), squid answers from its memory cache or fetches from the origin
 * with the VI's own address, and replies in the origin's name. Under a
 * controller that address is the `address` argument: the launcher gives it to
 * eth0 and routes through the front-end router (attachToRouter); the
 * reservation's rules must send traffic to it to the VI as well (the origins'
 * answers to squid), beside the TCP port 80 towards the content prefixes.
 *
 * Counted into the service's counters from squid's access log: requests,
 * hits, misses, and the bytes served from each.
 *
 * Privileges: the REDIRECT rule needs CAP_NET_ADMIN in the VI's network
 * namespace: under a root controller the VI is root in a user namespace of
 * its own that owns that namespace (sandbox.ts); else an ambient
 * CAP_NET_ADMIN for the VI's uid inside it (the root tests do that). squid
 * itself runs with no capabilities.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { cacheResult, interceptPort, squidConfig } from './web-cache/squid.ts';
import { attachToRouter, findExecutable, ROUTER_MAC_ENV, runDaemon, tapDaemonAvailability, tapInterfaces } from './sdk/daemonService.ts';
import { integerArg, ipv4Arg, readArgs, runsAsProgram, type ServiceDescriptor } from './sdk/descriptor.ts';
import { LogFollower } from './sdk/logFollower.ts';
import { ServiceCounters } from './sdk/serviceCounters.ts';

export const descriptor: ServiceDescriptor = {
  program: 'web-cache',
  summary: 'squid as a transparent intercepting HTTP cache for the TCP port 80 its rules capture; hits and misses counted',
  mode: 'transparent',
  port: { kind: 'tap', layout: 'single' },
  args: z.strictObject({
    'cache-mib': integerArg(4, 4096).describe('memory for cached objects, MiB (default 64)').optional(),
    'max-object-kib': integerArg(1, 1_048_576).describe('largest object kept, KiB (default 8192)').optional(),
    address: ipv4Arg().describe("the VI's own address, from which squid fetches from the origins (needed under a controller; a rule must send traffic to it to the VI)").optional(),
  }) as z.ZodType<Record<string, string>>,
  availability: (host) => tapDaemonAvailability(host, ['squid', 'iptables']),
};

if (runsAsProgram('web-cache', import.meta.url)) {
  const args = readArgs(descriptor);
  const [dev = 'eth0'] = tapInterfaces(['eth0']);
  const dir = process.env.PCLOUD_VI_DIR ?? process.cwd();
  const configFile = join(dir, 'squid.conf');
  writeFileSync(configFile, squidConfig({ dir, cacheMiB: Number(args['cache-mib'] ?? 64), maxObjectKiB: Number(args['max-object-kib'] ?? 8192) }));

  // Removed with the VI's namespace; nothing else in the namespace uses the nat table.
  try {
    // Under a controller eth0 comes bare: squid needs an address to fetch from and REDIRECT one to redirect to.
    if (!args.address && process.env[ROUTER_MAC_ENV]) throw new Error('the address argument is needed: squid fetches from the origins from the VI\'s own address');
    attachToRouter(dev, args.address);
  } catch (e) {
    process.stderr.write(`web-cache: ${(e as Error).message}\n`);
    process.exit(2);
  }
  try {
    execFileSync(findExecutable('iptables') ?? 'iptables', ['-t', 'nat', '-A', 'PREROUTING', '-i', dev, '-p', 'tcp', '--dport', '80', '-j', 'REDIRECT', '--to-ports', String(interceptPort)], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (e) {
    const err = e as { stderr?: Buffer; message: string };
    process.stderr.write(`web-cache: cannot redirect port 80 on ${dev} to squid (iptables needs CAP_NET_ADMIN in the VI's namespace): ${err.stderr?.toString().trim() || err.message}\n`);
    process.exit(2);
  }

  const counters = new ServiceCounters(dir, 0);
  for (const name of ['requests', 'hits', 'misses', 'hitBytes', 'missBytes']) counters.set(name, 0);
  const access = new LogFollower(join(dir, 'access.log'));
  const drain = (): void => {
    for (const line of access.read()) {
      const result = cacheResult(line);
      if (!result) continue;
      const bytes = Number(line.trim().split(/\s+/)[4]) || 0;
      counters.add('requests');
      counters.add(result === 'hit' ? 'hits' : 'misses');
      counters.add(result === 'hit' ? 'hitBytes' : 'missBytes', bytes);
    }
    counters.flush(true);
  };

  counters.flush(true);
  const timer = setInterval(drain, 200);
  // -N: in the foreground, one process (no SMP workers), so the VI's supervision sees squid itself.
  // -n: a service name of this VI's own, which names squid's shared-memory segments in /dev/shm:
  // with the default ("squid") a second web-cache on the host, or the leftovers of a killed one,
  // makes squid refuse to start ("shm_open(/squid-cf__metadata.shm): File exists").
  const serviceName = `pcloud${createHash('sha256').update(dir).digest('hex').slice(0, 16)}`;
  const squid = ['-N', '-n', serviceName, '-f', configFile];
  // squid refuses to run as root and, as root, switches to its own user, which a VI's user
  // namespace does not map. Root here is only the VI's user-namespace root (sandbox.ts): squid
  // goes one user namespace further down as an ordinary uid, with no capabilities at all.
  const asRoot = process.getuid?.() === 0;
  runDaemon({
    name: 'web-cache',
    command: asRoot ? 'unshare' : 'squid',
    args: asRoot ? ['--user', '--map-user=65534', '--map-group=65534', '--', findExecutable('squid') ?? 'squid', ...squid] : squid,
    onExit: () => {
      clearInterval(timer);
      drain();
    },
  });
}
