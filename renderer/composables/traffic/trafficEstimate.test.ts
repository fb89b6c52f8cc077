import { describe, expect, test } from 'vitest';
import { SampleRing } from './sampleRing.ts';
import { estimate, formatEstimate, topN } from './trafficEstimate.ts';

describe('the sample ring', () => {
  test('keeps the newest samples, numbers them without repeats, and counts what it pushed out', () => {
    const ring = new SampleRing<string>(3);
    expect(ring.entries()).toEqual([]);
    for (const x of ['a', 'b', 'c', 'd', 'e']) ring.push(x);
    expect(ring.entries()).toEqual([
      { seq: 3, item: 'c' },
      { seq: 4, item: 'd' },
      { seq: 5, item: 'e' },
    ]);
    expect({ size: ring.size, pushed: ring.pushed, evicted: ring.evicted, firstSeq: ring.firstSeq }).toEqual({ size: 3, pushed: 5, evicted: 2, firstSeq: 3 });
    expect(ring.get(2)).toBeUndefined();
    expect(ring.get(4)?.item).toBe('d');
    expect(ring.get(6)).toBeUndefined();
  });

  test('holds 100,000 samples and stays bounded under a million', () => {
    const ring = new SampleRing<number>(100_000);
    for (let i = 0; i < 1_000_000; i++) ring.push(i);
    const entries = ring.entries();
    expect(entries.length).toBe(100_000);
    expect(entries[0]).toEqual({ seq: 900_001, item: 900_000 });
    expect(entries.at(-1)).toEqual({ seq: 1_000_000, item: 999_999 });
    expect(ring.evicted).toBe(900_000);
  });

  test('refuses a ring that could hold nothing', () => {
    expect(() => new SampleRing(0)).toThrow('a sample ring holds at least 1 sample, not 0');
  });
});

describe('estimates from sampled packets', () => {
  test('1-in-1 sampling is a count, with no error', () => {
    expect(estimate([{ samplingRate: 1, wireLength: 100 }, { samplingRate: 1, wireLength: 50 }])).toEqual({ samples: 2, packets: 2, packetsError: 0, bytes: 150, bytesError: 0 });
  });

  test('1-in-N: each sample stands for N packets, the error bar is about 196/sqrt(n) percent', () => {
    const e = estimate(Array.from({ length: 400 }, () => ({ samplingRate: 100, wireLength: 1000 })));
    expect(e.packets).toBe(40_000);
    expect(e.bytes).toBe(40_000_000);
    // 1.96 * sqrt(400 * 100 * 99) = 3900.4: 9.75 % of 40,000 (sFlow's 196/sqrt(400) = 9.8 %).
    expect(e.packetsError).toBeCloseTo(3900.4, 0);
    expect(e.bytesError / e.bytes).toBeCloseTo(e.packetsError / e.packets, 10);
    expect(formatEstimate(e.packets, e.packetsError, '')).toBe('40.0k ± 3.90k');
  });

  test('the estimate covers the true count in about 95 % of random samplings', () => {
    // mulberry32: a deterministic generator, so the test says the same thing every run.
    let seed = 12345;
    const random = (): number => {
      seed = (seed + 0x6d2b79f5) | 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
    const truth = 20_000;
    const rate = 50;
    let covered = 0;
    const trials = 400;
    for (let t = 0; t < trials; t++) {
      const samples = [];
      for (let i = 0; i < truth; i++) if (random() < 1 / rate) samples.push({ samplingRate: rate, wireLength: 100 });
      const e = estimate(samples);
      if (Math.abs(e.packets - truth) <= e.packetsError) covered++;
    }
    expect(covered / trials).toBeGreaterThan(0.9);
    expect(covered / trials).toBeLessThan(0.99);
  });

  test('top talkers rank by estimated bytes, keep their error bars and sum up the rest', () => {
    const samples = [
      ...Array.from({ length: 10 }, () => ({ samplingRate: 10, wireLength: 1500, src: 'a', dst: 'x' })),
      ...Array.from({ length: 5 }, () => ({ samplingRate: 10, wireLength: 100, src: 'b', dst: 'x' })),
      { samplingRate: 10, wireLength: 60, src: 'c', dst: 'y' },
    ];
    const { top, others, groups } = topN(samples, (s) => [s.src, s.dst], 2);
    expect(groups).toBe(5);
    expect(top.map((t) => [t.key, t.packets, t.bytes])).toEqual([
      ['x', 150, 155_000],
      ['a', 100, 150_000],
    ]);
    expect(top[1]?.packetsError).toBeCloseTo(1.96 * Math.sqrt(10 * 90), 6);
    expect(others).toMatchObject({ samples: 7, packets: 70, bytes: 5000 + 600 + 600 });
  });
});
