// A small, deterministic ClassBench-style rule generator of our own, for the
// test suite: it reads a ClassBench parameter ("seed") file and draws rules
// from its distributions, so the differential tests cover every parameter
// family on a machine that has the seed files but not ClassBench's C
// generator (which bench/classbenchSets.ts builds for the benchmark).
//
// Written from the published format (../shared/testdata/classbench/docs/
// classbench-parameter-files-format.md), not from ClassBench's code. What it
// uses: -prots (protocol mix and, per protocol, the 25 port-pair classes),
// -spar/-spem/-dpar/-dpem (arbitrary and exact ports), the 25 per-class
// prefix-length tables (total length, then source length), and -sskew /
// -dskew (per trie level: one child or two, and how unevenly rules split).
// What it leaves out: flags, -pcorr (source/destination correlation),
// nesting thresholds, smoothing and the scope knobs. The rules therefore
// have each family's shapes (prefix lengths, port kinds, protocol
// wildcards, address clustering), which is what the index's construction
// reacts to, without claiming to be ClassBench's exact output.
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { seededRandom } from './frameBuilder.ts';
import { classbenchDir, rulesFromLines, type RuleSet } from './classbench.ts';

export const PORT_CLASSES = [
  'wc_wc', 'wc_hi', 'hi_wc', 'hi_hi', 'wc_lo', 'lo_wc', 'hi_lo', 'lo_hi', 'lo_lo', 'wc_ar', 'ar_wc', 'hi_ar', 'ar_hi',
  'wc_em', 'em_wc', 'hi_em', 'em_hi', 'lo_ar', 'ar_lo', 'lo_em', 'em_lo', 'ar_ar', 'ar_em', 'em_ar', 'em_em',
] as const;

interface Weighted<T> {
  weight: number;
  value: T;
}

interface LengthTable {
  total: number;
  weight: number;
  src: Weighted<number>[];
}

export interface SkewLevel {
  oneChild: number;  // probability that a trie node at this depth has one child
  skew: number;      // 1 - lighter/heavier weight when it has two
}

export interface SeedParameters {
  scale: number;  // rules in the set the parameters were measured on
  protocols: { protocol: number; weight: number; classes: number[] }[];
  ports: Record<'spar' | 'spem' | 'dpar' | 'dpem', Weighted<[number, number]>[]>;
  lengths: Record<string, LengthTable[]>;
  sskew: SkewLevel[];
  dskew: SkewLevel[];
}

function sections(text: string, file: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let name: string | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('-')) name = line.slice(1);
    else if (line === '#') name = undefined;
    else if (name !== undefined && line !== '') out.set(name, [...(out.get(name) ?? []), line]);
  }
  if (!out.has('prots')) throw new Error(`${file}: not a ClassBench parameter file (no -prots section)`);
  return out;
}

/** Parses a ClassBench parameter file (format in the shared docs folder). */
export function readSeed(path: string): SeedParameters {
  const s = sections(readFileSync(path, 'utf8'), path);
  const protocols = (s.get('prots') ?? []).map((l) => {
    const [protocol = 0, weight = 0, ...classes] = l.split(/\s+/).map(Number);
    if (classes.length !== PORT_CLASSES.length) throw new Error(`${path}: -prots line for protocol ${protocol} has ${classes.length} class weights, expected 25`);
    return { protocol, weight, classes };
  });
  const portList = (name: string): Weighted<[number, number]>[] => (s.get(name) ?? []).map((l) => {
    const [w = '0', range = '0:0'] = l.split(/\s+/);
    const [lo = 0, hi = 0] = range.split(':').map(Number);
    return { weight: Number(w), value: [lo, hi] };
  });
  const lengths: Record<string, LengthTable[]> = {};
  for (const c of PORT_CLASSES) {
    lengths[c] = (s.get(c) ?? []).map((l) => {
      const [head = '0,0', ...rest] = l.split(/\s+/);
      const [total = 0, weight = 0] = head.split(',').map(Number);
      return { total, weight, src: rest.map((p) => { const [v = 0, w = 0] = p.split(',').map(Number); return { value: v, weight: w }; }) };
    });
  }
  const skew = (name: string): SkewLevel[] => (s.get(name) ?? []).map((l) => {
    const [, one = 1, , sk = 0] = l.split(/\s+/).map(Number);
    return { oneChild: one, skew: sk };
  });
  return {
    scale: Number(s.get('scale')?.[0] ?? 1), protocols, lengths, sskew: skew('sskew'), dskew: skew('dskew'),
    ports: { spar: portList('spar'), spem: portList('spem'), dpar: portList('dpar'), dpem: portList('dpem') },
  };
}

