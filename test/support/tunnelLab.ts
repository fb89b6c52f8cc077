// A lab of two sites joined through two cloudlets, as root, for the
// ipsec-tunnel and other paired services: the Linux kernel as each site's
// front-end router (the recipe of native/test/dataplaneLab.ts, once per site).
//
//   hA (198.18.10.1) ── rA ══ wan 198.18.60.0/24 ══ rB ── hB (198.18.20.1)
//                        │ vxlan                      │ vxlan
//                        cA (198.18.31.2)             cB (198.18.32.2)
//
// Each router sends what it receives from its host or from the wan into its
// cloudlet (policy routing into vx0) and forwards what comes back by
// destination: the other site and the far cloudlet's tunnel address
// (198.18.51.1 is cA's, 198.18.52.1 is cB's) are over the wan. So traffic
// A->B goes hA -> rA -> cA (sealed) -> rA -> wan -> rB -> cB (opened) -> rB -> hB,
// and the wan link is where a capture between the cloudlets sees it.
// Hosts use MTU 1400 so that a full-sized packet, sealed, still fits the wan.
// Every name carries a per-lab tag; close() removes all of it.
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { run } from '../../native/test/dataplaneLab.ts';

export const VNI = 100;
/** Where each data plane sends frames back to its router (vx1). */
export const ROUTER_RETURN_PORT = 4790;

export interface Site {
  host: string;
  hostAddress: string;
  prefix: string;
  router: string;
  cloudlet: string;
  routerVtep: string;
  cloudletVtep: string;
  /** The cloudlet's tunnel address (the ESP end the VI there speaks for). */
  tunnelAddress: string;
}

export class TunnelLab {
  readonly tag = `s13${randomBytes(3).toString('hex')}`;
  readonly a: Site;
  readonly b: Site;

  constructor() {
    const site = (s: 'A' | 'B', n: number): Site => ({
      host: `${this.tag}h${s}`,
      hostAddress: `198.18.${n * 10}.1`,
      prefix: `198.18.${n * 10}.0/24`,
      router: `${this.tag}r${s}`,
      cloudlet: `${this.tag}c${s}`,
      routerVtep: `198.18.3${n}.1`,
      cloudletVtep: `198.18.3${n}.2`,
      tunnelAddress: `198.18.5${n}.1`,
    });
    this.a = site('A', 1);
    this.b = site('B', 2);
  }

  nsPath(name: string): string {
    return `/var/run/netns/${name}`;
  }

  exec(ns: string, ...args: string[]): string {
    return run(['ip', 'netns', 'exec', ns, ...args]);
  }

  private namespaces(): string[] {
    return [this.a, this.b].flatMap((s) => [s.host, s.router, s.cloudlet]);
  }

  create(): this {
    try {
      for (const n of this.namespaces()) {
        run(['ip', 'netns', 'add', n]);
        this.exec(n, 'ip', 'link', 'set', 'lo', 'up');
      }
      run(['ip', '-n', this.a.router, 'link', 'add', 'wan', 'type', 'veth', 'peer', 'name', 'wan', 'netns', this.b.router]);
      this.site(this.a, this.b, '198.18.60.1', '198.18.60.2');
      this.site(this.b, this.a, '198.18.60.2', '198.18.60.1');
      return this;
    } catch (e) {
      this.close();
      throw e;
    }
  }

  private site(s: Site, far: Site, wanAddress: string, farWan: string): void {
    const { host, router: r, cloudlet: c } = s;
    run(['ip', '-n', r, 'link', 'add', 'rh', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', host]);
    run(['ip', '-n', r, 'link', 'add', 'rup', 'type', 'veth', 'peer', 'name', 'uplink', 'netns', c]);
    const gw = s.hostAddress.replace(/\.1$/, '.254');
    this.exec(host, 'ip', 'addr', 'add', `${s.hostAddress}/24`, 'dev', 'eth0');
    this.exec(host, 'ip', 'link', 'set', 'eth0', 'mtu', '1400', 'up');
    this.exec(host, 'ip', 'route', 'add', 'default', 'via', gw);
    this.exec(host, 'ethtool', '-K', 'eth0', 'tx', 'off');
    const ir = (...a: string[]) => this.exec(r, 'ip', ...a);
    ir('addr', 'add', `${gw}/24`, 'dev', 'rh');
    ir('addr', 'add', `${s.routerVtep}/24`, 'dev', 'rup');
    ir('addr', 'add', `${wanAddress}/24`, 'dev', 'wan');
    ir('link', 'set', 'rup', 'mtu', '1600');
    for (const d of ['rh', 'rup', 'wan']) ir('link', 'set', d, 'up');
    this.exec(c, 'ip', 'addr', 'add', `${s.cloudletVtep}/24`, 'dev', 'uplink');
    this.exec(c, 'ip', 'link', 'set', 'uplink', 'mtu', '1600', 'up');
    ir('link', 'add', 'vx0', 'type', 'vxlan', 'id', String(VNI), 'remote', s.cloudletVtep, 'local', s.routerVtep, 'dstport', '4789', 'dev', 'rup', 'nolearning');
    ir('link', 'add', 'vx1', 'type', 'vxlan', 'id', String(VNI), 'remote', s.cloudletVtep, 'local', s.routerVtep, 'dstport', String(ROUTER_RETURN_PORT), 'dev', 'rup', 'nolearning');
    ir('addr', 'add', '198.18.40.1/24', 'dev', 'vx0');
    ir('link', 'set', 'vx0', 'up');
    ir('link', 'set', 'vx1', 'up');
    for (const d of ['rh', 'rup', 'wan', 'vx0', 'vx1']) this.exec(r, 'ethtool', '-K', d, 'tx', 'off');
    this.exec(c, 'ethtool', '-K', 'uplink', 'tx', 'off');
    const vx1Mac = (JSON.parse(ir('-j', 'link', 'show', 'vx1')) as { address: string }[])[0]?.address ?? '';
    ir('neigh', 'add', '198.18.40.2', 'lladdr', vx1Mac, 'dev', 'vx0', 'nud', 'permanent');
    // Everything from the host or the wan goes to the cloudlet first; what it returns is routed by destination.
    ir('rule', 'add', 'iif', 'rh', 'lookup', '100');
    ir('rule', 'add', 'iif', 'wan', 'lookup', '100');
    ir('route', 'add', 'default', 'via', '198.18.40.2', 'dev', 'vx0', 'table', '100');
    ir('route', 'add', far.prefix, 'via', farWan);
    ir('route', 'add', `${far.tunnelAddress}/32`, 'via', farWan);
    for (const sysctl of ['net.ipv4.ip_forward=1', 'net.ipv4.conf.all.rp_filter=0', 'net.ipv4.conf.default.rp_filter=0', 'net.ipv4.conf.vx0.rp_filter=0',
      'net.ipv4.conf.vx1.rp_filter=0', 'net.ipv4.conf.all.send_redirects=0', 'net.ipv4.conf.vx0.send_redirects=0']) this.exec(r, 'sysctl', '-qw', sysctl);
  }

  close(): void {
    for (const n of this.namespaces()) {
      try {
        execFileSync('ip', ['netns', 'del', n], { stdio: 'ignore' });
      } catch {
        // not created, or already gone
      }
    }
  }
}
