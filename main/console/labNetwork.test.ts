import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { chooseLabMode, cloudletUplink, namespaceOf, planLabNetwork } from './labNetwork.ts';
import { loadLabTopology } from './labTopology.ts';
import { TrafficRunSchema } from './labTraffic.ts';
import { icmpEcho, ipv4Frame, readPcapFrames, synthesizedFrame, writePcapFrames } from './labTrafficSource.ts';

const inBenchmarkRange = (a: string): boolean => /^198\.(18|19)\.\d+\.\d+$/.test(a);

/** RFC 1071 sum over a header or segment whose checksum field is filled in: all ones when right. */
function sums(data: Uint8Array, initial = 0): number {
  let sum = initial;
  for (let i = 0; i + 1 < data.length; i += 2) sum += ((data[i] as number) << 8) | (data[i + 1] as number);
  if (data.length % 2) sum += (data[data.length - 1] as number) << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

describe('the lab network plan', () => {
  test('DeterLab (Fig. 4): a namespace per host, router and cloudlet uplink, all tagged, addresses only from 198.18.0.0/15', () => {
    const plan = planLabNetwork(loadLabTopology('deterlab'), '/tmp/lab', 'plt01');
    expect(plan.hosts.map((h) => [h.id, h.ns, h.address, h.gateway, h.routerId])).toEqual([
      ['A', 'plt01-A', '198.18.1.2', '198.18.1.1', 'R1'],
      ['B', 'plt01-B', '198.18.2.2', '198.18.2.1', 'R2'],
    ]);
    expect(plan.routers.map((r) => [r.id, r.ns, r.runDir])).toEqual([
      ['R1', 'plt01-R1', join('/tmp/lab', 'ovs-R1')],
      ['R2', 'plt01-R2', join('/tmp/lab', 'ovs-R2')],
    ]);
    expect(plan.uplinks.map((u) => [u.cloudletId, u.ns, u.routerId, u.routerAddress, u.address, u.vni])).toEqual([
      ['C1', 'plt01-C1', 'R1', '198.19.0.1', '198.19.0.2', 1000],
      ['C2', 'plt01-C2', 'R2', '198.19.1.1', '198.19.1.2', 1001],
    ]);
    const addresses = [...plan.hosts.flatMap((h) => [h.address, h.gateway]), ...plan.uplinks.flatMap((u) => [u.address, u.routerAddress])];
    expect(addresses.filter((a) => !inBenchmarkRange(a))).toEqual([]);
    // Every interface name fits the kernel's 15 characters.
    expect(plan.links.flatMap((l) => [l.a.dev, l.b.dev]).filter((d) => d.length > 15)).toEqual([]);
    expect(namespaceOf(plan, 'B')).toBe('plt01-B');
    expect(namespaceOf(plan, 'C2')).toBe('plt01-C2');
    expect(namespaceOf(plan, 'nosuch')).toBeUndefined();
  });

  test('table 1 forwards by destination: delivered to the host on its own router, else out of the link towards it', () => {
    const plan = planLabNetwork(loadLabTopology('deterlab'), '/tmp/lab', 'plt02');
    const r1 = new Map(plan.forwarding)?.get('R1') ?? [];
    const a = plan.hosts[0];
    // R1's ports: l0 (to A) is OpenFlow port 1, l1 (to R2) is port 2.
    expect(r1).toEqual([
      `table=1,priority=100,ip,nw_dst=198.18.1.0/24,actions=mod_dl_src:${a?.gatewayMac},mod_dl_dst:${a?.mac},dec_ttl,output:1`,
      'table=1,priority=100,ip,nw_dst=198.18.2.0/24,actions=dec_ttl,output:2',
    ]);
  });

  test('between routers the path of lowest RTT is taken (Fig. 8 WAN: user A at Hong Kong, user B at Barcelona)', () => {
    const plan = planLabNetwork(loadLabTopology('globalwan'), '/tmp/lab', 'plt03');
    expect(plan.hosts.map((h) => [h.id, h.address, h.routerId])).toEqual([
      ['A', '198.18.1.2', 'HKG'],
      ['B', '198.18.2.2', 'BCN'],
      ['X', '198.18.3.2', 'NYC'],
      ['Y', '198.18.4.2', 'MIA'],
    ]);
    const portTo = (router: string, peer: string): number | null => {
      const l = plan.links.find((x) => (x.a.pop === router && x.b.pop === peer) || (x.b.pop === router && x.a.pop === peer));
      return (l?.a.pop === router ? l.a.ofport : l?.b.ofport) ?? null;
    };
    const flowTo = (router: string, subnet: string): string | undefined => new Map(plan.forwarding).get(router)?.find((f) => f.includes(`nw_dst=${subnet}`));
    // LAX to Barcelona: via New York (about 40 + 62 ms) beats via Miami (about 38 + 75 ms).
    expect(flowTo('LAX', '198.18.2.0/24')).toBe(`table=1,priority=100,ip,nw_dst=198.18.2.0/24,actions=dec_ttl,output:${portTo('LAX', 'NYC')}`);
    expect(flowTo('BCN', '198.18.1.0/24')).toBe(`table=1,priority=100,ip,nw_dst=198.18.1.0/24,actions=dec_ttl,output:${portTo('BCN', 'NYC')}`);
  });

  test("every link with an RTT runs through the lab's delay line: half the RTT each way, its loss, a queue of twice its bandwidth-delay product", () => {
    const plan = planLabNetwork(loadLabTopology('deterlab'), '/tmp/lab', 'plt05');
    expect(plan.delayLine).toMatchObject({ ns: 'plt05-wire', stats: join('/tmp/lab', 'delayline-plt05.json') });
    // DeterLab (Fig. 4): 0.2, 0.4 and 0.2 ms at 1 Gb/s; the queue bound never goes under 1 MiB.
    expect(plan.links.map((l) => l.delay)).toEqual([
      { wireA: 'd0a', wireB: 'd0b', oneWayUs: 100, lossPpm: 0, queueBytes: 1_048_576 },
      { wireA: 'd1a', wireB: 'd1b', oneWayUs: 200, lossPpm: 0, queueBytes: 1_048_576 },
      { wireA: 'd2a', wireB: 'd2b', oneWayUs: 100, lossPpm: 0, queueBytes: 1_048_576 },
    ]);
    const wan = planLabNetwork(loadLabTopology('globalwan'), '/tmp/lab', 'plt06');
    const nycBcn = wan.links.find((l) => [l.a.pop, l.b.pop].sort().join('-') === 'BCN-NYC');
    // About 61 ms of fibre: 30.5 ms each way; 1 Gb/s * 30.5 ms * 2 is about 7.6 MB.
    expect(nycBcn?.delay?.oneWayUs).toBe(Math.round((nycBcn?.rttMs ?? 0) * 500));
    expect(nycBcn?.delay?.queueBytes).toBeGreaterThan(7_000_000);
    expect(wan.links.every((l) => l.delay && l.delay.oneWayUs > 0 && l.delay.queueBytes <= 16 * 1024 * 1024)).toBe(true);
    expect(wan.links.flatMap((l) => [l.delay?.wireA, l.delay?.wireB]).filter((d) => !d || d.length > 15)).toEqual([]);
    expect(() => planLabNetwork({ ...loadLabTopology('deterlab'), pops: [...loadLabTopology('deterlab').pops, { id: 'wire', name: 'w', kind: 'router' }] }, '/tmp/lab')).toThrow('named "wire"');
  });

  test('a host with two links, or two hosts joined directly, is refused with the reason', () => {
    const base = loadLabTopology('deterlab');
    expect(() => planLabNetwork({ ...base, links: [...base.links, { a: 'A', b: 'R2', rttMs: 1, capacityMbps: 10 }] }, '/tmp/lab')).toThrow('host A of topology deterlab has 2 links');
    expect(() => planLabNetwork({ ...base, links: [...base.links, { a: 'A', b: 'B', rttMs: 1, capacityMbps: 10 }] }, '/tmp/lab')).toThrow('link A-B joins two hosts');
    expect(() => planLabNetwork(base, `/tmp/${'x'.repeat(90)}`)).toThrow('too long for Open vSwitch');
  });

  test('each controller is told its uplink namespace and its router for the router driver (contracts.md 4)', () => {
    const plan = planLabNetwork(loadLabTopology('deterlab'), '/tmp/lab', 'plt04');
    expect(cloudletUplink(plan, 'C2')).toEqual({
      netns: '/var/run/netns/plt04-C2',
      bind: '198.19.1.2',
      routerAddress: '198.19.1.1',
      vni: 1001,
      router: {
        kind: 'ovs',
        bridge: 'br0',
        vxlanPort: 'vx1',
        ovsdb: 'unix:/tmp/lab/ovs-R2/db.sock',
        openflow: 'unix:/tmp/lab/ovs-R2/br0.mgmt',
        vni: 1001,
        // Its link ports, for the links' loads: R1-R2 (link 1) and R2-B (link 2), each from R2.
        links: [
          { port: 'l1', from: 'R2', to: 'R1' },
          { port: 'l2', from: 'R2', to: 'B' },
        ],
      },
    });
  });

  test('the userspace mode is chosen when asked, and says why', () => {
    expect(chooseLabMode('userspace')).toEqual({ kind: 'userspace', reason: 'asked for the userspace traffic source' });
    const auto = chooseLabMode('auto');
    expect(auto.reason.length).toBeGreaterThan(0);
    if (process.getuid?.() !== 0) expect(auto).toEqual({ kind: 'userspace', reason: 'building namespaces, links and routers needs root' });
  });
});

describe('the userspace traffic source', () => {
  const ends = { client: { address: '198.18.1.2', mac: '02:50:43:01:00:00' }, server: { address: '198.18.2.2', mac: '02:50:43:01:02:01' } };

  test('synthesized frames carry right IPv4 and L4 checksums', () => {
    for (const profile of ['web', 'bulk', 'flood'] as const) {
      for (const n of [0, 1, 5]) {
        const f = synthesizedFrame(profile, ends, n);
        expect(f.readUInt16BE(12)).toBe(0x0800);
        const ip = f.subarray(14, 34);
        expect(sums(ip)).toBe(0xffff);
        const l4 = f.subarray(34);
        const proto = ip[9] as number;
        const pseudo = proto === 1 ? 0 : ip.readUInt16BE(12) + ip.readUInt16BE(14) + ip.readUInt16BE(16) + ip.readUInt16BE(18) + proto + l4.length;
        expect(sums(l4, pseudo)).toBe(0xffff);
      }
    }
    expect(synthesizedFrame('flood', ends, 0)[23]).toBe(1);
    const request = synthesizedFrame('web', ends, 0);
    expect(request.readUInt16BE(34 + 2)).toBe(80);
    expect(ipv4Frame(ends.client, ends.server, 17, new Uint8Array(8), null).length).toBe(42);
  });

  test('writes classic pcap captures that read back frame for frame (the ids-flood experiment replays them)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pcap-write-'));
    try {
      const frames = [0, 1, 2].map((n) => ipv4Frame(ends.client, ends.server, 1, icmpEcho(0x5043, n, 972), 2));
      writePcapFrames(join(dir, 'flood.pcap'), frames);
      const back = readPcapFrames(join(dir, 'flood.pcap'));
      expect(back).toEqual(frames);
      // A 1,000-byte IP packet: 20 of IPv4, 8 of ICMP, 972 of data.
      expect(back[0]?.readUInt16BE(16)).toBe(1000);
      expect(sums(back[2]?.subarray(34) ?? Buffer.alloc(0))).toBe(0xffff);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('reads classic pcap captures and refuses pcapng with a way out', () => {
    const frames = readPcapFrames(join(import.meta.dirname, '../../../shared/testdata/pcap/sgr_hs-icmpScan.pcap'));
    expect(frames.length).toBeGreaterThan(10);
    expect(frames.every((f) => f.length >= 14)).toBe(true);
    expect(() => readPcapFrames(join(import.meta.dirname, '../../../shared/testdata/pcap/pcapplusplus_many_interfaces-1.pcapng'))).toThrow('editcap -F pcap');
  });
});

describe('lab traffic runs', () => {
  test('are bounded in time and rate, and a replay needs a capture that exists', () => {
    expect(TrafficRunSchema.parse({ profile: 'flood' })).toEqual({ profile: 'flood', durationS: 300, pps: 500, mbps: 100, pcap: [] });
    expect(TrafficRunSchema.safeParse({ profile: 'flood', durationS: 7200 }).success).toBe(false);
    expect(TrafficRunSchema.safeParse({ profile: 'flood', pps: 1_000_000 }).success).toBe(false);
    expect(TrafficRunSchema.safeParse({ profile: 'replay' }).error?.issues[0]?.message).toBe('replay needs --pcap FILE (a classic pcap capture)');
    expect(TrafficRunSchema.safeParse({ profile: 'replay', pcap: ['/nonexistent.pcap'] }).error?.issues[0]?.message).toBe('no capture /nonexistent.pcap');
  });
});
