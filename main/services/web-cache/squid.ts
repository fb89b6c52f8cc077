/**
 * squid for the `web-cache` service: the configuration written per VI into
 * the VI's directory, and the reading of its access log into hit and miss
 * counts. A memory-only cache (no cache_dir): a VI's disk is its
 * reservation's, and the cache lives as long as the VI.
 */
import { join } from 'node:path';

/** Where squid accepts the connections the VI's NAT rule redirects to it. */
export const interceptPort = 3129;
/** squid refuses to start without one forward-proxy port; it is bound to loopback only. */
export const forwardPort = 3128;

export interface SquidConfigOptions {
  dir: string;
  cacheMiB: number;
  maxObjectKiB: number;
}

export function squidConfig(o: SquidConfigOptions): string {
  return `${[
    `http_port 127.0.0.1:${forwardPort}`,
    `http_port ${interceptPort} intercept`,
    // Only connections the VI's rule captured reach the intercept port, so every client may use it.
    'http_access allow all',
    `cache_mem ${o.cacheMiB} MB`,
    `maximum_object_size_in_memory ${o.maxObjectKiB} KB`,
    `maximum_object_size ${o.maxObjectKiB} KB`,
    'refresh_pattern . 0 20% 4320',
    `pid_filename ${join(o.dir, 'squid.pid')}`,
    `access_log stdio:${join(o.dir, 'access.log')} squid`,
    `cache_log ${join(o.dir, 'cache.log')}`,
    'cache_store_log none',
    `coredump_dir ${o.dir}`,
    'logfile_rotate 0',
    'pinger_enable off',
    'netdb_filename none',
    'visible_hostname pcloud-web-cache',
    // A VI stops within the controller's grace period.
    'shutdown_lifetime 1 seconds',
  ].join('\n')}\n`;
}

/**
 * The cache result of one access.log line (native "squid" format: the 4th
 * field is RESULT/STATUS, e.g. TCP_MEM_HIT/200): 'hit', 'miss', or null for
 * anything else (errors, denials, tunnels).
 */
export function cacheResult(line: string): 'hit' | 'miss' | null {
  const code = line.trim().split(/\s+/)[3]?.split('/')[0] ?? '';
  if (/HIT/.test(code)) return 'hit';
  if (/MISS|REFRESH/.test(code)) return 'miss';
  return null;
}