function pick<T>(items: readonly Weighted<T>[], random: () => number): T | undefined {
  const total = items.reduce((a, x) => a + x.weight, 0);
  let r = random() * total;
  for (const x of items) {
    r -= x.weight;
    if (r < 0) return x.value;
  }
  return items[items.length - 1]?.value;
}

/**
 * Addresses for prefixes of the given lengths, clustered as the skew table
 * says: walking down a binary trie, the prefixes still longer than the depth
 * go to one child, or split between both in the proportions the skew gives.
 * A set `growth`^2 times larger than the measured one branches more (a
 * one-child probability p becomes p^growth), else most of its rules would
 * collapse onto the same few addresses; certain single children stay so.
 */
function addresses(lengths: readonly number[], skew: readonly SkewLevel[], growth: number, random: () => number): number[] {
  const out = new Array<number>(lengths.length).fill(0);
  const descend = (members: readonly number[], depth: number, bit: number): void => {
    for (const i of members) out[i] = (out[i] ?? 0) | (bit << (31 - depth));
    walk(members, depth + 1);
  };
  const walk = (members: readonly number[], depth: number): void => {
    const deeper = members.filter((i) => (lengths[i] ?? 0) > depth);
    if (deeper.length === 0 || depth >= 32) return;
    const level = skew[depth] ?? { oneChild: 0.5, skew: 0.5 };
    const heavy = random() < 0.5 ? 0 : 1;
    if (deeper.length === 1 || random() < level.oneChild ** growth) {
      descend(deeper, depth, heavy);
      return;
    }
    // skew = 1 - light/heavy, so the light side takes (1 - skew) / (2 - skew) of the rules.
    const s = Math.min(Math.max(level.skew, 0), 1);
    const light: number[] = [];
    const rest: number[] = [];
    for (const i of deeper) (random() < (1 - s) / (2 - s) ? light : rest).push(i);
    descend(light, depth, 1 - heavy);
    descend(rest, depth, heavy);
  };
  walk(lengths.map((_, i) => i), 0);
  return out.map((a, i) => {
    const len = lengths[i] ?? 0;
    return len === 0 ? 0 : (a & (~0 << (32 - len))) >>> 0;
  });
}

function dotted(a: number, len: number): string {
  return `${[a >>> 24, (a >>> 16) & 255, (a >>> 8) & 255, a & 255].join('.')}/${len}`;
}

/** ClassBench filter-file lines (priority order): about `count` distinct rules. */
export function generateClassbenchLines(seed: SeedParameters, count: number, randomSeed: number): string[] {
  const random = seededRandom(randomSeed);
  const growth = Math.sqrt(Math.max(1, count / seed.scale));
  const seen = new Set<string>();
  const lines: string[] = [];
  // Rounds of fresh draws until duplicates no longer shrink the set much.
  for (let round = 0; round < 8 && lines.length < 0.95 * count; round++) {
    for (const line of draw(seed, count - lines.length, growth, random)) {
      if (!seen.has(line)) lines.push(line);
      seen.add(line);
    }
  }
  return lines;
}

