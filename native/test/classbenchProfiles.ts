// Every ClassBench family's parameters as we measured them on a set that
// ClassBench's own generator made, so that the differential tests and fuzz
// targets cover all twelve families on a machine without the parameter
// files: the shared folder holds acl1's, fw1's and ipc1's only, ClassBench's
// terms keep the others out of this repo, and CI cannot reach GitHub.
//
// measureParameters reads a rule set in the terms in which
// classbenchGenerator.ts reads a parameter file (SeedParameters): the
// protocol mix, the 25 port-pair classes per protocol, the prefix-length
// pairs per class, the most common exact ports and arbitrary ranges, and per
// trie level how often the addresses below a node stay together (one child)
// and how unevenly they split. It leaves out what the generator does not use
// (flags, source/destination correlation, nesting). formatParameters writes
// them in the parameter files' own text format (the shared docs folder
// describes it), so readSeed reads a profile as it reads a parameter file.
//
// The profiles in classbenchProfiles/ were measured on the 1K sets of
// `npm run classbench:sets` (our seeds, ClassBench at 6dce57a), the size the
// tests generate: the generator makes a set larger than the one its
// parameters were measured on branch more (its `growth`), but never a
// smaller one less, so profiles measured at 10K made 1K sets of about one
// rule per leaf. Regenerate them with
//   sh scripts/node.sh node native/test/classbenchProfiles.ts <folder with <family>_1k files>
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loadRuleSet, type NumericRule, type RuleSet } from './classbench.ts';
import { CLASSBENCH_FAMILIES, PORT_CLASSES, profilePath, profilesDir, type SeedParameters, type SkewLevel } from './classbenchGenerator.ts';

const TOP_PORTS = 40;  // exact ports and arbitrary ranges kept per list, the most frequent first

function portKind(lo: number, hi: number): 'wc' | 'hi' | 'lo' | 'ar' | 'em' {
  if (lo === 0 && hi === 65535) return 'wc';
  if (lo === 1024 && hi === 65535) return 'hi';
  if (lo === 0 && hi === 1023) return 'lo';
  return lo === hi ? 'em' : 'ar';
}

function prefixLength(lo: number, hi: number): number {
  return 32 - Math.round(Math.log2(hi - lo + 1));
}

/** The `top` most frequent values of a count map, as weighted entries. */
function mostFrequent(counts: Map<string, number>, top: number): { weight: number; value: [number, number] }[] {
  return [...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, top)
    .map(([key, weight]) => ({ weight, value: key.split(':').map(Number) as [number, number] }));
}

/**
 * Per trie level, over the nodes that two or more longer prefixes pass
 * through: the share whose prefixes all continue on one side, and the mean
 * of 1 - lighter/heavier side where they split (the generator's -sskew).
 */
function measureSkew(prefixes: readonly { address: number; length: number }[]): SkewLevel[] {
  const nodes = new Array<number>(32).fill(0), single = new Array<number>(32).fill(0), skewSum = new Array<number>(32).fill(0);
  const walk = (members: readonly { address: number; length: number }[], depth: number): void => {
    const deeper = members.filter((p) => p.length > depth);
    if (deeper.length < 2 || depth >= 32) return;
    const bit = 31 - depth;
    const zeros = deeper.filter((p) => ((p.address >>> bit) & 1) === 0);
    const ones = deeper.filter((p) => ((p.address >>> bit) & 1) === 1);
    nodes[depth] = (nodes[depth] ?? 0) + 1;
    if (zeros.length === 0 || ones.length === 0) single[depth] = (single[depth] ?? 0) + 1;
    else skewSum[depth] = (skewSum[depth] ?? 0) + 1 - Math.min(zeros.length, ones.length) / Math.max(zeros.length, ones.length);
    if (zeros.length > 0) walk(zeros, depth + 1);
    if (ones.length > 0) walk(ones, depth + 1);
  };
  walk(prefixes, 0);
  const round = (x: number): number => Math.round(1000 * x) / 1000;
  return nodes.map((n, d) => {
    const split = n - (single[d] ?? 0);
    return n === 0 ? { oneChild: 1, skew: 0 } : { oneChild: round((single[d] ?? 0) / n), skew: round(split === 0 ? 0 : (skewSum[d] ?? 0) / split) };
  });
}

