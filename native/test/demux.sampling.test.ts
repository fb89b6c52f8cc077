// sFlow-style sampling: for rate N the gap between samples is uniform on
// 1..2N-1 (mean N); a sample keeps the first 128 bytes and its metadata; the
// ring is bounded and counts what it loses; skipped packets are counted.
import { describe, expect, it } from 'vitest';
import { ClassifyResult, FlowTable } from '../demux.ts';
import { buildFrame, ipv4Header, packFrames } from './frameBuilder.ts';

/** n UDP frames to 10.0.0.1, each carrying its index in the source address. */
function numberedFrames(n: number, payload = 0) {
  return packFrames(Array.from({ length: n }, (_, i) => buildFrame(ipv4Header(0x0b000000 + i, 0x0a000001, 1000, 2000, 17), { payload })));
}

function indexOf(bytes: Uint8Array): number {
  return (((bytes[26] ?? 0) << 24) | ((bytes[27] ?? 0) << 16) | ((bytes[28] ?? 0) << 8) | (bytes[29] ?? 0)) - 0x0b000000;
}

describe('sampling', () => {
  it('draws gaps uniformly from 1..2N-1 with mean N', () => {
    const N = 10;
    const t = new FlowTable({ sampleCapacity: 1 << 16 });
    const [id] = t.add([{ priority: 1, match: { dst: '10.0.0.0/8' }, action: 'to_vi', viId: 4, sampleRate: N }]);
    const total = 200_000;
    const b = numberedFrames(total);
    const r = new ClassifyResult(256);
    const picked: number[] = [];
    for (let s = 0; s < total; s += 256) {
      const e = Math.min(total, s + 256);
      t.classify(b.buffer, b.offsets.subarray(s, e), b.lengths.subarray(s, e), r);
      for (const sample of t.drainSamples(1024)) picked.push(indexOf(sample.bytes));
    }
    const gaps = picked.slice(1).map((v, i) => v - (picked[i] ?? 0));
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(1);
    expect(Math.max(...gaps)).toBeLessThanOrEqual(2 * N - 1);
    const mean = gaps.reduce((a, g) => a + g, 0) / gaps.length;
    expect(Math.abs(mean - N)).toBeLessThan(0.3);
    // Every gap value 1..2N-1 occurs, roughly equally often (chi-square-free check: within 25% of uniform).
    const histogram = new Array<number>(2 * N).fill(0);
    gaps.forEach((g) => (histogram[g] = (histogram[g] ?? 0) + 1));
    for (let g = 1; g < 2 * N; g++) expect(Math.abs((histogram[g] ?? 0) / gaps.length - 1 / (2 * N - 1))).toBeLessThan(0.25 / (2 * N - 1));
    const stats = t.stats().sampler;
    expect(stats.sampled).toBe(picked.length);
    expect(stats.sampled + stats.skipped).toBe(total);
    expect(t.counters(id ?? 0)).toEqual({ packets: total, bytes: b.buffer.length, sampled: picked.length });
  });

  it('keeps the first 128 bytes and the sample metadata', () => {
    const t = new FlowTable();
    const [id] = t.add([{ priority: 1, match: { dst: '10.0.0.0/8' }, action: 'to_vi', viId: 77, sampleRate: 1 }]);
    const b = numberedFrames(3, 300);
    const before = Date.now();
    t.classify(b.buffer, b.offsets, b.lengths, new ClassifyResult(), { direction: 'from_vi' });
    const samples = t.drainSamples();
    expect(samples).toHaveLength(3);
    samples.forEach((s, i) => {
      expect(s).toMatchObject({ ruleId: id, viId: 77, direction: 'from_vi', action: 'to_vi', wireLength: b.lengths[i] });
      expect(s.bytes).toEqual(b.buffer.subarray(b.offsets[i], (b.offsets[i] ?? 0) + 128));
      expect(s.time).toBeGreaterThanOrEqual(before - 1);
      expect(s.time).toBeLessThanOrEqual(Date.now() + 1);
    });
    expect(t.drainSamples()).toHaveLength(0);
  });

  it('bounds the ring and counts samples lost to a full ring; rate 0 never samples', () => {
    const t = new FlowTable({ sampleCapacity: 8 });
    t.add([
      { priority: 2, match: { dst: '10.0.0.0/8', srcPort: 1000 }, action: 'legacy', sampleRate: 1 },
      { priority: 1, match: {}, action: 'legacy' },
    ]);
    const b = numberedFrames(1000);
    t.classify(b.buffer, b.offsets, b.lengths, new ClassifyResult(1000));
    expect(t.stats().sampler).toEqual({ sampled: 8, skipped: 0, lost: 992, queued: 8, capacity: 8 });
    expect(t.drainSamples(100).map((s) => indexOf(s.bytes))).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    const quiet = new FlowTable();
    quiet.add([{ priority: 1, match: {}, action: 'legacy' }]);
    quiet.classify(b.buffer, b.offsets, b.lengths, new ClassifyResult(1000));
    expect(quiet.stats().sampler.sampled + quiet.stats().sampler.skipped).toBe(0);
  });
});