function draw(seed: SeedParameters, count: number, growth: number, random: () => number): string[] {
  const shapes = Array.from({ length: count }, () => {
    const prot = pick(seed.protocols.map((p) => ({ weight: p.weight, value: p })), random) ?? { protocol: 0, classes: [1] };
    const cls = PORT_CLASSES[pick(prot.classes.map((w, i) => ({ weight: w, value: i })), random) ?? 0] ?? 'wc_wc';
    const table = pick((seed.lengths[cls] ?? []).map((t) => ({ weight: t.weight, value: t })), random);
    const total = table?.total ?? 0;
    const srcLen = Math.min(32, table ? (pick(table.src, random) ?? 0) : 0);
    return { protocol: prot.protocol, cls, srcLen, dstLen: Math.min(32, Math.max(0, total - srcLen)) };
  });
  const srcs = addresses(shapes.map((s) => s.srcLen), seed.sskew, growth, random);
  const dsts = addresses(shapes.map((s) => s.dstLen), seed.dskew, growth, random);
  const port = (kind: string, ar: Weighted<[number, number]>[], em: Weighted<[number, number]>[]): string => {
    const exact = (): [number, number] => { const p = Math.floor(random() * 65536); return [p, p]; };
    const [lo, hi] = kind === 'hi' ? [1024, 65535] : kind === 'lo' ? [0, 1023]
      : kind === 'ar' ? (pick(ar, random) ?? [1024, 65535]) : kind === 'em' ? (pick(em, random) ?? exact()) : [0, 65535];
    return `${lo} : ${hi}`;
  };
  return shapes.map((s, i) => {
    const [sk = 'wc', dk = 'wc'] = s.cls.split('_');
    const proto = s.protocol === 0 ? '0x00/0x00' : `0x${s.protocol.toString(16).padStart(2, '0')}/0xFF`;
    return `@${dotted(srcs[i] ?? 0, s.srcLen)}\t${dotted(dsts[i] ?? 0, s.dstLen)}\t${port(sk, seed.ports.spar, seed.ports.spem)}\t${port(dk, seed.ports.dpar, seed.ports.dpem)}\t${proto}\t0x0000/0x0000\t`;
  });
}

/** A generated set as the tests load it (see loadRuleSet). */
export function generateClassbenchSet(name: string, seed: SeedParameters, count: number, randomSeed: number): RuleSet {
  return rulesFromLines(generateClassbenchLines(seed, count, randomSeed), name);
}

export const CLASSBENCH_FAMILIES = ['acl1', 'acl2', 'acl3', 'acl4', 'acl5', 'fw1', 'fw2', 'fw3', 'fw4', 'fw5', 'ipc1', 'ipc2'] as const;

/**
 * Where the parameter file of a family is: the shared seeds folder, else
 * CLASSBENCH_SRC/parameter_files (a checkout of jafingerhut/classbench);
 * undefined when neither has it.
 */
export function familySeedPath(family: string): string | undefined {
  const candidates = [`${classbenchDir}seeds/${family}_seed`];
  if (process.env.CLASSBENCH_SRC) candidates.push(`${process.env.CLASSBENCH_SRC}/parameter_files/${family}_seed`);
  return candidates.find((p) => existsSync(p));
}

function familyRandomSeed(family: string, count: number): number {
  return 18_000 + 100 * CLASSBENCH_FAMILIES.indexOf(family as (typeof CLASSBENCH_FAMILIES)[number]) + Math.round(count / 1000);
}

function sizeName(count: number): string {
  return count >= 1000 ? `${count / 1000}k` : String(count);
}

/** A family's set of about `count` rules from our generator and its parameter file, with a fixed random seed per family and size. */
export function familySet(family: string, count: number): RuleSet | undefined {
  const path = familySeedPath(family);
  if (!path) return undefined;
  return generateClassbenchSet(`${family}_gen${sizeName(count)}`, readSeed(path), count, familyRandomSeed(family, count));
}

/** Where each family's parameters as we measured them on a ClassBench set are (classbenchProfiles.ts writes them). */
export const profilesDir = fileURLToPath(new URL('./classbenchProfiles/', import.meta.url));
export const profilePath = (family: string): string => `${profilesDir}${family}_profile`;

/**
 * A family's set of about `count` rules from our generator and the family's
 * measured profile (classbenchProfiles.ts): on every machine, parameter files or not.
 */
export function profileSet(family: string, count: number): RuleSet {
  return generateClassbenchSet(`${family}_profile${sizeName(count)}`, readSeed(profilePath(family)), count, familyRandomSeed(family, count));
}
