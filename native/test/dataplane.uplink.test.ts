// The data plane on loopback, no root needed: a UDP socket plays the
// front-end router (VXLAN in, VXLAN back), the data plane's threads classify
// with a real flow table, and a worker thread plays a VI on a ring port.
// Covers legacy hairpin, drop rules, every malformed case counted by reason
// (with random bytes and a bounded flood), ring VIs that forward, stall or
// spoof, per-VI policing and samples.
import { createSocket } from 'node:dgram';
import type { Socket } from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { viDropReasons } from '../../main/protocol/vocabulary.ts';
import { DataPlane, FlowTable, RingClient } from '../index.ts';
import { buildFrame, ipv4Header, seededRandom } from './frameBuilder.ts';

const VNI = 4242;
const FORWARD_VI = 7;
const STALLED_VI = 8;
const SPOOF_VI = 9;
const POLICED_VI = 10;
const QUARANTINED_VI = 11;
// 198.18.0.0/15 only. Destination /24 per purpose.
const NET = { forward: 0xc6120100, drop: 0xc6120200, stalled: 0xc6120300, spoof: 0xc6120400, policed: 0xc6120500, quarantined: 0xc6120600, legacy: 0xc6120900 };

function vxlan(frame: Uint8Array, vni = VNI, flags = 0x08): Buffer {
  const out = Buffer.alloc(8 + frame.length);
  out[0] = flags;
  out.writeUIntBE(vni, 4, 3);
  out.set(frame, 8);
  return out;
}

function udpFrame(dst: number, payload = 64, sport = 40000): Uint8Array {
  return buildFrame(ipv4Header(0xc6130001, dst + 9, sport, 5001, 17), { payload });
}

async function bindRouter(address = '127.0.0.1'): Promise<Socket> {
  const s = createSocket('udp4');
  await new Promise<void>((resolve) => s.bind(0, address, resolve));
  return s;
}

