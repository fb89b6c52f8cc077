// Differential tests: the addon's flow table against the naive linear scan,
// on the shared ClassBench acl1, fw1 and ipc1 sets at 1K and 10K (and
// acl3_10k), and on 1K sets of every ClassBench parameter family (acl1-5,
// fw1-5, ipc1-2) drawn by our own generator (classbenchGenerator.ts) from the
// families' seed files, with their own or synthesized traces, de-duplicated
// shuffled traces, random headers, and headers on and just beyond every
// prefix and port-range boundary. Every leaf scan implementation this CPU has
// is checked. Zero mismatches allowed, in the matched rule and in the
// per-rule packet and byte counters. (The 10K family sets are the
// benchmark's: bench/demux.ts checks a sample of each trace against the
// linear scan on every path and prints the mismatches.)
import { beforeAll, describe, expect, it } from 'vitest';
import { ActionCode, ClassifyResult, FlowTable, demuxPaths, setDemuxPath, demuxPath } from '../demux.ts';
import type { DemuxPath } from '../demux.ts';
import { NaiveMatcher } from './naiveMatcher.ts';
import { buildFrame, ipv4Header, packFrames, seededRandom } from './frameBuilder.ts';
import type { FrameBatch } from './frameBuilder.ts';
import { classbenchSets, dedupShuffle, loadRuleSet, loadTrace, synthesizeTrace } from './classbench.ts';
import type { RuleSet, TraceHeader } from './classbench.ts';
import { CLASSBENCH_FAMILIES, familySeedPath, familySet, profileSet } from './classbenchGenerator.ts';

const BATCH = 256;
// The first test on a 10K set computes the linear scan's answer for up to
// 90,000 distinct headers: over a minute on a loaded two-core machine.
const ORACLE_TIMEOUT = 240_000;

function framesOf(headers: readonly TraceHeader[]): FrameBatch {
  return packFrames(headers.map((h) => buildFrame(ipv4Header(h.src, h.dst, h.sport, h.dport, h.proto))));
}

/** Classifies in batches of 256 through the public API; returns matched rule id per frame. */
function classifyAll(table: FlowTable, batch: FrameBatch): Uint32Array {
  const out = new Uint32Array(batch.offsets.length);
  const result = new ClassifyResult(BATCH);
  for (let start = 0; start < batch.offsets.length; start += BATCH) {
    const end = Math.min(start + BATCH, batch.offsets.length);
    table.classify(batch.buffer, batch.offsets.subarray(start, end), batch.lengths.subarray(start, end), result);
    for (let i = 0; i < end - start; i++) {
      expect.soft(result.actions[i]).not.toBe(ActionCode.malformed);
      out[start + i] = result.ruleIds[i] ?? 0;
    }
  }
  return out;
}

function randomHeaders(n: number, seed: number): TraceHeader[] {
  const random = seededRandom(seed);
  const protocols = [6, 17, 1, 47, 0, 255];
  return Array.from({ length: n }, () => ({
    src: Math.floor(random() * 2 ** 32) >>> 0, dst: Math.floor(random() * 2 ** 32) >>> 0,
    sport: Math.floor(random() * 65536), dport: Math.floor(random() * 65536),
    proto: protocols[Math.floor(random() * protocols.length)] ?? 6,
  }));
}

