// Regenerates ClassBench rule sets and traces for every parameter family
// (acl1-5, fw1-5, ipc1-2) at 1K and 10K rules, into a git-ignored folder
// (bench/classbench-sets/ unless --out says otherwise), for bench/demux.ts.
//
// ClassBench itself (David E. Taylor, WUSTL; "freely available for academic,
// non-commercial research" only, so never vendored here) is built from a
// checkout of https://github.com/jafingerhut/classbench (tested at 6dce57a)
// into a temporary folder. Its generators seed drand48 from the clock; we
// link a one-function wrapper (--wrap=srand48) that takes the seed from
// CLASSBENCH_SEED instead, so the same seed always gives the same files.
//
// Usage: npm run classbench:sets -- --classbench /path/to/classbench [--out DIR] [--sizes 1k,10k]
// Options as the usual published sets were made: db_generator -bc <seed file>
// <N> 2 -0.5 0.1 (smoothness 2, address scope -0.5, application scope 0.1),
// trace_generator 1 0.1 10 (Pareto a=1, b=0.1, ten headers per rule).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CLASSBENCH_FAMILIES } from '../native/test/classbenchGenerator.ts';

export const generatedSetsDir = fileURLToPath(new URL('./classbench-sets/', import.meta.url));

const SIZES: Record<string, number> = { '1k': 1000, '10k': 10000 };

/** Our seeds: 1800 + 10 * family index + size index (the issue number, then position). Recorded in <out>/SEEDS. */
function seedFor(family: string, size: string): number {
  return 1800 + 10 * CLASSBENCH_FAMILIES.indexOf(family as (typeof CLASSBENCH_FAMILIES)[number]) + Object.keys(SIZES).indexOf(size);
}

const SEED_WRAPPER = `#include <stdlib.h>
void __real_srand48(long);
void __wrap_srand48(long clock) {
  const char* s = getenv("CLASSBENCH_SEED");
  __real_srand48(s ? atol(s) : clock);
}
`;

function compiler(): string {
  for (const c of [process.env.CXX, 'g++', 'clang++'].filter((x): x is string => !!x)) {
    try {
      execFileSync(c, ['--version'], { stdio: 'ignore' });
      return c;
    } catch { /* try the next */ }
  }
  throw new Error('no C++ compiler found (set CXX, or install g++ or clang++)');
}

/** Builds db_generator and trace_generator from `source` into `bin`; returns their paths. */
function buildGenerators(source: string, bin: string): { db: string; trace: string } {
  const cxx = compiler();
  const wrapper = join(bin, 'seedWrapper.c');
  writeFileSync(wrapper, SEED_WRAPPER);
  const out = { db: join(bin, 'db_generator'), trace: join(bin, 'trace_generator') };
  for (const [tool, path] of [['db_generator', out.db], ['trace_generator', out.trace]] as const) {
    const dir = join(source, tool);
    const units = readdirSync(dir).filter((f) => f.endsWith('.cc')).map((f) => join(dir, f));
    // The wrapper is C: compile it as such so that its symbols are not mangled.
    execFileSync(cxx, ['-O2', '-w', '-o', path, ...units, '-x', 'c', wrapper, '-x', 'none', '-Wl,--wrap=srand48'], { stdio: 'inherit' });
  }
  return out;
}

function main(): void {
  const args = process.argv.slice(2);
  const option = (name: string): string | undefined => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? args[i + 1] : args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
  };
  const source = option('classbench') ?? process.env.CLASSBENCH_SRC;
  if (!source || !existsSync(join(source, 'db_generator', 'makefile'))) {
    throw new Error(`--classbench must name a checkout of https://github.com/jafingerhut/classbench (with db_generator/makefile); got ${source ?? 'nothing'}`);
  }
  const out = resolve(option('out') ?? generatedSetsDir);
  const sizes = (option('sizes') ?? '1k,10k').split(',');
  for (const s of sizes) if (!(s in SIZES)) throw new Error(`--sizes: unknown size ${s} (use 1k and/or 10k)`);
  mkdirSync(out, { recursive: true });
  const bin = mkdtempSync(join(tmpdir(), 'pcloud-classbench-'));
  const seeds: string[] = ['# set  seed  (db_generator -bc <family>_seed N 2 -0.5 0.1; trace_generator 1 0.1 10)'];
  try {
    const tools = buildGenerators(resolve(source), bin);
    for (const family of CLASSBENCH_FAMILIES) {
      const seedFile = join(resolve(source), 'parameter_files', `${family}_seed`);
      for (const size of sizes) {
        const name = `${family}_${size}`;
        const seed = seedFor(family, size);
        const env = { ...process.env, CLASSBENCH_SEED: String(seed) };
        // Both tools write next to their input; work in the temp folder, then move.
        const rules = join(bin, name);
        execFileSync(tools.db, ['-bc', seedFile, String(SIZES[size]), '2', '-0.5', '0.1', rules], { env, cwd: bin, stdio: 'ignore' });
        execFileSync(tools.trace, ['1', '0.1', '10', rules], { env, cwd: bin, stdio: 'ignore' });
        renameSync(rules, join(out, name));
        renameSync(`${rules}_trace`, join(out, `${name}_trace`));
        const count = readFileSync(join(out, name), 'utf8').split('\n').filter((l) => l.startsWith('@')).length;
        seeds.push(`${name} ${seed}`);
        console.log(`${name}: ${count} rules (seed ${seed})`);
      }
    }
    writeFileSync(join(out, 'SEEDS'), `${seeds.join('\n')}\n`);
    console.log(`wrote ${out}`);
  } finally {
    rmSync(bin, { recursive: true, force: true });
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();