async function until(check: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('data plane on a loopback uplink', () => {
  let dir: string;
  let table: FlowTable;
  let plane: DataPlane;
  let router: Socket;
  const received: Buffer[] = [];
  const workers: { worker: Worker; stop: Int32Array }[] = [];
  let ruleIds: Uint32Array;

  const send = (datagram: Uint8Array, from: Socket = router): Promise<void> =>
    new Promise((resolve, reject) => from.send(datagram, plane.port, '127.0.0.1', (e) => (e ? reject(e) : resolve())));

  async function startVi(viId: number, mode: 'forward' | 'spoof', egress: Parameters<DataPlane['addRingPort']>[1]['egress']) {
    const socketPath = join(dir, `vi-${viId}.sock`);
    plane.addRingPort(viId, { socketPath, slots: 256, egress });
    const stop = new Int32Array(new SharedArrayBuffer(4));
    const worker = new Worker(new URL('./dataplaneViWorker.ts', import.meta.url), { workerData: { socketPath, mode, stop } });
    await new Promise<void>((resolve, reject) => {
      worker.once('message', () => resolve());
      worker.once('error', reject);
    });
    worker.on('error', (e) => console.error('VI worker failed', e));
    const entry = { worker, stop };
    workers.push(entry);
    return entry;
  }

  async function stopVi(entry: { worker: Worker; stop: Int32Array }): Promise<{ handled: number; spoofed: number }> {
    Atomics.store(entry.stop, 0, 1);
    const result = await new Promise<{ handled: number; spoofed: number }>((resolve) => entry.worker.once('message', resolve));
    await entry.worker.terminate();
    workers.splice(workers.indexOf(entry), 1);
    return result;
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'dp-uplink-'));
    table = new FlowTable();
    ruleIds = table.add([
      { priority: 10, match: { dst: '198.18.1.0/24' }, action: 'to_vi', viId: FORWARD_VI, sampleRate: 1 },
      { priority: 10, match: { dst: '198.18.2.0/24' }, action: 'drop' },
      { priority: 10, match: { dst: '198.18.3.0/24' }, action: 'to_vi', viId: STALLED_VI },
      { priority: 10, match: { dst: '198.18.4.0/24' }, action: 'to_vi', viId: SPOOF_VI },
      { priority: 10, match: { dst: '198.18.5.0/24' }, action: 'to_vi', viId: POLICED_VI },
      { priority: 5, match: { dst: '198.18.9.0/24' }, action: 'legacy', sampleRate: 2 },
      { priority: 10, match: { dst: '198.18.6.0/24' }, action: 'to_vi', viId: QUARANTINED_VI },
    ]);
    router = await bindRouter();
    router.on('message', (m) => received.push(m));
    plane = new DataPlane({ table, routers: ['127.0.0.1'], routerPort: router.address().port, vnis: [VNI], bind: '127.0.0.1', port: 0, threads: 2 });
  });

  afterAll(async () => {
    for (const w of [...workers]) await stopVi(w);
    plane?.close();
    router?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('sends unmatched and legacy traffic back to the router unchanged, with its VNI', async () => {
    received.length = 0;
    const frames = [udpFrame(NET.legacy), udpFrame(0xc6120a00, 200)];
    for (const f of frames) await send(vxlan(f));
    await until(() => received.length === 2, 'two legacy frames');
    const back = received.map((m) => ({ vni: m.readUIntBE(4, 3), flags: m[0], frame: m.subarray(8) }));
    for (const f of frames) expect(back.some((b) => b.vni === VNI && b.flags === 0x08 && Buffer.compare(b.frame, f) === 0)).toBe(true);
    const c = plane.uplinkCounters();
    expect(c.legacy).toBeGreaterThanOrEqual(2);
    expect(c.missed).toBeGreaterThanOrEqual(1);
    expect(table.counters(ruleIds[5] ?? 0).packets).toBe(1);
  });

  it('drops what a drop rule matches and counts it', async () => {
    const before = plane.uplinkCounters().ruleDrops;
    received.length = 0;
    for (let i = 0; i < 5; i++) await send(vxlan(udpFrame(NET.drop)));
    await until(() => plane.uplinkCounters().ruleDrops === before + 5, 'five rule drops');
    expect(received.length).toBe(0);
    expect(table.counters(ruleIds[1] ?? 0).packets).toBe(5);
  });

  it('counts each malformed case by reason and keeps forwarding', async () => {
    const stranger = await bindRouter('127.0.0.2');
    try {
      const before = plane.uplinkCounters();
      const good = udpFrame(NET.legacy);
      const badLength = good.slice();
      badLength[16] = 0xff; // IPv4 total length larger than the frame
      await send(Buffer.from([0x08, 0, 0, 0]));                    // short_vxlan
      await send(vxlan(good, VNI, 0x00));                          // vxlan_flag_not_set
      await send(vxlan(good, VNI + 1));                            // unknown_vni
      await send(vxlan(good.subarray(0, 10)));                     // truncated_inner
      await send(vxlan(badLength));                                // truncated_ipv4 (inner)
      await send(vxlan(good.subarray(0, 30)));                     // truncated_ipv4: cut inside the IP header
      await send(vxlan(good), stranger);                           // unknown_vtep
      const m = () => plane.uplinkCounters().malformed;
      await until(() => (m().unknown_vtep ?? 0) > (before.malformed.unknown_vtep ?? 0), 'unknown_vtep counted');
      await until(() => (m().truncated_ipv4 ?? 0) >= (before.malformed.truncated_ipv4 ?? 0) + 2, 'inner truncations counted');
      const after = m();
      for (const reason of ['short_vxlan', 'vxlan_flag_not_set', 'unknown_vni', 'truncated_inner', 'unknown_vtep']) {
        expect(after[reason], reason).toBe((before.malformed[reason] ?? 0) + 1);
      }
      // Random bytes and a bounded flood of tiny datagrams: counted, never fatal.
      const random = seededRandom(12);
      for (let i = 0; i < 200; i++) {
        const n = Math.floor(random() * 120);
        const bytes = Buffer.alloc(n);
        for (let j = 0; j < n; j++) bytes[j] = Math.floor(random() * 256);
        if (n > 0 && i % 2 === 0) bytes[0] = 0x08; // half with the I flag, so inner parsing gets random bytes too
        await send(bytes);
      }
      const tiny = Buffer.from([0x08]);
      for (let i = 0; i < 20_000; i++) router.send(tiny, plane.port, '127.0.0.1');
      await until(() => plane.uplinkCounters().rxPackets >= before.rxPackets + 7 + 200 + 20_000 - plane.uplinkCounters().socketDrops, 'flood received or counted as socket drops', 10_000);
      received.length = 0;
      await send(vxlan(good));
      await until(() => received.length === 1, 'legacy still forwarded after the flood');
      const end = plane.uplinkCounters();
      expect(end.malformed.short_vxlan).toBeGreaterThanOrEqual((before.malformed.short_vxlan ?? 0) + 1 + 20_000 - end.socketDrops);
    } finally {
      stranger.close();
    }
  });

  it('quarantine: traffic for the VI goes legacy, everything it emits is dropped and counted; release undoes it', async () => {
    const socketPath = join(dir, 'vi-quarantined.sock');
    plane.addRingPort(QUARANTINED_VI, { socketPath, slots: 64, egress: { mode: 'unchecked' } });
    const vi = RingClient.connect(socketPath);
    try {
      const batch = vi.newBatch(8);
      plane.setQuarantined(QUARANTINED_VI, true);
      received.length = 0;
      const frame = udpFrame(NET.quarantined);
      await send(vxlan(frame));
      await until(() => received.length === 1, 'the frame back at the router as legacy');
      expect(Buffer.compare(received[0]?.subarray(8) ?? Buffer.alloc(0), frame)).toBe(0);
      expect(vi.receive(batch, 50)).toBe(0);
      batch.reset();
      for (let i = 0; i < 3; i++) batch.emit(frame);
      expect(vi.send(batch)).toBe(3);
      await until(() => plane.viCounters(QUARANTINED_VI)?.from_vi.drops.quarantined === 3, 'three emitted frames dropped as quarantined');
      const c = plane.viCounters(QUARANTINED_VI);
      expect(c?.to_vi.packets).toBe(0);
      expect(c?.from_vi.packets).toBe(0);
      expect(Object.keys(c?.from_vi.drops ?? {})).toEqual([...viDropReasons]);
      expect(received.length).toBe(1);
      plane.setQuarantined(QUARANTINED_VI, false);
      await send(vxlan(frame));
      expect(vi.receive(batch, 2000)).toBe(1);
      batch.forwardAll();
      expect(vi.send(batch)).toBe(1);
      await until(() => plane.viCounters(QUARANTINED_VI)?.from_vi.packets === 1, 'the released VI forwards again');
    } finally {
      vi.close();
      plane.closePort(QUARANTINED_VI);
    }
  });

  it('passes traffic through a ring VI running forward, with counters and samples', async () => {
    const vi = await startVi(FORWARD_VI, 'forward', { mode: 'transparent' });
    plane.drainSamples(4096);
    received.length = 0;
    const frames = Array.from({ length: 50 }, (_, i) => udpFrame(NET.forward, 100 + i));
    for (const f of frames) await send(vxlan(f));
    await until(() => received.length === 50, '50 frames back through the VI');
    for (const f of frames) expect(received.some((m) => m.readUIntBE(4, 3) === VNI && Buffer.compare(m.subarray(8), f) === 0)).toBe(true);
    const c = plane.viCounters(FORWARD_VI);
    expect(c?.to_vi.packets).toBe(50);
    expect(c?.from_vi.packets).toBe(50);
    expect(c?.to_vi.bytes).toBe(frames.reduce((s, f) => s + f.length, 0));
    const samples = plane.drainSamples(4096).filter((s) => s.viId === String(FORWARD_VI));
    const toVi = samples.filter((s) => s.direction === 'to_vi');
    const fromVi = samples.filter((s) => s.direction === 'from_vi');
    expect(toVi.length).toBe(50); // rate 1: every packet
    expect(fromVi.length).toBe(50);
    expect(toVi.every((s) => s.verdict === 'to_vi' && s.vni === VNI && s.samplingRate === 1 && s.ruleId === String(ruleIds[0]))).toBe(true);
    expect(fromVi.every((s) => s.verdict === 'forward')).toBe(true);
    expect(toVi.map((s) => s.samplePool)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    const first = toVi[0];
    expect(first && Buffer.compare(first.bytes, Buffer.from(frames[0] ?? []))).toBe(0);
    expect(first && Number.isInteger(first.at) && first.ns >= 0 && first.ns < 1_000_000).toBe(true);
    expect((await stopVi(vi)).handled).toBe(50);
  });

  it('a VI that stops reading fills only its own ring; others see no loss', async () => {
    const forward = await startVi(FORWARD_VI + 100, 'forward', { mode: 'unchecked' });
    table.add([{ priority: 20, match: { dst: '198.18.6.0/24' }, action: 'to_vi', viId: FORWARD_VI + 100 }]);
    // The stalled VI has a port but nobody reads its ring (256 slots).
    plane.addRingPort(STALLED_VI, { socketPath: join(dir, 'stalled.sock'), slots: 256 });
    received.length = 0;
    for (let round = 0; round < 10; round++) {
      for (let i = 0; i < 50; i++) await send(vxlan(udpFrame(NET.stalled)));
      for (let i = 0; i < 10; i++) await send(vxlan(udpFrame(0xc6120600)));
    }
    await until(() => received.length === 100, 'the other VI\'s 100 frames');
    await until(() => (plane.viCounters(STALLED_VI)?.to_vi.drops.ring_full ?? 0) === 500 - 256, 'ring_full drops');
    expect(plane.viCounters(STALLED_VI)?.to_vi.packets).toBe(256);
    expect(plane.viCounters(FORWARD_VI + 100)?.to_vi.drops.ring_full).toBe(0);
    expect(plane.viCounters(FORWARD_VI + 100)?.from_vi.packets).toBe(100);
    await stopVi(forward);
    plane.closePort(STALLED_VI);
  });

  it('drops what a transparent VI emits outside its rules, counts it and raises an alarm with the packets', async () => {
    const vi = await startVi(SPOOF_VI, 'spoof', { mode: 'transparent' });
    plane.drainAlarms();
    received.length = 0;
    for (let i = 0; i < 20; i++) await send(vxlan(udpFrame(NET.spoof)));
    await until(() => received.length === 20, 'the 20 legitimate frames');
    const { spoofed } = await stopVi(vi);
    await until(() => plane.viCounters(SPOOF_VI)?.from_vi.drops.spoofing === spoofed, 'spoofing drops');
    expect(spoofed).toBeGreaterThan(0);
    expect(received.every((m) => !(m[8 + 30] === 198 && m[8 + 31] === 19 && m[8 + 32] === 66))).toBe(true);
    const alarms = plane.drainAlarms();
    expect(alarms.length).toBe(Math.min(8, spoofed));
    expect(alarms.every((a) => a.kind === 'spoofing' && a.viId === SPOOF_VI && a.bytes[30] === 198 && a.bytes[31] === 19)).toBe(true);
    // A visible VI may emit only from its own address: the same output now fails for every packet.
    const again = await startVi(SPOOF_VI + 100, 'forward', { mode: 'visible', addresses: ['198.18.4.1'] });
    table.add([{ priority: 20, match: { dst: '198.18.7.0/24' }, action: 'to_vi', viId: SPOOF_VI + 100 }]);
    for (let i = 0; i < 5; i++) await send(vxlan(udpFrame(0xc6120700)));
    await until(() => plane.viCounters(SPOOF_VI + 100)?.from_vi.drops.spoofing === 5, 'visible-mode drops');
    await stopVi(again);
  });

  it('loses nothing while rules change and a VI is terminated under traffic', async () => {
    // One flow through a forward VI, one legacy flow, and unrelated rule
    // churn, all at once. Terminate as the controller does: rules first (the
    // VI's flow falls back to legacy), let the VI drain, then stop it and
    // close its port. Every datagram of both flows must come back.
    const viId = 20;
    const vi = await startVi(viId, 'forward', { mode: 'transparent' });
    const viRule = table.add([{ priority: 30, match: { dst: '198.18.8.0/24' }, action: 'to_vi', viId }]);
    const before = plane.uplinkCounters();
    const viFlow = vxlan(udpFrame(0xc6120800, 80, 41000));
    const legacyFlow = vxlan(udpFrame(NET.legacy, 80, 42000));
    let sent = 0;
    let churn: Uint32Array = new Uint32Array(0);
    for (let round = 0; round < 40; round++) {
      for (let i = 0; i < 25; i++) {
        router.send(viFlow, plane.port, '127.0.0.1');
        router.send(legacyFlow, plane.port, '127.0.0.1');
        sent += 2;
      }
      // Churn: replace 50 unrelated rules per round, in one change each.
      churn = table.apply({ remove: churn, add: Array.from({ length: 50 }, (_, k) => ({
        priority: 40, match: { dst: `198.19.${round}.${k}/32` }, action: 'drop' as const })) });
      if (round === 20) table.remove(viRule);
      await new Promise((r) => setTimeout(r, 5));
    }
    table.remove(churn);
    // Counted at the data plane: everything in was sent back out. (The test's
    // own router socket may overflow on a loaded machine; that is not the
    // data plane's loss.)
    const back = () => plane.uplinkCounters().txPackets - before.txPackets;
    await until(() => back() === sent, `all ${sent} datagrams sent back (got ${back()})`, 10_000);
    expect(plane.uplinkCounters().rxPackets - before.rxPackets).toBe(sent);
    expect(plane.uplinkCounters().socketDrops).toBe(before.socketDrops);
    const c = plane.viCounters(viId);
    expect(c?.to_vi.packets).toBe(c?.from_vi.packets);
    expect(c?.to_vi.packets).toBeGreaterThan(0);
    expect(c?.to_vi.packets).toBeLessThan(sent / 2);
    await stopVi(vi);
    expect(plane.closePort(viId)).toBe(true);
    expect(plane.viCounters(viId)).toBeUndefined();
  });

  /**
   * Sends to the policed VI at twice `fps` frames a second for 5 s with `limits` set, and returns
   * what the port admitted per second (packets and bits). The cap holding is the upper bound; a
   * loaded sender that stalls longer than the bucket's 50 ms burst offers less, hence a generous
   * lower bound in the tests.
   */
  async function policed(limits: Parameters<DataPlane['setLimits']>[1], fps: number, payload: number): Promise<{ pps: number; bps: number }> {
    const vi = await startVi(POLICED_VI, 'forward', { mode: 'unchecked' });
    plane.setLimits(POLICED_VI, limits);
    const frame = vxlan(udpFrame(NET.policed, payload));
    const before = plane.viCounters(POLICED_VI);
    const socketDropsBefore = plane.uplinkCounters().socketDrops;
    const start = performance.now();
    const seconds = 5;
    let sent = 0;
    while (performance.now() - start < seconds * 1000) {
      const due = Math.floor(((performance.now() - start) / 1000) * fps * 2);
      while (sent < due) {
        router.send(frame, plane.port, '127.0.0.1');
        sent++;
      }
      await new Promise((r) => setTimeout(r, 2));
    }
    const elapsed = (performance.now() - start) / 1000;
    await new Promise((r) => setTimeout(r, 200));
    const c = plane.viCounters(POLICED_VI);
    const admitted = (c?.to_vi.packets ?? 0) - (before?.to_vi.packets ?? 0);
    const overCap = (c?.to_vi.drops.policed ?? 0) - (before?.to_vi.drops.policed ?? 0);
    // Every frame that arrived was either admitted or dropped as over the cap.
    expect(admitted + overCap).toBe(sent - (plane.uplinkCounters().socketDrops - socketDropsBefore));
    expect(overCap).toBeGreaterThan(0);
    await stopVi(vi);
    expect(plane.closePort(POLICED_VI)).toBe(true);
    return { pps: admitted / elapsed, bps: (((c?.to_vi.bytes ?? 0) - (before?.to_vi.bytes ?? 0)) * 8) / elapsed };
  }

  it('polices a VI to its packet-rate cap', async () => {
    const cap = 1000;
    const { pps } = await policed({ packetsPerSecond: cap }, cap, 64);
    expect(pps / cap).toBeLessThan(1.05);
    expect(pps / cap).toBeGreaterThan(0.75);
  }, 20_000);

  it('polices a VI to its bit-rate cap (inner frame bits)', async () => {
    const payload = 958; // 1000-byte inner frames
    const cap = 8_000_000; // 1000 such frames a second
    const { bps } = await policed({ bitsPerSecond: cap }, cap / 8000, payload);
    expect(bps / cap).toBeLessThan(1.05);
    expect(bps / cap).toBeGreaterThan(0.75);
  }, 20_000);
});