/** For every rule: headers at each end of each range and one step outside it. */
function boundaryHeaders(set: RuleSet, seed: number, limit: number): TraceHeader[] {
  const random = seededRandom(seed);
  const out: TraceHeader[] = [];
  const clamp = (v: number, max: number): number => Math.min(Math.max(v, 0), max);
  for (const r of set.numeric.slice(0, limit)) {
    const srcs = [r.srcLo, r.srcHi, r.srcLo - 1, r.srcHi + 1].map((v) => clamp(v, 0xffffffff) >>> 0);
    const dsts = [r.dstLo, r.dstHi, r.dstLo - 1, r.dstHi + 1].map((v) => clamp(v, 0xffffffff) >>> 0);
    const sps = [r.sportLo, r.sportHi, r.sportLo - 1, r.sportHi + 1].map((v) => clamp(v, 65535));
    const dps = [r.dportLo, r.dportHi, r.dportLo - 1, r.dportHi + 1].map((v) => clamp(v, 65535));
    for (let k = 0; k < 6; k++) {
      const pick = <T,>(xs: T[]): T => xs[Math.floor(random() * xs.length)] as T;
      out.push({ src: pick(srcs), dst: pick(dsts), sport: pick(sps), dport: pick(dps), proto: r.proto ?? pick([6, 17, 1]) });
    }
  }
  return out;
}

const paths: DemuxPath[] = demuxPaths();

interface Case {
  name: string;
  load: () => RuleSet;
  trace: (set: RuleSet) => TraceHeader[];
}

const sharedCases: Case[] = classbenchSets().map((named) => ({
  name: named.name,
  load: () => loadRuleSet(named.rulesPath),
  trace: (set) => (named.tracePath ? loadTrace(named.tracePath) : synthesizeTrace(set)),
}));
// Every family from its measured profile (classbenchProfiles.ts), on every
// machine; and from its parameter file where one is at hand. Their headers
// are the rules' corners (synthesizeTrace).
const generatedCase = (name: string, load: () => RuleSet): Case => ({ name, load, trace: (set) => synthesizeTrace(set) });
const profileCases = CLASSBENCH_FAMILIES.map((family) => generatedCase(`${family} (generated from its profile, 1K)`, () => profileSet(family, 1000)));
const withSeeds = CLASSBENCH_FAMILIES.filter((f) => familySeedPath(f) !== undefined);
const familyCases = withSeeds.map((family) => generatedCase(`${family} (generated, 1K)`, () => familySet(family, 1000) as RuleSet));
const missingSeeds = CLASSBENCH_FAMILIES.filter((f) => !withSeeds.includes(f));
if (missingSeeds.length > 0) {
  console.warn(`ClassBench families without a parameter file (in ../shared/testdata/classbench/seeds/ or $CLASSBENCH_SRC/parameter_files/), tested from their profiles only: ${missingSeeds.join(', ')}`);
}

