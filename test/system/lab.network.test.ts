/**
 * The DeterLab lab (Fig. 4) built and removed as root (needs root, Open
 * vSwitch, iproute2, iperf3): `pcctl lab up` makes a namespace per host,
 * router and cloudlet uplink and an Open vSwitch per router; A reaches B
 * (ping, iperf3) through both routers' table 1, no faster than the sum of
 * the links' RTTs (the delay line), and through cloudlet C1's
 * controller when R1's table 0 steers it there; `pcctl lab down` leaves
 * nothing behind (namespaces, links, OVS and delay-line processes, hosts files, qdiscs go
 * with their namespaces); a lab whose `up` was killed with SIGKILL in the
 * middle of building is removed by the next `down`. Prints how long `lab up`
 * took.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { namespacesTagged, ovsDaemonsUnder, pcctlWith, repoRoot } from './harness.ts';

const isRoot = process.getuid?.() === 0;
// Short: the OVS sockets live under it (108-byte socket paths).
const dataDir = isRoot ? mkdtempSync('/tmp/pcl14-') : '';
const labDir = join(dataDir, 'lab', 'deterlab');

const pcctl = pcctlWith(dataDir);

interface Plan {
  tag: string;
  routers: { id: string; runDir: string }[];
  links: { rttMs: number; delay?: { oneWayUs: number } }[];
}
const plan = (): Plan | null => {
  try {
    return JSON.parse(readFileSync(join(labDir, 'network.json'), 'utf8')) as Plan | null;
  } catch {
    return null;
  }
};
/** OVS daemons started from a run dir under this test's data folder. */
const ovsDaemons = (): string[] => ovsDaemonsUnder(dataDir);
/** Delay lines whose stats file is under this test's data folder. */
const delayLines = (): string[] =>
  execFileSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' })
    .split('\n')
    .filter((l) => l.includes('pcloud-delayline') && l.includes(dataDir) && !l.includes('<defunct>'));
const rootLinks = (): string[] => (JSON.parse(execFileSync('ip', ['-j', 'link', 'show'], { encoding: 'utf8' })) as { ifname: string }[]).map((l) => l.ifname).sort();

const tags: string[] = [];
const linksBefore = isRoot ? rootLinks() : [];

afterAll(async () => {
  if (!isRoot) return;
  await pcctl('lab', 'down');
  // Whatever a failed test left: only names with this test's tags.
  for (const tag of tags) for (const ns of namespacesTagged(tag)) execFileSync('ip', ['netns', 'del', ns]);
});

function expectNothingLeft(tag: string): void {
  expect(namespacesTagged(tag)).toEqual([]);
  expect(ovsDaemons()).toEqual([]);
  expect(delayLines()).toEqual([]);
  expect(existsSync(join('/etc/netns', `${tag}-A`))).toBe(false);
  // No interface was left in (or moved to) the root namespace; qdiscs and flows went with the namespaces.
  expect(rootLinks()).toEqual(linksBefore);
}

