/**
 * Two hosts, a (198.18.241.1) and b (198.18.241.2), in namespaces of their
 * own, joined either by a plain veth or, as the lab joins them, through a
 * wire namespace (a veth from each host to it) where pcloud-delayline joins
 * the two wire ends (wa, wb). For the delay line's test and bench/labLink.ts.
 * Needs root. Offloads are off on every device that sends into the delay line
 * (NETWORK-NOTES pitfall 1: it copies frames one by one), on the plain veth
 * too so both are measured alike; the neighbours are static, so no ARP frame
 * is among those counted. Every name carries the tag; remove() takes all.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';

export const LINK_PAIR_ADDRESS = { a: '198.18.241.1', b: '198.18.241.2' } as const;

export interface PingResult {
  transmitted: number;
  received: number;
  minMs: number;
  avgMs: number;
}

export function run(...args: string[]): string {
  try {
    return execFileSync(args[0] as string, args.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });
  } catch (e) {
    const err = e as { stderr?: string; stdout?: string; message: string };
    throw new Error(`${args.join(' ')} failed: ${err.stderr?.trim() || err.message}\n${err.stdout ?? ''}`, { cause: e });
  }
}

export class LinkPairLab {
  readonly kind: 'veth' | 'wire';
  readonly tag: string;
  readonly ns: { a: string; b: string; wire: string };

  constructor(kind: 'veth' | 'wire', prefix = 'plk') {
    this.kind = kind;
    this.tag = `${prefix}${randomBytes(2).toString('hex')}`;
    this.ns = { a: `${this.tag}-a`, b: `${this.tag}-b`, wire: `${this.tag}-wire` };
  }

  private namespaces(): string[] {
    return this.kind === 'wire' ? [this.ns.a, this.ns.b, this.ns.wire] : [this.ns.a, this.ns.b];
  }

  exec(ns: string, ...args: string[]): string {
    return run('ip', 'netns', 'exec', ns, ...args);
  }

  create(): this {
    try {
      for (const n of this.namespaces()) {
        run('ip', 'netns', 'add', n);
        this.exec(n, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1');
        run('ip', '-n', n, 'link', 'set', 'lo', 'up');
      }
      if (this.kind === 'wire') {
        for (const side of ['a', 'b'] as const) {
          run('ip', '-n', this.ns[side], 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', `w${side}`, 'netns', this.ns.wire);
          this.exec(this.ns.wire, 'ethtool', '-K', `w${side}`, 'tx', 'off', 'tso', 'off', 'gso', 'off', 'gro', 'off');
          run('ip', '-n', this.ns.wire, 'link', 'set', `w${side}`, 'up');
        }
      } else {
        run('ip', '-n', this.ns.a, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', this.ns.b);
      }
      for (const side of ['a', 'b'] as const) {
        this.exec(this.ns[side], 'ethtool', '-K', 'eth0', 'tx', 'off', 'tso', 'off', 'gso', 'off');
        run('ip', '-n', this.ns[side], 'addr', 'add', `${LINK_PAIR_ADDRESS[side]}/24`, 'dev', 'eth0');
        run('ip', '-n', this.ns[side], 'link', 'set', 'eth0', 'up');
      }
      const mac = (side: 'a' | 'b'): string => (JSON.parse(run('ip', '-n', this.ns[side], '-j', 'link', 'show', 'eth0')) as { address: string }[])[0]?.address ?? '';
      run('ip', '-n', this.ns.a, 'neigh', 'replace', LINK_PAIR_ADDRESS.b, 'lladdr', mac('b'), 'dev', 'eth0', 'nud', 'permanent');
      run('ip', '-n', this.ns.b, 'neigh', 'replace', LINK_PAIR_ADDRESS.a, 'lladdr', mac('a'), 'dev', 'eth0', 'nud', 'permanent');
      return this;
    } catch (e) {
      this.remove();
      throw e;
    }
  }

  /** MTU of every device on the path (hosts' eth0, and the wire ends). */
  setMtu(mtu: number): void {
    const devices: [string, string][] = [[this.ns.a, 'eth0'], [this.ns.b, 'eth0']];
    if (this.kind === 'wire') devices.push([this.ns.wire, 'wa'], [this.ns.wire, 'wb']);
    for (const [n, dev] of devices) run('ip', '-n', n, 'link', 'set', dev, 'mtu', String(mtu));
  }

  /** ping from one host to the other; missing replies are a result, not an error (ping exits 1 then). */
  ping(from: 'a' | 'b', ...args: string[]): PingResult {
    let out: string;
    try {
      out = execFileSync('ip', ['netns', 'exec', this.ns[from], 'ping', '-q', ...args, from === 'a' ? LINK_PAIR_ADDRESS.b : LINK_PAIR_ADDRESS.a], { encoding: 'utf8', timeout: 60_000 });
    } catch (e) {
      out = (e as { stdout?: string }).stdout ?? '';
    }
    const counts = /(\d+) packets transmitted, (\d+) received/.exec(out);
    const rtt = /= ([\d.]+)\/([\d.]+)\//.exec(out);
    return { transmitted: Number(counts?.[1] ?? 0), received: Number(counts?.[2] ?? 0), minMs: Number(rtt?.[1] ?? NaN), avgMs: Number(rtt?.[2] ?? NaN) };
  }

  /** Removes whatever of it exists (a test may have removed a namespace itself). */
  remove(): void {
    const existing = run('ip', 'netns', 'list').split('\n').map((l) => l.split(' ')[0]);
    for (const n of this.namespaces()) if (existing.includes(n)) run('ip', 'netns', 'del', n);
  }
}
