// The data-plane lab, as root: network namespaces with the Linux kernel as
// the front-end router (NETWORK-NOTES.md recipe). Used by the experiments of
// Fig. 5a/5b (experiments/dataplaneCloudlet.ts), bench:dataplane and the
// data-plane and service system tests.
//
//   h1 (198.18.10.1) ── r ── h2 (198.18.20.1)
//                       │ vx0: kernel vxlan, VNI 100, 198.18.30.1 -> 198.18.30.2:4789
//                       │ vx1: kernel vxlan, VNI 100, listening on 198.18.30.1:4790
//                       │ vx2: kernel vxlan, VNI 101, for tcpreplay
//                       c (198.18.30.2): the data plane's uplink sockets live here
//
// The router sends everything it receives from h1 or h2 into vx0 (policy
// routing: iif rh1/rh2 -> table 100 -> vx0) and forwards what comes back by
// destination (main table). The data plane sends back to port 4790, vx1: a
// vxlan device drops frames whose source MAC is its own (loop protection),
// and frames the cloudlet returns unchanged carry vx0's. The next hop on vx0
// resolves to vx1's MAC, so those frames are addressed to vx1. An Open
// vSwitch router needs none of this. Checksum offload is off on every
// sending interface (pitfall 1).
// Every name carries a per-lab tag; close() removes all of it.
import { execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';

export const VNI = 100;
/** VNI of vx2, the router's device for replaying captures (nothing routes into it). */
export const REPLAY_VNI = 101;
export const H1 = '198.18.10.1';
export const H2 = '198.18.20.1';
export const ROUTER_VTEP = '198.18.30.1';
export const CLOUDLET = '198.18.30.2';
/** Where the data plane sends frames back to the router (vx1). */
export const ROUTER_RETURN_PORT = 4790;

export function isRoot(): boolean {
  return process.getuid?.() === 0;
}

export function run(args: string[], input?: string): string {
  try {
    return execFileSync(args[0] ?? 'false', args.slice(1), { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'], timeout: 60_000 });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`${args.join(' ')} failed: ${err.stderr?.trim() || err.message}`, { cause: e });
  }
}

export class DataPlaneLab {
  readonly tag = `dp${randomBytes(3).toString('hex')}`;
  readonly ns = { h1: `${this.tag}h1`, h2: `${this.tag}h2`, r: `${this.tag}r`, c: `${this.tag}c` };
  readonly extra: string[] = [];
  routerMac = '';

  nsPath(name: string): string {
    return `/var/run/netns/${name}`;
  }

  /** Runs a command inside a namespace of this lab. */
  exec(ns: string, ...args: string[]): string {
    return run(['ip', 'netns', 'exec', ns, ...args]);
  }

  /** A further namespace (e.g. a VI's), removed with the lab. */
  addNamespace(suffix: string): string {
    const name = `${this.tag}${suffix}`;
    run(['ip', 'netns', 'add', name]);
    this.extra.push(name);
    this.exec(name, 'ip', 'link', 'set', 'lo', 'up');
    return name;
  }

  create(): this {
    const { h1, h2, r, c } = this.ns;
    try {
      for (const n of [h1, h2, r, c]) run(['ip', 'netns', 'add', n]);
      for (const n of [h1, h2, r, c]) this.exec(n, 'ip', 'link', 'set', 'lo', 'up');
      run(['ip', '-n', r, 'link', 'add', 'rh1', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', h1]);
      run(['ip', '-n', r, 'link', 'add', 'rh2', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', h2]);
      run(['ip', '-n', r, 'link', 'add', 'rup', 'type', 'veth', 'peer', 'name', 'uplink', 'netns', c]);
      const host = (n: string, addr: string, gw: string) => {
        this.exec(n, 'ip', 'addr', 'add', `${addr}/24`, 'dev', 'eth0');
        this.exec(n, 'ip', 'link', 'set', 'eth0', 'up');
        this.exec(n, 'ip', 'route', 'add', 'default', 'via', gw);
        this.exec(n, 'ethtool', '-K', 'eth0', 'tx', 'off');
      };
      host(h1, H1, '198.18.10.254');
      host(h2, H2, '198.18.20.254');
      const ir = (...a: string[]) => this.exec(r, 'ip', ...a);
      ir('addr', 'add', '198.18.10.254/24', 'dev', 'rh1');
      ir('addr', 'add', '198.18.20.254/24', 'dev', 'rh2');
      ir('addr', 'add', `${ROUTER_VTEP}/24`, 'dev', 'rup');
      ir('link', 'set', 'rup', 'mtu', '1600');
      for (const d of ['rh1', 'rh2', 'rup']) ir('link', 'set', d, 'up');
      this.exec(c, 'ip', 'addr', 'add', `${CLOUDLET}/24`, 'dev', 'uplink');
      this.exec(c, 'ip', 'link', 'set', 'uplink', 'mtu', '1600');
      this.exec(c, 'ip', 'link', 'set', 'uplink', 'up');
      ir('link', 'add', 'vx0', 'type', 'vxlan', 'id', String(VNI), 'remote', CLOUDLET, 'local', ROUTER_VTEP, 'dstport', '4789', 'dev', 'rup', 'nolearning');
      ir('link', 'add', 'vx1', 'type', 'vxlan', 'id', String(VNI), 'remote', CLOUDLET, 'local', ROUTER_VTEP, 'dstport', String(ROUTER_RETURN_PORT), 'dev', 'rup', 'nolearning');
      ir('link', 'add', 'vx2', 'type', 'vxlan', 'id', String(REPLAY_VNI), 'remote', CLOUDLET, 'local', ROUTER_VTEP, 'dstport', '4789', 'dev', 'rup', 'nolearning');
      ir('link', 'set', 'vx2', 'up');
      ir('addr', 'add', '198.18.40.1/24', 'dev', 'vx0');
      ir('link', 'set', 'vx0', 'up');
      ir('link', 'set', 'vx1', 'up');
      for (const d of ['rh1', 'rh2', 'rup', 'vx0', 'vx1']) this.exec(r, 'ethtool', '-K', d, 'tx', 'off');
      this.exec(c, 'ethtool', '-K', 'uplink', 'tx', 'off');
      this.routerMac = (JSON.parse(ir('-j', 'link', 'show', 'vx1')) as { address: string }[])[0]?.address ?? '';
      ir('neigh', 'add', '198.18.40.2', 'lladdr', this.routerMac, 'dev', 'vx0', 'nud', 'permanent');
      ir('rule', 'add', 'iif', 'rh1', 'lookup', '100');
      ir('rule', 'add', 'iif', 'rh2', 'lookup', '100');
      ir('route', 'add', 'default', 'via', '198.18.40.2', 'dev', 'vx0', 'table', '100');
      const sysctls = ['net.ipv4.ip_forward=1', 'net.ipv4.conf.all.rp_filter=0', 'net.ipv4.conf.default.rp_filter=0',
        'net.ipv4.conf.vx0.rp_filter=0', 'net.ipv4.conf.vx1.rp_filter=0', 'net.ipv4.conf.all.send_redirects=0',
        'net.ipv4.conf.vx0.send_redirects=0'];
      for (const s of sysctls) this.exec(r, 'sysctl', '-qw', s);
      return this;
    } catch (e) {
      this.close();
      throw e;
    }
  }

  /**
   * Turns namespace `ns` into a bump-in-the-wire VI with an unmodified Linux
   * program: a bridge between the taps `inDev` and `outDev` that the data
   * plane made there, so whatever enters in0 leaves by out0 unchanged.
   */
  bridgeVi(ns: string, inDev: string, outDev: string): void {
    const e = (...a: string[]) => this.exec(ns, 'ip', ...a);
    // No IPv6 link-local chatter (router solicitations, MLD): the VI would emit
    // packets no rule captures, which the egress check rightly drops.
    for (const d of ['all', 'default', inDev, outDev]) this.exec(ns, 'sysctl', '-qw', `net.ipv6.conf.${d}.disable_ipv6=1`);
    // Nor IGMP reports: multicast snooping makes the bridge join 224.0.0.106.
    e('link', 'add', 'br0', 'type', 'bridge', 'stp_state', '0', 'forward_delay', '0', 'mcast_snooping', '0');
    // Never learn: frames to the router's MAC must always flood to out0.
    e('link', 'set', 'br0', 'type', 'bridge', 'ageing_time', '0');
    for (const d of [inDev, outDev]) {
      e('link', 'set', d, 'master', 'br0');
      e('link', 'set', d, 'up');
    }
    e('link', 'set', 'br0', 'up');
  }

  /**
   * Sends `bytes` random bytes over TCP from h1 to h2 with socat at both ends (given up after
   * 30 s); says whether the sender finished and h2 got every byte intact.
   */
  async tcpTransfer(bytes = 2_000_000): Promise<{ senderExit: number | null; received: number; intact: boolean }> {
    const port = String(20000 + Math.floor(Math.random() * 20000));
    const data = randomBytes(bytes);
    const receiver = spawn('ip', ['netns', 'exec', this.ns.h2, 'socat', '-u', `TCP-LISTEN:${port},reuseaddr`, 'STDOUT'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const hash = createHash('sha256');
    let received = 0;
    receiver.stdout.on('data', (d: Buffer) => {
      hash.update(d);
      received += d.length;
    });
    const done = new Promise<number | null>((resolve) => receiver.on('close', resolve));
    // Both ends asynchronous: a blocked event loop would stop draining the receiver's pipe.
    const sender = spawn('ip', ['netns', 'exec', this.ns.h1, 'socat', '-u', 'STDIN', `TCP:${H2}:${port},retry=50,interval=0.1`], { stdio: ['pipe', 'ignore', 'pipe'] });
    const sent = new Promise<number | null>((resolve) => sender.on('close', resolve));
    sender.stdin.end(data);
    const timer = setTimeout(() => {
      sender.kill();
      receiver.kill();
    }, 30_000);
    const senderExit = await sent;
    await done;
    clearTimeout(timer);
    return { senderExit, received, intact: received === bytes && hash.digest('hex') === createHash('sha256').update(data).digest('hex') };
  }

  close(): void {
    for (const n of [...this.extra, ...Object.values(this.ns)]) {
      try {
        execFileSync('ip', ['netns', 'del', n], { stdio: 'ignore' });
      } catch {
        // not created, or already gone
      }
    }
  }
}
