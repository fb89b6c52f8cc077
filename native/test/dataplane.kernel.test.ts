// Interop with the real Linux kernel as the front-end router (needs root;
// runs in CI, which is root): network namespaces, veth, a kernel vxlan
// device, created and removed here (names prefixed dp). Ping and a TCP
// transfer between two hosts, as legacy traffic, through a ring VI running
// forward, and through a tap VI whose namespace forwards with plain Linux
// routing; then shared captures replayed with tcpreplay into the router's
// vxlan device, with per-rule counters equal to tshark's count.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataPlane, FlowTable } from '../index.ts';
import { testdataDir } from './classbench.ts';
import { CLOUDLET, DataPlaneLab, H2, REPLAY_VNI, ROUTER_RETURN_PORT, ROUTER_VTEP, VNI, isRoot, run } from '../../main/console/dataplaneLab.ts';

const root = isRoot();

describe.skipIf(!root)('data plane with the kernel as router (root)', () => {
  let lab: DataPlaneLab;
  let table: FlowTable;
  let plane: DataPlane;
  let dir: string;

  beforeAll(() => {
    lab = new DataPlaneLab().create();
    dir = mkdtempSync(join(tmpdir(), 'dp-kernel-'));
    table = new FlowTable();
    plane = new DataPlane({ table, netns: lab.nsPath(lab.ns.c), bind: CLOUDLET, port: 4789, routerPort: ROUTER_RETURN_PORT, routers: [ROUTER_VTEP], vnis: [VNI, REPLAY_VNI] });
  });

  afterAll(() => {
    plane?.close();
    lab?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  function ping(): void {
    lab.exec(lab.ns.h1, 'ping', '-c', '3', '-i', '0.2', '-W', '2', H2);
  }

  async function tcpTransfer(): Promise<void> {
    expect(await lab.tcpTransfer()).toEqual({ senderExit: 0, received: 2_000_000, intact: true });
  }

  // The plane forwards on its own threads, so when a transfer returns its last
  // frames may be counted as received and not yet as sent (once 58 of them,
  // with the tests pinned to one core). Waits up to 5 s for `balanced`; the
  // expectations that follow then compare the settled counts, so a frame
  // that is really lost still fails them.
  async function settled(balanced: () => boolean): Promise<void> {
    const end = Date.now() + 5000;
    while (!balanced() && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  }

  it('carries ping and TCP between two hosts as legacy traffic', async () => {
    const before = plane.uplinkCounters();
    ping();
    await tcpTransfer();
    const sent = (): number => plane.uplinkCounters().txPackets - before.txPackets;
    const received = (): number => plane.uplinkCounters().rxPackets - before.rxPackets;
    await settled(() => sent() === received());
    const after = plane.uplinkCounters();
    expect(after.legacy - before.legacy).toBeGreaterThan(1000);
    expect(after.txPackets - before.txPackets).toBe(after.rxPackets - before.rxPackets);
  }, 60_000);

  it('carries them through a ring VI running forward', async () => {
    const socketPath = join(dir, 'vi1.sock');
    plane.addRingPort(1, { socketPath, egress: { mode: 'transparent' } });
    const stop = new Int32Array(new SharedArrayBuffer(4));
    const worker = new Worker(new URL('./dataplaneViWorker.ts', import.meta.url), { workerData: { socketPath, mode: 'forward', stop } });
    await new Promise((resolve) => worker.once('message', resolve));
    // Both directions of the flow go through the VI.
    const ids = table.add([
      { priority: 10, match: { dst: '198.18.20.0/24' }, action: 'to_vi', viId: 1 },
      { priority: 10, match: { src: '198.18.20.0/24' }, action: 'to_vi', viId: 1 },
    ]);
    try {
      ping();
      await tcpTransfer();
      await settled(() => plane.viCounters(1)?.from_vi.packets === plane.viCounters(1)?.to_vi.packets);
      const c = plane.viCounters(1);
      expect(c?.to_vi.packets).toBeGreaterThan(1000);
      expect(c?.from_vi.packets).toBe(c?.to_vi.packets);
      expect(c?.from_vi.drops.spoofing).toBe(0);
    } finally {
      // Terminate: rules first (traffic falls back to legacy), then the port.
      table.remove(ids);
      Atomics.store(stop, 0, 1);
      await new Promise((resolve) => worker.once('message', resolve));
      await worker.terminate();
      plane.closePort(1);
    }
    ping();
  }, 60_000);

  it('carries them through a tap VI where a Linux bridge passes packets from in0 to out0', async () => {
    const vi = lab.addNamespace('vi2');
    const names = plane.addTapPort(2, { layout: 'bump', netns: lab.nsPath(vi), egress: { mode: 'transparent' } });
    expect(names).toEqual(['in0', 'out0']);
    lab.bridgeVi(vi, 'in0', 'out0');
    const ids = table.add([
      { priority: 10, match: { dst: '198.18.20.0/24' }, action: 'to_vi', viId: 2 },
      { priority: 10, match: { src: '198.18.20.0/24' }, action: 'to_vi', viId: 2 },
    ]);
    try {
      ping();
      await tcpTransfer();
      await settled(() => plane.viCounters(2)?.from_vi.packets === plane.viCounters(2)?.to_vi.packets);
      const c = plane.viCounters(2);
      expect(c?.to_vi.packets).toBeGreaterThan(1000);
      expect(c?.from_vi.packets).toBe(c?.to_vi.packets);
      expect(c?.from_vi.drops.spoofing).toBe(0);
    } finally {
      table.remove(ids);
      plane.closePort(2);
    }
    ping();
  }, 60_000);

  it.each([
    ['esnet_nmap_80_all.pcap', [
      { priority: 10, match: { ipProto: 6, dstPort: 80 }, action: 'drop' as const, filter: 'tcp.dstport == 80' },
      { priority: 5, match: { ipProto: 6 }, action: 'drop' as const, filter: 'tcp && !(tcp.dstport == 80)' },
    ]],
    ['pcapplusplus_DnsPackets.pcap', [
      { priority: 10, match: { ipProto: 17, dstPort: 53 }, action: 'drop' as const, filter: 'udp.dstport == 53' },
      { priority: 9, match: { ipProto: 17, srcPort: 53 }, action: 'drop' as const, filter: 'udp.srcport == 53 && !(udp.dstport == 53)' },
    ]],
  ])('counts what tshark counts when %s is replayed through the router', async (capture, rules) => {
    const file = `${testdataDir}pcap/${capture}`;
    // The replay enters through vx2 (VNI REPLAY_VNI), so the rules see only the capture.
    const ids = table.add(rules.map(({ filter: _filter, ...rule }) => ({ ...rule, match: { ...rule.match, vni: REPLAY_VNI } })));
    try {
      const before = plane.uplinkCounters();
      run(['ip', 'netns', 'exec', lab.ns.r, 'tcpreplay', '-q', '-i', 'vx2', '--pps=2000', file]);
      // Frames larger than vx0's MTU never reach the wire; ICMP errors quote headers that tshark would count.
      const expected = rules.map((r) => Number(run(['tshark', '-r', file, '-n', '-o', 'ip.defragment:FALSE', '-o', 'ipv6.defragment:FALSE',
        '-Y', `(${r.filter}) && !icmp && !icmpv6 && frame.len <= 1514`, '-T', 'fields', '-e', 'frame.number']).trim().split('\n').filter(Boolean).length));
      const total = Number(run(['tshark', '-r', file, '-n', '-Y', 'frame.len <= 1514', '-T', 'fields', '-e', 'frame.number']).trim().split('\n').filter(Boolean).length);
      const end = Date.now() + 5000;
      while (plane.uplinkCounters().rxPackets - before.rxPackets < total && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
      expect(plane.uplinkCounters().socketDrops).toBe(before.socketDrops);
      expect(Array.from(ids, (id) => table.counters(id).packets)).toEqual(expected);
    } finally {
      table.remove(ids);
    }
  }, 60_000);
});
