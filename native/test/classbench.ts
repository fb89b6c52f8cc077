// Test and benchmark fixtures from the shared ClassBench data
// (../shared/testdata/classbench, read in place; see its SOURCE.md). The flags
// column of rules and traces is ignored, and a trace's last column (the rule
// that generated the header) is never used as the expected answer.
import { readFileSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { FlowRule } from '../demux.ts';
import { seededRandom, shuffle } from './frameBuilder.ts';

export const testdataDir = fileURLToPath(new URL('../../../shared/testdata/', import.meta.url));
export const classbenchDir = `${testdataDir}classbench/`;

/** One IPv4 5-tuple of a trace. */
export interface TraceHeader {
  src: number;
  dst: number;
  sport: number;
  dport: number;
  proto: number;
}

/** A ClassBench rule in numbers, for generating headers. */
export interface NumericRule {
  srcLo: number;
  srcHi: number;
  dstLo: number;
  dstHi: number;
  sportLo: number;
  sportHi: number;
  dportLo: number;
  dportHi: number;
  proto: number | undefined;
}

export interface RuleSet {
  name: string;
  rules: FlowRule[];
  numeric: NumericRule[];
}

function ipv4(text: string): number {
  const [a = 0, b = 0, c = 0, d = 0] = text.split('.').map(Number);
  return ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;
}

/** Parses a ClassBench filter file; line 1 gets the highest priority and every rule sends to VI (line index + 1). */
export function loadRuleSet(path: string, name = path.split('/').pop() ?? path): RuleSet {
  return rulesFromLines(readFileSync(path, 'utf8').split('\n').filter((l) => l.startsWith('@')), name);
}

/** Rules from ClassBench filter lines (each starting with '@'), as loadRuleSet reads them. */
export function rulesFromLines(lines: readonly string[], name: string): RuleSet {
  const rules: FlowRule[] = [];
  const numeric: NumericRule[] = [];
  lines.forEach((line, index) => {
    const f = line.slice(1).split('\t');
    const [src = '', dst = '', sp = '', dp = '', proto = ''] = f;
    const [spLo = 0, spHi = 0] = sp.split(':').map((s) => Number(s.trim()));
    const [dpLo = 0, dpHi = 0] = dp.split(':').map((s) => Number(s.trim()));
    const [pv = '0', pm = '0'] = proto.split('/');
    const protoValue = parseInt(pv, 16);
    const protoMask = parseInt(pm, 16);
    rules.push({
      priority: lines.length - index,
      match: {
        src, dst,
        ...(spLo === 0 && spHi === 65535 ? {} : { srcPort: { from: spLo, to: spHi } }),
        ...(dpLo === 0 && dpHi === 65535 ? {} : { dstPort: { from: dpLo, to: dpHi } }),
        ...(protoMask === 0xff ? { ipProto: protoValue } : {}),
      },
      action: 'to_vi',
      viId: index + 1,
    });
    const [sa = '', sl = '0'] = src.split('/');
    const [da = '', dl = '0'] = dst.split('/');
    const span = (len: number): number => (len === 0 ? 0xffffffff : (2 ** (32 - len)) - 1);
    const s0 = ipv4(sa), d0 = ipv4(da);
    numeric.push({
      srcLo: s0, srcHi: s0 + span(Number(sl)), dstLo: d0, dstHi: d0 + span(Number(dl)),
      sportLo: spLo, sportHi: spHi, dportLo: dpLo, dportHi: dpHi, proto: protoMask === 0xff ? protoValue : undefined,
    });
  });
  return { name, rules, numeric };
}

export function loadTrace(path: string): TraceHeader[] {
  const out: TraceHeader[] = [];
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const f = line.split('\t');
    if (f.length < 5) continue;
    out.push({ src: Number(f[0]) >>> 0, dst: Number(f[1]) >>> 0, sport: Number(f[2]), dport: Number(f[3]), proto: Number(f[4]) });
  }
  return out;
}

/** Distinct headers in a seeded random order (defeats the trace's locality). */
export function dedupShuffle(trace: readonly TraceHeader[], seed = 1): TraceHeader[] {
  const seen = new Map<string, TraceHeader>();
  for (const h of trace) seen.set(`${h.src},${h.dst},${h.sport},${h.dport},${h.proto}`, h);
  return shuffle([...seen.values()], seededRandom(seed));
}

/**
 * ClassBench-style headers for a set without a trace: pick a rule, then a
 * corner (low or high end) of its range in every field, ten headers per rule.
 */
export function synthesizeTrace(set: RuleSet, seed = 7, perRule = 10): TraceHeader[] {
  const random = seededRandom(seed);
  const pick = (lo: number, hi: number): number => (random() < 0.5 ? lo : hi);
  const protocols = [6, 17, 1, 47, 50];
  const out: TraceHeader[] = [];
  for (let i = 0; i < set.numeric.length * perRule; i++) {
    const r = set.numeric[Math.floor(random() * set.numeric.length)];
    if (!r) continue;
    out.push({
      src: pick(r.srcLo, r.srcHi) >>> 0, dst: pick(r.dstLo, r.dstHi) >>> 0,
      sport: pick(r.sportLo, r.sportHi), dport: pick(r.dportLo, r.dportHi),
      proto: r.proto ?? protocols[Math.floor(random() * protocols.length)] ?? 6,
    });
  }
  return out;
}

export interface NamedSet {
  name: string;
  rulesPath: string;
  tracePath: string | undefined;
}

/** The sets the issue names (acl1, fw1, ipc1 at 1K and 10K), plus acl3_10k, which has DPDK's reference trace. */
export function classbenchSets(sizes: readonly ('1k' | '10k')[] = ['1k', '10k']): NamedSet[] {
  const dir = `${classbenchDir}lyxocs-ruleSet/`;
  const names = ['acl1', 'fw1', 'ipc1'].flatMap((s) => sizes.map((z) => `${s}_${z}`));
  if (sizes.includes('10k')) names.push('acl3_10k');
  return names.map((name) => ({
    name,
    rulesPath: `${dir}${name}`,
    tracePath: existsSync(`${dir}${name}_trace`) ? `${dir}${name}_trace` : undefined,
  }));
}