describe.each([...sharedCases, ...profileCases, ...familyCases])('ClassBench $name', (named) => {
  let set: RuleSet;
  let table: FlowTable;
  let oracle: NaiveMatcher;
  let ids: Uint32Array;
  const expectedFor = new Map<string, Uint32Array>();

  const memo = new Map<string, number>();
  /** The linear scan's answer, memoized per distinct header (traces repeat headers). */
  function oracleMatch(h: TraceHeader): number {
    const key = `${h.src},${h.dst},${h.sport},${h.dport},${h.proto}`;
    let id = memo.get(key);
    if (id === undefined) {
      id = oracle.match(ipv4Header(h.src, h.dst, h.sport, h.dport, h.proto));
      memo.set(key, id);
    }
    return id;
  }

  function expected(label: string, headers: readonly TraceHeader[]): Uint32Array {
    let e = expectedFor.get(label);
    if (!e) {
      e = Uint32Array.from(headers, oracleMatch);
      expectedFor.set(label, e);
    }
    return e;
  }

  function expectSame(label: string, headers: readonly TraceHeader[], got: Uint32Array): void {
    const want = expected(label, headers);
    let mismatches = 0;
    let first = '';
    for (let i = 0; i < want.length; i++) {
      if (want[i] !== got[i]) {
        if (mismatches++ === 0) first = `header ${JSON.stringify(headers[i])}: table says rule ${got[i]}, linear scan says ${want[i]}`;
      }
    }
    expect(mismatches, `${label} on ${demuxPath()}: ${mismatches} mismatches; first: ${first}`).toBe(0);
  }

  beforeAll(() => {
    set = named.load();
    table = new FlowTable();
    ids = table.add(set.rules);
    oracle = new NaiveMatcher();
    oracle.addMany(ids, set.rules);
  });

  it('installs every rule and reports the index shape', () => {
    const s = table.stats();
    expect(s.rules).toBe(set.rules.length);
    expect(s.index.trees).toBeGreaterThan(0);
    // Every rule some packet can match sits in at least one leaf.
    expect(s.index.leafEntries + s.index.unmatchable).toBeGreaterThanOrEqual(set.rules.length);
  });

  it.each(paths)('matches the linear scan on its own or a synthesized trace, de-duplicated and shuffled (%s)', (path) => {
    expect(setDemuxPath(path)).toBe(true);
    const trace = named.trace(set);
    const distinct = dedupShuffle(trace, 11);
    expectSame('dedup', distinct, classifyAll(table, framesOf(distinct)));
  }, ORACLE_TIMEOUT);

  it.each(paths)('matches the linear scan on random headers and range boundaries (%s)', (path) => {
    expect(setDemuxPath(path)).toBe(true);
    const random = randomHeaders(5000, 3);
    expectSame('random', random, classifyAll(table, framesOf(random)));
    const edges = boundaryHeaders(set, 5, 2500);
    expectSame('edges', edges, classifyAll(table, framesOf(edges)));
  }, ORACLE_TIMEOUT);

  it.each(paths)('looks up 5-tuples as it classifies frames carrying them, counting nothing (%s)', (path) => {
    expect(setDemuxPath(path)).toBe(true);
    const lookups = (headers: readonly TraceHeader[]): Uint32Array => {
      const tuples = Uint32Array.from(headers.flatMap((h) => [h.src, h.dst, h.sport, h.dport, h.proto]));
      const got = new Uint32Array(headers.length);
      expect(table.lookupTuples(tuples, got)).toBe(headers.length);
      return got;
    };
    const packetsBefore = table.stats().packets;
    const countersBefore = new Float64Array(ids.length * 3);
    table.readCounters(ids, countersBefore);
    expectSame('dedup', dedupShuffle(named.trace(set), 11), lookups(dedupShuffle(named.trace(set), 11)));
    expectSame('random', randomHeaders(5000, 3), lookups(randomHeaders(5000, 3)));
    expectSame('edges', boundaryHeaders(set, 5, 2500), lookups(boundaryHeaders(set, 5, 2500)));
    const countersAfter = new Float64Array(ids.length * 3);
    table.readCounters(ids, countersAfter);
    expect(table.stats().packets).toBe(packetsBefore);
    expect(countersAfter).toEqual(countersBefore);
  }, ORACLE_TIMEOUT);

  it('counts packets and bytes per rule exactly over the full trace', () => {
    const trace = named.trace(set);
    const batch = framesOf(trace);
    const before = new Float64Array(ids.length * 3);
    table.readCounters(ids, before);
    const got = classifyAll(table, batch);
    const after = new Float64Array(ids.length * 3);
    table.readCounters(ids, after);
    const want = Uint32Array.from(trace, oracleMatch);
    expect(got).toEqual(want);
    const index = new Map<number, number>();
    ids.forEach((id, i) => index.set(id, i));
    const packets = new Float64Array(ids.length);
    const bytes = new Float64Array(ids.length);
    want.forEach((id, i) => {
      const k = index.get(id);
      if (k === undefined) return;
      packets[k] = (packets[k] ?? 0) + 1;
      bytes[k] = (bytes[k] ?? 0) + (batch.lengths[i] ?? 0);
    });
    let wrong = 0;
    for (let k = 0; k < ids.length; k++) {
      if ((after[3 * k] ?? 0) - (before[3 * k] ?? 0) !== packets[k]) wrong++;
      if ((after[3 * k + 1] ?? 0) - (before[3 * k + 1] ?? 0) !== bytes[k]) wrong++;
    }
    expect(wrong).toBe(0);
  }, ORACLE_TIMEOUT);
});