describe.skipIf(!isRoot)('the DeterLab lab built in network namespaces (root)', () => {
  let tag = '';

  test('lab up builds hosts, routers and uplinks, and says it runs in namespaces mode', async () => {
    const started = performance.now();
    const up = await pcctl('lab', 'up', '--topology', 'deterlab', '--mode', 'namespaces');
    const upMs = performance.now() - started;
    expect(up.stderr).not.toContain('Error');
    expect(up.code).toBe(0);
    expect(up.stdout).toContain('mode: namespaces');
    console.log(`pcctl lab up (deterlab, namespaces) took ${(upMs / 1000).toFixed(1)} s`);
    tag = plan()?.tag ?? '';
    tags.push(tag);
    expect(namespacesTagged(tag).sort()).toEqual(['A', 'B', 'C1', 'C2', 'R1', 'R2', 'wire'].map((p) => `${tag}-${p}`).sort());
    expect(ovsDaemons()).toHaveLength(4);
    expect(delayLines()).toHaveLength(1);
    // The plan says what each link's delay line does: half its RTT each way.
    expect(plan()?.links.map((l) => l.delay?.oneWayUs)).toEqual([100, 200, 100]);
    // Table 0 holds the driver's default until it takes over; table 1 forwards by destination.
    const flows = execFileSync('ovs-ofctl', ['-O', 'OpenFlow13', 'dump-flows', `unix:${join(labDir, 'ovs-R1', 'br0.mgmt')}`], { encoding: 'utf8' });
    expect(flows).toMatch(/table=0, .*priority=0 actions=goto_table:1/);
    expect(flows).toMatch(/table=1, .*priority=100,ip,nw_dst=198\.18\.2\.0\/24 actions=dec_ttl,output:2/);
    // The controllers' data planes listen in their uplink namespaces, facing the router's VTEP.
    const c1 = JSON.parse(readFileSync(join(labDir, 'controller-C1.json'), 'utf8')) as { dataPlane: { netns: string; bind: string; routers: string[]; vnis: number[] } };
    expect(c1.dataPlane).toMatchObject({ netns: `/var/run/netns/${tag}-C1`, bind: '198.19.0.2', routers: ['198.19.0.1'], vnis: [1000] });
    const udp = execFileSync('ip', ['netns', 'exec', `${tag}-C1`, 'ss', '-Hlun'], { encoding: 'utf8' });
    expect(udp).toContain('198.19.0.2:4789');
    const status = await pcctl('lab', 'status', '--json');
    const report = (JSON.parse(status.stdout) as { mode: { kind: string }; links: { link: string; oneWayMs: number | null }[] }[])[0];
    expect(report?.mode.kind).toBe('namespaces');
    expect(report?.links.map((l) => [l.link, l.oneWayMs])).toEqual([['A-R1', 0.1], ['R1-R2', 0.2], ['R2-B', 0.1]]);
  });

  test('A pings B by name through R1 and R2; a command past its timeout is ended', async () => {
    const ping = await pcctl('lab', 'exec', 'A', '--', 'ping', '-c', '3', '-i', '0.2', '-W', '2', 'B');
    expect(ping.code).toBe(0);
    expect(ping.stdout).toContain('PING B (198.18.2.2)');
    expect(ping.stdout).toContain('3 received');
    // Two routers on the way: the TTL went down twice.
    expect(ping.stdout).toContain('ttl=62');
    // Three links, each delayed by its RTT over the round trip: never faster than their sum (0.8 ms).
    const rttSum = (plan()?.links ?? []).reduce((sum, l) => sum + l.rttMs, 0);
    expect(rttSum).toBeCloseTo(0.8);
    const minRtt = Number(/= ([\d.]+)\//.exec(ping.stdout)?.[1]);
    expect(minRtt).toBeGreaterThanOrEqual(rttSum);
    expect(minRtt).toBeLessThan(rttSum + 200);
    // Status shows each link's delay and what the delay line counted (its stats are rewritten every 500 ms).
    await expect.poll(async () => (await pcctl('lab', 'status')).stdout, { timeout: 30_000, interval: 1000 }).toMatch(/link R1-R2\s+RTT 0\.4 ms \(delay line 0\.2 ms each way, loss 0%; forwarded [1-9]\d*, dropped 0 loss, 0 queue, 0 device\)/);
    const slow = await pcctl('lab', 'exec', 'A', '--timeout', '1', '--', 'sleep', '30');
    expect(slow.code).toBe(124);
    expect(slow.stderr).toContain('ran past 1 s in A');
    const unknown = await pcctl('lab', 'exec', 'Z', '--', 'true');
    expect(unknown.stderr).toContain('no host "Z" in the deterlab lab (known: A, B, R1, R2, C1, C2)');
  });

  test('iperf3 from A to B carries a TCP stream, bounded by the link capacity', async () => {
    const server = spawn('ip', ['netns', 'exec', `${tag}-B`, 'iperf3', '--server', '--one-off', '--bind', '198.18.2.2'], { stdio: 'ignore' });
    try {
      await new Promise((r) => setTimeout(r, 500));
      const client = await pcctl('lab', 'exec', 'A', '--timeout', '30', '--', 'iperf3', '--client', 'B', '--time', '2', '--json', '--connect-timeout', '5000');
      expect(client.code).toBe(0);
      const result = JSON.parse(client.stdout) as { end: { sum_received: { bytes: number; bits_per_second: number } } };
      expect(result.end.sum_received.bytes).toBeGreaterThan(1_000_000);
      expect(result.end.sum_received.bits_per_second).toBeLessThan(1.05e9);
    } finally {
      server.kill('SIGKILL');
    }
  });

  test("traffic steered at R1 into C1's VXLAN port (as the router driver does) crosses the controller and still reaches B", async () => {
    const openflow = `unix:${join(labDir, 'ovs-R1', 'br0.mgmt')}`;
    // What the driver would install for a rule matching ICMP: to the cloudlet with its VNI, and back into table 1.
    for (const flow of ['table=0,cookie=0x14,priority=500,icmp,actions=set_field:1000->tun_id,output:vx0', 'table=0,cookie=0x14,priority=600,in_port=vx0,actions=goto_table:1']) {
      execFileSync('ovs-ofctl', ['-O', 'OpenFlow13', 'add-flow', openflow, flow]);
    }
    const config = JSON.parse(readFileSync(join(labDir, 'controller-C1.json'), 'utf8')) as { metrics: { port: number } };
    const rx = async (): Promise<number> => {
      const text = await (await fetch(`http://127.0.0.1:${config.metrics.port}/metrics`)).text();
      return Number(text.split('\n').find((l) => l.startsWith('pcloud_dataplane_uplink_packets{what="rx"'))?.split(' ').pop() ?? 0);
    };
    const before = await rx();
    const ping = await pcctl('lab', 'exec', 'A', '--', 'ping', '-c', '3', '-i', '0.2', '-W', '2', 'B');
    expect(ping.stdout + ping.stderr).toContain('3 received');
    // Requests (at R1 from A) and replies (at R1 from R2) both went through C1.
    await expect.poll(async () => (await rx()) - before, { timeout: 10_000 }).toBeGreaterThanOrEqual(6);
    execFileSync('ovs-ofctl', ['-O', 'OpenFlow13', 'del-flows', openflow, 'cookie=0x14/-1']);
  });

  test('lab down removes every namespace, link, OVS process and hosts file it made', async () => {
    const down = await pcctl('lab', 'down');
    expect(down.code).toBe(0);
    expect(down.stdout).toContain(`namespaces ${tag}-A`);
    expect(down.stdout).toContain('ovs-vswitchd of R1');
    expect(down.stdout).toContain('delay line (pid');
    expectNothingLeft(tag);
    expect(existsSync(join(labDir, 'ovs-R1'))).toBe(false);
  });

  test('a lab up killed with SIGKILL while building its network is removed by the next down', async () => {
    const up = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', 'main/cli/pcctl.ts', 'lab', 'up', '--topology', 'deterlab', '--mode', 'namespaces'], {
      cwd: repoRoot,
      env: { ...process.env, PCLOUD_DATA_DIR: dataDir },
      stdio: 'ignore',
    });
    const exited = new Promise((r) => up.once('exit', r));
    // Killed once the first namespaces exist: the plan was recorded before them.
    await expect.poll(() => { const t = plan()?.tag; return t ? namespacesTagged(t).length : 0; }, { timeout: 60_000, interval: 10 }).toBeGreaterThan(0);
    up.kill('SIGKILL');
    await exited;
    const killedTag = plan()?.tag ?? '';
    tags.push(killedTag);
    const down = await pcctl('lab', 'down');
    expect(down.code).toBe(0);
    await expect.poll(() => ovsDaemons(), { timeout: 10_000 }).toEqual([]);
    await expect.poll(() => delayLines(), { timeout: 10_000 }).toEqual([]);
    expectNothingLeft(killedTag);
  });
});
