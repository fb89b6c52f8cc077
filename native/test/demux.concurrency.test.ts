// Read-copy-update under load: a worker thread classifies batches against a
// table that the main thread rewrites generation by generation (every rule
// replaced in one change set). No batch may see two generations, no packet
// may miss during the swaps, and the per-rule counters, read while traffic
// flows, must add up to exactly what the workers classified (three workers
// at once exercise both the per-thread counter shards and the shared one).
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { FlowTable } from '../demux.ts';
import type { FlowRule } from '../demux.ts';
import { buildFrame, ipv4Header, packFrames } from './frameBuilder.ts';

const PREFIXES = 300;

function generation(g: number): FlowRule[] {
  return Array.from({ length: PREFIXES }, (_, i) => ({
    priority: 100 + (i % 7),
    match: { dst: `10.${i >> 8}.${i & 255}.0/24`, ...(i % 3 === 0 ? { dstPort: { from: 0, to: 1000 } } : {}) },
    action: 'to_vi' as const,
    viId: g,
  }));
}

describe('concurrent classification and rule changes', () => {
  it.each([[4, 1], [64, 3]])('never shows a batch half of a change (overlay limit %i, %i workers)', async (overlayLimit, workerCount) => {
    const table = new FlowTable({ overlayLimit });
    let live = table.add(generation(1));
    const everyId: number[] = Array.from(live);
    const frames = packFrames(Array.from({ length: 256 }, (_, k) =>
      buildFrame(ipv4Header(0x01010101, (0x0a000000 + ((k % PREFIXES) << 8) + 9) >>> 0, 5, 80, 6))));
    const shared = (a: Uint8Array | Uint32Array) => {
      const copy = new (a.constructor as Uint8ArrayConstructor)(new SharedArrayBuffer(a.byteLength)) as typeof a;
      copy.set(a as never);
      return copy;
    };
    const stop = new Int32Array(new SharedArrayBuffer(8)); // [0]: stop request, [1]: a worker is running
    const workerData = { handle: table.handle, buffer: shared(frames.buffer), offsets: shared(frames.offsets), lengths: shared(frames.lengths), stop };
    const workers = Array.from({ length: workerCount }, () => new Worker(new URL('./demuxConcurrencyWorker.ts', import.meta.url), { workerData }));
    const done = Promise.all(workers.map((worker) => new Promise<{ batches: number; mixed: number; misses: number; generations: number }>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    })));
    while (Atomics.load(stop, 1) === 0) await new Promise((r) => setTimeout(r, 5));
    const counters = new Float64Array(3 * 64);
    for (let g = 2; g <= 60; g++) {
      live = table.apply({ add: generation(g), remove: live });
      everyId.push(...live);
      table.readCounters(live.subarray(0, 64), counters); // reading while traffic flows must be safe
      await new Promise((r) => setTimeout(r, 2));
    }
    Atomics.store(stop, 0, 1);
    const reports = await done;
    await Promise.all(workers.map((w) => w.terminate()));
    const report = {
      batches: reports.reduce((n, r) => n + r.batches, 0),
      mixed: reports.reduce((n, r) => n + r.mixed, 0),
      misses: reports.reduce((n, r) => n + r.misses, 0),
      generations: Math.max(...reports.map((r) => r.generations)),
    };
    expect(report.mixed).toBe(0);
    expect(report.misses).toBe(0);
    expect(report.generations).toBeGreaterThan(10);
    const all = new Float64Array(3 * everyId.length);
    table.readCounters(Uint32Array.from(everyId), all);
    let packets = 0;
    for (let i = 0; i < everyId.length; i++) packets += all[3 * i] ?? 0;
    expect(packets).toBe(report.batches * 256);
    expect(table.stats().packets).toBe(report.batches * 256);
  });

  it('refuses to attach to a table that no longer exists', () => {
    expect(() => FlowTable.attach(987654)).toThrow(/no live demux table/);
  });
});
