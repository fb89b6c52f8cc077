// A lab of two sites joined through two cloudlets, as root, for the
// ipsec-tunnel and other paired services: the Linux kernel as each site's
// front-end router (the recipe of main/console/dataplaneLab.ts, once per site).
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
// Hosts use MTU 1400 by default so that a full-sized packet, sealed, still fits
// the wan; with a larger host MTU (the benchmark's 1500) the wan and the
// router-cloudlet links grow by the same amount, so a sealed full-sized packet
// (about 75 bytes of ESP and outer IPv4) still crosses them whole.
// Every name carries a per-lab tag; close() removes all of it.
import { randomBytes } from 'node:crypto';
import { execFileSync, spawn } from 'node:child_process';
import { run } from '../../main/console/dataplaneLab.ts';
import { parseControllerConfig } from '../../main/controller/config.ts';
import { ControllerDaemon } from '../../main/controller/daemon.ts';
import type { OwnershipVerifier } from '../../main/controller/ownership.ts';
import { RpcClient } from '../../main/protocol/client.ts';
import { controllerApi } from '../../main/protocol/controllerApi.ts';
import type { ControllerCommand, ServiceSpec } from '../../main/protocol/domain.ts';

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
  readonly hostMtu: number;

  constructor(opts: { hostMtu?: number } = {}) {
    this.hostMtu = opts.hostMtu ?? 1400;
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
      for (const r of [this.a.router, this.b.router]) this.exec(r, 'ip', 'link', 'set', 'wan', 'mtu', String(this.hostMtu + 100));
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
    this.exec(host, 'ip', 'link', 'set', 'eth0', 'mtu', String(this.hostMtu), 'up');
    this.exec(host, 'ip', 'route', 'add', 'default', 'via', gw);
    this.exec(host, 'ethtool', '-K', 'eth0', 'tx', 'off');
    const ir = (...a: string[]) => this.exec(r, 'ip', ...a);
    ir('addr', 'add', `${gw}/24`, 'dev', 'rh');
    ir('addr', 'add', `${s.routerVtep}/24`, 'dev', 'rup');
    ir('addr', 'add', `${wanAddress}/24`, 'dev', 'wan');
    // Room for a sealed full-sized packet plus 50 bytes of VXLAN.
    const uplinkMtu = String(this.hostMtu + 200);
    ir('link', 'set', 'rup', 'mtu', uplinkMtu);
    for (const d of ['rh', 'rup', 'wan']) ir('link', 'set', d, 'up');
    this.exec(c, 'ip', 'addr', 'add', `${s.cloudletVtep}/24`, 'dev', 'uplink');
    this.exec(c, 'ip', 'link', 'set', 'uplink', 'mtu', uplinkMtu, 'up');
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

  /** Whether pings from A's host to B's are answered (false rather than an exception). */
  pingsAtoB(count: number): boolean {
    try {
      this.exec(this.a.host, 'ping', '-c', String(count), '-i', '0.2', '-W', '1', this.b.hostAddress);
      return true;
    } catch {
      return false;
    }
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

const verifier: OwnershipVerifier = { verify: (proof, c) => (proof === `owns:${c.providerId}` ? { ok: true, anchor: 'test', notAfter: 0 } : { ok: false, reason: 'not the owner' }) };

export interface SiteCloudlet {
  daemon: ControllerDaemon;
  client: RpcClient<typeof controllerApi>;
}

/**
 * One end of a paired service (tunnel, WAN optimizer): a controller for `site`'s cloudlet with
 * its data plane in the cloudlet's namespace, and reservation `reservationId` (provider p1, whose
 * proofs the test verifier accepts as "owns:p1") started there with `program` and `args`. Its two
 * rules capture the far branch and `protocol` to this site's address.
 */
export async function startPairedEnd(o: { lab: TunnelLab; site: Site; far: Site; cloudletId: string; stateDir: string; token: string; reservationId: string; program: string; args: Record<string, string>; protocol: number }): Promise<SiteCloudlet> {
  const config = parseControllerConfig({
    cloudletId: o.cloudletId,
    scheduler: { url: 'ws://127.0.0.1:1', token: 'controller-token-0123456789', backoffMs: 1000, maxBackoffMs: 1000 },
    listen: { host: '127.0.0.1', port: 0 },
    tokens: [{ token: o.token, role: 'operator', name: 'noc-alice' }],
    nodes: [{ id: 'n1', capacity: { cpu: 2, memMiB: 2048, diskGiB: 10, netMbps: 1000 } }],
    stateDir: o.stateDir,
    onExit: 'stop',
    dataPlane: { netns: o.lab.nsPath(o.site.cloudlet), bind: o.site.cloudletVtep, port: 4789, routerPort: ROUTER_RETURN_PORT, routers: [o.site.routerVtep], vnis: [VNI], drainIntervalMs: 50 },
    sandbox: { usageIntervalMs: 200 },
  });
  const daemon = new ControllerDaemon(config, { verifier, log: () => undefined });
  const { url } = await daemon.start();
  const client = new RpcClient(controllerApi, { url, token: o.token, timeoutMs: 10_000 });
  await client.connect();
  const now = Date.now();
  const profile = [{ from: now - 1000, to: now + 600_000, capacity: { cpu: 1, memMiB: 256, diskGiB: 1, netMbps: 1000 } }];
  const service: ServiceSpec = {
    mode: 'transparent',
    program: o.program,
    args: o.args,
    rules: [
      { priority: 10, match: { ethType: 0x0800, dstPrefix: o.far.prefix }, action: 'to_vi', samplingRate: 0, ownershipProof: 'owns:p1' },
      { priority: 10, match: { ethType: 0x0800, ipProto: o.protocol, dstPrefix: `${o.site.tunnelAddress}/32` }, action: 'to_vi', samplingRate: 0, ownershipProof: 'owns:p1' },
    ],
  };
  // Plain errors, not vitest's expect: the benchmark (bench/tunnelGoodput.ts) starts ends too.
  const run = async (c: ControllerCommand) => {
    const r = await daemon.cloudlet.agent.command(c);
    if (!r.ok) throw new Error(`${c.kind} of ${o.program} at ${o.cloudletId} refused: ${r.reason ?? JSON.stringify(r)}`);
  };
  const base = { reservationId: o.reservationId };
  try {
    await run({ ...base, commandId: 'c1', kind: 'prepare', providerId: 'p1', nodeId: 'n1', t0: now - 1000, t1: now + 600_000, profile, service, holdMs: 5000 });
    await run({ ...base, commandId: 'c2', kind: 'commit' });
    await run({ ...base, commandId: 'c3', kind: 'start', nodeId: 'n1', profile, service, t1: now + 600_000 });
  } catch (e) {
    client.close();
    await daemon.stop();
    throw e;
  }
  return { daemon, client };
}

/** Sends `data` over TCP from a host namespace with socat, without blocking the test process (its controllers run in it). */
export function sendTcp(lab: TunnelLab, ns: string, to: string, port: number, data: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const sender = spawn('ip', ['netns', 'exec', ns, 'timeout', '60', 'socat', '-u', 'STDIN', `TCP4:${to}:${port}`], { stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    sender.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    sender.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`socat sender in ${ns} exited ${code}: ${stderr}`))));
    sender.stdin.on('error', () => undefined);
    sender.stdin.end(data);
  });
}

/** The counters the VI's service reported into its usage. */
export async function serviceCounters(end: SiteCloudlet, viId: string): Promise<Record<string, number>> {
  return (await end.client.call('vi.get', { viId })).usage?.service ?? {};
}

/** Stops both ends' controllers (and their VIs). */
export async function stopEnds(ends: readonly SiteCloudlet[]): Promise<void> {
  for (const e of ends) {
    e.client.close();
    await e.daemon.stop();
  }
}
