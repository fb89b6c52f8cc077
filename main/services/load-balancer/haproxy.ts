/**
 * haproxy for the `load-balancer` service: the configuration written per VI
 * into the VI's directory, the backends argument, and the reading of
 * haproxy's statistics (its `show stat` CSV on the VI's own stats socket).
 */
import { connect } from 'node:net';
import { isIP } from 'node:net';
import { join } from 'node:path';

export interface Backend {
  name: string;
  host: string;
  port: number;
}

/** At most this many backends (each has a counter, and a VI reports at most 32). */
export const MAX_BACKENDS = 16;

/** "198.18.63.2:8080,198.18.63.3:8080" -> backends b1, b2...; throws naming the bad entry. */
export function parseBackends(text: string): Backend[] {
  const entries = text.split(',').map((e) => e.trim()).filter(Boolean);
  if (entries.length === 0) throw new Error('no backends: write address:port[,address:port...]');
  if (entries.length > MAX_BACKENDS) throw new Error(`${entries.length} backends: at most ${MAX_BACKENDS}`);
  return entries.map((e, i) => {
    const m = /^\[?([^\]]+?)\]?:(\d{1,5})$/.exec(e);
    const host = m?.[1] ?? '';
    const port = Number(m?.[2]);
    if (!m || isIP(host) === 0) throw new Error(`backend "${e}": write an IP address and a port, e.g. 198.18.63.2:8080`);
    if (port < 1 || port > 65535) throw new Error(`backend "${e}": the port is 1 to 65535`);
    return { name: `b${i + 1}`, host, port };
  });
}

export interface HaproxyConfigOptions {
  dir: string;
  port: number;
  backends: Backend[];
  balance: 'roundrobin' | 'leastconn';
  checkMs: number;
}

export const statsSocket = (dir: string): string => join(dir, 'haproxy.sock');

export function haproxyConfig(o: HaproxyConfigOptions): string {
  return `${[
    'global',
    // No maxconn: haproxy derives it from the open-file limit the VI's sandbox sets (a fixed one
    // above what that limit allows, two descriptors a connection, makes haproxy refuse to start).
    `  pidfile ${join(o.dir, 'haproxy.pid')}`,
    `  stats socket ${statsSocket(o.dir)} mode 600 level operator`,
    'defaults',
    '  mode tcp',
    '  timeout connect 2s',
    '  timeout client 60s',
    '  timeout server 60s',
    // No retries on another server: a connection goes to one server that its health check says is up.
    '  retries 0',
    'frontend visible',
    `  bind :${o.port}`,
    '  default_backend pool',
    'backend pool',
    `  balance ${o.balance}`,
    // A server is down after two failed checks and up again after two good ones.
    `  default-server inter ${o.checkMs} fall 2 rise 2`,
    ...o.backends.map((b) => `  server ${b.name} ${isIP(b.host) === 6 ? `[${b.host}]` : b.host}:${b.port} check`),
  ].join('\n')}\n`;
}

export interface ServerStat {
  name: string;
  up: boolean;
  /** Connections it was given in total. */
  sessions: number;
}

/** The pool's servers and the frontend's total connections from `show stat` CSV. */
export function parseStats(csv: string): { connections: number; servers: ServerStat[] } {
  const lines = csv.split('\n').filter((l) => l.length > 0);
  const header = (lines[0] ?? '').replace(/^# /, '').split(',');
  const col = (name: string): number => header.indexOf(name);
  let connections = 0;
  const servers: ServerStat[] = [];
  for (const line of lines.slice(1)) {
    const f = line.split(',');
    const [px, sv] = [f[col('pxname')], f[col('svname')]];
    const stot = Number(f[col('stot')]) || 0;
    if (px === 'visible' && sv === 'FRONTEND') connections = stot;
    else if (px === 'pool' && sv !== 'BACKEND' && sv !== undefined) servers.push({ name: sv, up: (f[col('status')] ?? '').startsWith('UP'), sessions: stot });
  }
  return { connections, servers };
}

/** One command on haproxy's stats socket; resolves with its whole answer. */
export function statsCommand(socket: string, command: string, timeoutMs = 2000): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = connect(socket);
    let out = '';
    const timer = setTimeout(() => {
      c.destroy();
      reject(new Error(`haproxy stats socket ${socket}: no answer to "${command}" within ${timeoutMs} ms`));
    }, timeoutMs);
    c.on('connect', () => c.write(`${command}\n`));
    c.on('data', (d: Buffer) => (out += d.toString()));
    c.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    c.on('close', () => {
      clearTimeout(timer);
      resolve(out);
    });
  });
}