/** A rule set's parameters in the generator's terms (see the header). */
export function measureParameters(set: RuleSet): SeedParameters {
  const protocols = new Map<number, { weight: number; classes: number[] }>();
  const lengths: SeedParameters['lengths'] = {};
  const ports = { spar: new Map<string, number>(), spem: new Map<string, number>(), dpar: new Map<string, number>(), dpem: new Map<string, number>() };
  const count = (m: Map<string, number>, key: string): void => { m.set(key, (m.get(key) ?? 0) + 1); };
  for (const r of set.numeric) {
    const sk = portKind(r.sportLo, r.sportHi), dk = portKind(r.dportLo, r.dportHi);
    const cls = PORT_CLASSES.indexOf(`${sk}_${dk}` as (typeof PORT_CLASSES)[number]);
    const protocol = r.proto ?? 0;
    const p = protocols.get(protocol) ?? { weight: 0, classes: new Array<number>(PORT_CLASSES.length).fill(0) };
    p.weight++;
    p.classes[cls] = (p.classes[cls] ?? 0) + 1;
    protocols.set(protocol, p);
    const srcLen = prefixLength(r.srcLo, r.srcHi), total = srcLen + prefixLength(r.dstLo, r.dstHi);
    const tables = (lengths[`${sk}_${dk}`] ??= []);
    let table = tables.find((t) => t.total === total);
    if (!table) tables.push((table = { total, weight: 0, src: [] }));
    table.weight++;
    const src = table.src.find((s) => s.value === srcLen);
    if (src) src.weight++;
    else table.src.push({ value: srcLen, weight: 1 });
    if (sk === 'ar') count(ports.spar, `${r.sportLo}:${r.sportHi}`);
    if (sk === 'em') count(ports.spem, `${r.sportLo}:${r.sportHi}`);
    if (dk === 'ar') count(ports.dpar, `${r.dportLo}:${r.dportHi}`);
    if (dk === 'em') count(ports.dpem, `${r.dportLo}:${r.dportHi}`);
  }
  for (const tables of Object.values(lengths)) {
    tables.sort((a, b) => a.total - b.total);
    for (const t of tables) t.src.sort((a, b) => a.value - b.value);
  }
  const prefixes = (side: (r: NumericRule) => [number, number]) => set.numeric.map((r) => {
    const [lo, hi] = side(r);
    return { address: lo, length: prefixLength(lo, hi) };
  });
  return {
    scale: set.numeric.length,
    protocols: [...protocols].sort((a, b) => a[0] - b[0]).map(([protocol, p]) => ({ protocol, ...p })),
    ports: { spar: mostFrequent(ports.spar, TOP_PORTS), spem: mostFrequent(ports.spem, TOP_PORTS),
             dpar: mostFrequent(ports.dpar, TOP_PORTS), dpem: mostFrequent(ports.dpem, TOP_PORTS) },
    lengths,
    sskew: measureSkew(prefixes((r) => [r.srcLo, r.srcHi])),
    dskew: measureSkew(prefixes((r) => [r.dstLo, r.dstHi])),
  };
}

/**
 * Parameters in the parameter files' text format, the sections that readSeed
 * reads: weights become shares (a class's length tables and each table's
 * source lengths as conditional shares, as in ClassBench's files).
 */
export function formatParameters(p: SeedParameters): string {
  const share = (x: number, total: number): string => (total === 0 ? 0 : x / total).toFixed(8);
  const sum = (xs: readonly { weight: number }[]): number => xs.reduce((a, x) => a + x.weight, 0);
  const section = (name: string, lines: readonly string[]): string => `-${name}\n${lines.map((l) => `${l}\n`).join('')}#\n`;
  const protocolTotal = sum(p.protocols);
  const portList = (list: SeedParameters['ports']['spar']): string[] => {
    const total = sum(list);
    return list.map((e) => `${share(e.weight, total)}\t${e.value[0]}:${e.value[1]}`);
  };
  const skew = (levels: readonly SkewLevel[]): string[] =>
    levels.map((l, d) => `${d}\t${l.oneChild.toFixed(8)}\t${(1 - l.oneChild).toFixed(8)}\t${l.skew.toFixed(8)}`);
  return [
    section('scale', [String(p.scale)]),
    section('prots', p.protocols.map((x) => {
      const classTotal = x.classes.reduce((a, c) => a + c, 0);
      return [x.protocol, share(x.weight, protocolTotal), ...x.classes.map((c) => share(c, classTotal))].join('\t');
    })),
    section('spar', portList(p.ports.spar)), section('spem', portList(p.ports.spem)),
    section('dpar', portList(p.ports.dpar)), section('dpem', portList(p.ports.dpem)),
    ...PORT_CLASSES.map((c) => {
      const tables = p.lengths[c] ?? [];
      const total = sum(tables);
      return section(c, tables.map((t) => [`${t.total},${share(t.weight, total)}`, ...t.src.map((s) => `${s.value},${share(s.weight, t.weight)}`)].join('\t')));
    }),
    section('sskew', skew(p.sskew)), section('dskew', skew(p.dskew)),
  ].join('');
}

// As a script: measure every family's 1K set in the folder given and write its profile.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const dir = process.argv[2];
  if (!dir) {
    console.error('usage: node native/test/classbenchProfiles.ts <folder with <family>_1k rule files>');
    process.exit(2);
  }
  mkdirSync(profilesDir, { recursive: true });
  for (const family of CLASSBENCH_FAMILIES) {
    writeFileSync(profilePath(family), formatParameters(measureParameters(loadRuleSet(`${dir}/${family}_1k`))));
    console.log(`wrote ${profilePath(family)}`);
  }
}
