/**
 * web-cache: squid as a transparent intercepting HTTP cache in a VI on a
 * tap port (layout single: eth0). The VI's demux rule sends it TCP port 80
 * towards chosen content prefixes; inside its own network namespace the
 * launcher redirects those connections to squid's intercept port (netfilter
 * REDIRECT), squid answers from its memory cache or fetches from the origin
 * with the VI's own address, and replies in the origin's name.
 *
 * Counted into the service's counters from squid's access log: requests,
 * hits, misses, and the bytes served from each.
 *
 * Options: --cache-mib (memory for the cache, default 64), --max-object-kib
 * (largest object kept, default 8192), --dev (default eth0).
 *
 * Privileges: the REDIRECT rule needs CAP_NET_ADMIN in the VI's network
 * namespace (given as an ambient capability, like the ids service's
 * CAP_NET_RAW); squid itself runs as the VI's uid with none.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { cacheResult, interceptPort, squidConfig } from './web-cache/squid.ts';
import { LogFollower, runDaemon } from './sdk/daemonService.ts';
import { ServiceReport } from './sdk/serviceReport.ts';

const { values } = parseArgs({
  options: {
    'cache-mib': { type: 'string', default: '64' },
    'max-object-kib': { type: 'string', default: '8192' },
    dev: { type: 'string', default: 'eth0' },
    'poll-ms': { type: 'string', default: '200' },
  },
  strict: true,
});

const report = new ServiceReport();
const configFile = join(report.dir, 'squid.conf');
writeFileSync(configFile, squidConfig({ dir: report.dir, cacheMiB: Number(values['cache-mib']), maxObjectKiB: Number(values['max-object-kib']) }));

// Removed with the VI's namespace; nothing else in the namespace uses the nat table.
const redirect = ['-t', 'nat', '-A', 'PREROUTING', '-i', values.dev, '-p', 'tcp', '--dport', '80', '-j', 'REDIRECT', '--to-ports', String(interceptPort)];
try {
  execFileSync('iptables', redirect, { stdio: ['ignore', 'ignore', 'pipe'] });
} catch (e) {
  const err = e as { stderr?: Buffer; message: string };
  process.stderr.write(`web-cache: cannot redirect port 80 on ${values.dev} to squid (iptables needs CAP_NET_ADMIN in the VI's namespace): ${err.stderr?.toString().trim() || err.message}\n`);
  process.exit(2);
}

const counters = { requests: 0, hits: 0, misses: 0, hitBytes: 0, missBytes: 0 };
const access = new LogFollower(join(report.dir, 'access.log'));
function drain(): void {
  for (const line of access.read()) {
    const result = cacheResult(line);
    if (!result) continue;
    const bytes = Number(line.trim().split(/\s+/)[4]) || 0;
    counters.requests++;
    if (result === 'hit') {
      counters.hits++;
      counters.hitBytes += bytes;
    } else {
      counters.misses++;
      counters.missBytes += bytes;
    }
  }
  report.counters(counters);
}

report.counters(counters);
const timer = setInterval(drain, Math.max(50, Number(values['poll-ms']) || 200));
// -N: in the foreground, one process (no SMP workers), so the VI's supervision sees squid itself.
runDaemon({ name: 'web-cache', command: 'squid', args: ['-N', '-f', configFile], onExit: () => {
  clearInterval(timer);
  drain();
} });
