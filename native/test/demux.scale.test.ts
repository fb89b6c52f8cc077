// The flow table at 100,000 rules: every shared ClassBench 10K set (two
// independent instances each, minus their catch-alls) plus random 5-tuple
// rules. The index must stay bounded in memory and agree with the linear
// scan on ClassBench-trace headers, random headers and rule corners. And at
// 10,000 host-to-host rules (the shape of ClassBench fw2 and ipc2), the index
// must not fan out into one-rule leaves (issue 18, README.md in src/demux).
import { describe, expect, it } from 'vitest';
import { ClassifyResult, FlowTable } from '../demux.ts';
import type { FlowRule } from '../demux.ts';
import { NaiveMatcher } from './naiveMatcher.ts';
import { buildFrame, ipv4Header, packFrames, seededRandom } from './frameBuilder.ts';
import { classbenchDir, dedupShuffle, loadRuleSet, loadTrace } from './classbench.ts';
import type { TraceHeader } from './classbench.ts';

const SETS = ['lyxocs-ruleSet/acl1_10k', 'lyxocs-ruleSet/fw1_10k', 'lyxocs-ruleSet/ipc1_10k', 'lyxocs-ruleSet/acl3_10k', 'neurocuts/acl1_10k', 'neurocuts/fw1_10k', 'neurocuts/ipc1_10k'];

function prefix(x: number, len: number): string {
  const v = len === 0 ? 0 : (x & (~0 << (32 - len))) >>> 0;
  return `${[v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255].join('.')}/${len}`;
}

describe('100,000 rules', () => {
  it('builds a bounded index that matches the linear scan', () => {
    const rules: FlowRule[] = [];
    for (const s of SETS) rules.push(...loadRuleSet(classbenchDir + s).rules.filter((r) => r.match.src !== '0.0.0.0/0' || r.match.dst !== '0.0.0.0/0'));
    const random = seededRandom(5);
    const int = (n: number): number => Math.floor(random() * n);
    while (rules.length < 100_000) {
      rules.push({
        priority: 0, action: 'to_vi', viId: 1,
        match: { src: prefix(int(2 ** 32), 16 + int(17)), dst: prefix(int(2 ** 32), 8 + int(25)), dstPort: int(65536), ipProto: 6 },
      });
    }
    rules.forEach((r, i) => (r.priority = rules.length - i));
    rules.push({ priority: 0, match: {}, action: 'legacy' });

    const started = performance.now();
    const table = new FlowTable();
    const ids = table.add(rules);
    const buildMs = performance.now() - started;
    const index = table.stats().index;
    console.log(`100K rules: built in ${buildMs.toFixed(0)} ms, ${(index.bytes / 2 ** 20).toFixed(0)} MiB, ${index.leafEntries} leaf entries, depth ${index.maxDepth}`);
    expect(index.bytes).toBeLessThan(256 * 2 ** 20);
    expect(index.leafEntries).toBeLessThan(20 * rules.length);

    const oracle = new NaiveMatcher();
    oracle.addMany(ids, rules);
    const headers: TraceHeader[] = [
      ...dedupShuffle(loadTrace(`${classbenchDir}lyxocs-ruleSet/acl3_10k_trace`), 3).slice(0, 600),
      ...dedupShuffle(loadTrace(`${classbenchDir}lyxocs-ruleSet/fw1_10k_trace`), 3).slice(0, 600),
      ...Array.from({ length: 300 }, () => ({ src: int(2 ** 32) >>> 0, dst: int(2 ** 32) >>> 0, sport: int(65536), dport: int(65536), proto: [6, 17, 1][int(3)] ?? 6 })),
    ];
    const b = packFrames(headers.map((h) => buildFrame(ipv4Header(h.src, h.dst, h.sport, h.dport, h.proto))));
    const result = new ClassifyResult(headers.length);
    table.classify(b.buffer, b.offsets, b.lengths, result);
    let wrong = 0;
    headers.forEach((h, i) => {
      if (oracle.match(ipv4Header(h.src, h.dst, h.sport, h.dport, h.proto)) !== result.ruleIds[i]) wrong++;
    });
    expect(wrong).toBe(0);
  }, 180_000);
});

describe('10,000 host-to-host rules', () => {
  it('build leaves of several rules each, not thousands of one-rule leaves, and match the linear scan', () => {
    // Like fw2: /32 sources under one /8, /32 destinations under another, no
    // ports (protocols 1-4), so cuts never replicate a rule.
    const random = seededRandom(18);
    const int = (n: number): number => Math.floor(random() * n);
    const rules: FlowRule[] = Array.from({ length: 10_000 }, (_, i) => ({
      priority: 10_000 - i, action: 'to_vi', viId: 1,
      match: { src: prefix((160 << 24) | int(2 ** 24), 32), dst: prefix((189 << 24) | int(2 ** 24), 32), ipProto: 1 + int(4) },
    }));
    const table = new FlowTable();
    const ids = table.add(rules);
    const index = table.stats().index;
    console.log(`10K host rules: ${index.leaves} leaves, ${index.leafEntries} entries, depth ${index.maxDepth}, ${(index.bytes / 2 ** 20).toFixed(1)} MiB`);
    // Before the fill bound: 1.2 entries per leaf (every leaf padded to a 16-lane chunk).
    expect(index.leafEntries / index.leaves).toBeGreaterThanOrEqual(4);

    const oracle = new NaiveMatcher();
    oracle.addMany(ids, rules);
    const headers = rules.slice(0, 3000).map((r, i) => {
      const [s = '0.0.0.0', d = '0.0.0.0'] = [r.match.src, r.match.dst].map((p) => (p ?? '').split('/')[0]);
      const ip = (t: string): number => t.split('.').reduce((a, b) => ((a << 8) | Number(b)) >>> 0, 0);
      // Half hit a rule exactly; half miss in the last address bit.
      return ipv4Header(ip(s) ^ (i % 2), ip(d), 0, 0, r.match.ipProto ?? 1);
    });
    const b = packFrames(headers.map((h) => buildFrame(h)));
    const result = new ClassifyResult(headers.length);
    table.classify(b.buffer, b.offsets, b.lengths, result);
    let wrong = 0;
    headers.forEach((h, i) => {
      if (oracle.match(h) !== result.ruleIds[i]) wrong++;
    });
    expect(wrong).toBe(0);
  }, 120_000);
});
