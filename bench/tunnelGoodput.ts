// The tunnel end to end (issue 13's benchmark), as root: iperf3 TCP goodput
// from host A to host B at MTU 1500 over one TunnelLab (two sites, the kernel
// as each site's router, a cloudlet per site), in the same run:
//   plain:               each cloudlet's data plane with no VI sends every frame
//                        back to its router (the forwarded path, no service);
//   ipsec-tunnel:        our ipsec-tunnel VI in each cloudlet, started by a real
//                        controller (sealed at A's cloudlet, opened at B's);
//   strongswan-libipsec: charon with kernel-libipsec at each router, the
//                        cloudlets out of the path (bench/strongswanLibipsec.ts).
// Interleaved repetitions, the median of each path's goodput.
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { DataPlane, FlowTable } from '../native/index.ts';
import { startPairedEnd, stopEnds, TunnelLab, ROUTER_RETURN_PORT, VNI, type Site, type SiteCloudlet } from '../test/support/tunnelLab.ts';
import { StrongswanLibipsecPair } from './strongswanLibipsec.ts';
import { median } from '../main/console/experiments/sampleStatistics.ts';

export type TunnelPath = 'ipsec-tunnel' | 'strongswan-libipsec' | 'plain';
export interface TunnelRow {
  path: TunnelPath;
  mtu: number;
  goodputMbps: number;
}

const MTU = 1500;
const SECONDS = 5;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Runs argv in a namespace, bounded, without blocking this process's event loop (the controllers run in it). */
function execIn(ns: string, argv: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn('ip', ['netns', 'exec', ns, 'timeout', String(Math.ceil(timeoutMs / 1000)), ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.once('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${argv.join(' ')} in ${ns} exited ${code}: ${(err || out).trim().slice(-400)}`))));
  });
}

/** iperf3 TCP goodput A -> B (what B received), in Mb/s. */
export async function iperfGoodput(lab: { exec(ns: string, ...a: string[]): string }, from: string, toNs: string, toAddress: string, seconds: number): Promise<number> {
  const server = execIn(toNs, ['iperf3', '-s', '-1', '-p', '5201'], (seconds + 20) * 1000);
  server.catch(() => undefined);
  for (let i = 0; i < 40 && !lab.exec(toNs, 'ss', '-tln').includes(':5201'); i++) await sleep(100);
  const out = await execIn(from, ['iperf3', '-c', toAddress, '-p', '5201', '-t', String(seconds), '-J'], (seconds + 15) * 1000);
  await server;
  const report = JSON.parse(out) as { end?: { sum_received?: { bits_per_second?: number } } };
  const bps = report.end?.sum_received?.bits_per_second;
  if (bps === undefined) throw new Error(`iperf3 from ${from} to ${toAddress} gave no received sum: ${out.slice(0, 300)}`);
  return bps / 1e6;
}

/** Whether A's host reaches B's within `tries` single pings (the path is up). */
async function reachable(lab: TunnelLab, tries: number): Promise<boolean> {
  for (let i = 0; i < tries; i++) {
    if (lab.pingsAtoB(1)) return true;
    await sleep(250);
  }
  return false;
}


export async function measureTunnelGoodput(repetitions: number, log: (line: string) => void): Promise<TunnelRow[]> {
  const lab = new TunnelLab({ hostMtu: MTU }).create();
  const dir = mkdtempSync(join(tmpdir(), 'bench-tunnel-'));
  chmodSync(dir, 0o711); // VIs run as users of their own and must reach their directories
  const found: Record<TunnelPath, number[]> = { plain: [], 'ipsec-tunnel': [], 'strongswan-libipsec': [] };
  const goodput = async (path: TunnelPath) => {
    if (!(await reachable(lab, 80))) throw new Error(`${path}: A's host does not reach B's`);
    const mbps = await iperfGoodput(lab, lab.a.host, lab.b.host, lab.b.hostAddress, SECONDS);
    found[path].push(mbps);
    log(`  ${path}: ${mbps.toFixed(0)} Mb/s`);
  };
  try {
    for (let rep = 1; rep <= repetitions; rep++) {
      // plain: a data plane with an empty flow table in each cloudlet sends every frame back to its router.
      const planes = [lab.a, lab.b].map((s) => new DataPlane({ table: new FlowTable(), netns: lab.nsPath(s.cloudlet), bind: s.cloudletVtep, port: 4789, routerPort: ROUTER_RETURN_PORT, routers: [s.routerVtep], vnis: [VNI] }));
      try {
        await goodput('plain');
      } finally {
        for (const p of planes) p.close();
      }
      const ends = await startTunnel(lab, join(dir, `rep${rep}`));
      try {
        await goodput('ipsec-tunnel');
      } finally {
        await stopEnds(ends);
      }
      const strongswan = await StrongswanLibipsecPair.start(lab, join(dir, `rep${rep}`));
      try {
        await goodput('strongswan-libipsec');
      } finally {
        await strongswan.stop();
      }
      log(`tunnel repetition ${rep} of ${repetitions} done`);
    }
  } finally {
    lab.close();
    rmSync(dir, { recursive: true, force: true });
  }
  return (['ipsec-tunnel', 'strongswan-libipsec', 'plain'] as const).map((path) => ({ path, mtu: MTU, goodputMbps: median(found[path]) }));
}

/** Our ipsec-tunnel between the two cloudlets, AES-256-CBC, fresh keys. */
async function startTunnel(lab: TunnelLab, dir: string): Promise<SiteCloudlet[]> {
  const sa = () => ({ key: randomBytes(32).toString('hex'), auth: randomBytes(32).toString('hex') });
  const ab = { spi: 0x2001, ...sa() };
  const ba = { spi: 0x2002, ...sa() };
  const end = (site: Site, far: Site, cloudletId: string, out: typeof ab, inbound: typeof ab) =>
    startPairedEnd({
      lab, site, far, cloudletId, stateDir: join(dir, cloudletId), token: 'operator-token-bench-tunnel-0123456789', reservationId: 'bench-tunnel', program: 'ipsec-tunnel', protocol: 50,
      args: { local: site.tunnelAddress, remote: far.tunnelAddress, cipher: 'aes-256-cbc', 'spi-out': String(out.spi), 'key-out': out.key, 'auth-out': out.auth, 'spi-in': String(inbound.spi), 'key-in': inbound.key, 'auth-in': inbound.auth },
    });
  const ends = [await end(lab.a, lab.b, 'benchA', ab, ba)];
  try {
    ends.push(await end(lab.b, lab.a, 'benchB', ba, ab));
  } catch (e) {
    await stopEnds(ends);
    throw e;
  }
  return ends;
}
