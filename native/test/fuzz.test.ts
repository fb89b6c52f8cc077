// Fuzzing in the test command: builds the libFuzzer targets in native/fuzz/
// with clang under ASan and UBSan from the same plain C++ sources as the
// addon, seeds them with the shared captures' frames and ClassBench rules
// (the shared sets and every family our generator can draw), and runs each
// for 30 s (decapFuzz, the data plane's decapsulate-and-classify entry point,
// gets the same frames as VXLAN datagrams). A crash, a sanitizer report or a
// disagreement between leaf-scan implementations (the targets trap) fails the
// test.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeRules } from '../demux.ts';
import type { FlowRule } from '../demux.ts';
import { classbenchDir, loadRuleSet, testdataDir } from './classbench.ts';
import { CLASSBENCH_FAMILIES, familySet, profileSet } from './classbenchGenerator.ts';
import { buildFrame, ipv4Header } from './frameBuilder.ts';
import { readCapture } from './pcapReader.ts';

const nativeDir = fileURLToPath(new URL('..', import.meta.url));
const FUZZ_SECONDS = 30;

/** Why fuzzing cannot run here, or undefined when it can. */
function missingToolchain(): string | undefined {
  try {
    execFileSync('clang++', ['--version'], { stdio: 'ignore' });
  } catch {
    return 'clang++ is not installed (Debian package clang)';
  }
  const runtime = execFileSync('clang++', ['-print-file-name=libclang_rt.fuzzer-x86_64.a'], { encoding: 'utf8' }).trim();
  if (process.arch === 'x64' && !existsSync(runtime)) return 'the libFuzzer runtime is not installed (Debian package libclang-rt-14-dev)';
  return undefined;
}

function run(cmd: string, args: string[], cwd: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-200_000)));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
  });
}

const targets = {
  parserFuzz: ['fuzz/parserFuzz.cc', 'src/parse/packetParser.cc', 'src/demux/flowIndex.cc', 'src/demux/flowTable.cc', 'src/demux/leafScan.cc', 'src/demux/sampler.cc'],
  decapFuzz: ['fuzz/decapFuzz.cc', 'src/io/vxlanUplink.cc', 'src/io/viRing.cc', 'src/io/tapDevice.cc', 'src/dataplane/dataPlane.cc', 'src/dataplane/viPorts.cc',
    'src/dataplane/forwarding.cc', 'src/dataplane/policing.cc', 'src/dataplane/counters.cc',
    'src/parse/packetParser.cc', 'src/demux/flowIndex.cc', 'src/demux/flowTable.cc', 'src/demux/leafScan.cc', 'src/demux/sampler.cc'],
  ruleFuzz: ['fuzz/ruleFuzz.cc', 'src/demux/ruleCodec.cc', 'src/demux/flowIndex.cc', 'src/demux/leafScan.cc'],
};

function seedFrames(dir: string): number {
  let n = 0;
  const pcapDir = `${testdataDir}pcap/`;
  for (const name of readdirSync(pcapDir).filter((f) => /\.pcap(ng)?$/.test(f))) {
    const frames = readCapture(pcapDir + name);
    const step = Math.max(1, Math.floor(frames.length / 150));
    for (let i = 0; i < frames.length; i += step) writeFileSync(join(dir, `${name}-${i}`), frames[i]?.data ?? new Uint8Array(0));
    n += Math.ceil(frames.length / step);
  }
  const crafted = [
    buildFrame(ipv4Header(1, 0x0a000105, 7, 4789, 17, { vni: 7 })),
    buildFrame(ipv4Header(1, 0x0a000105, 7, 150, 6), { vlans: [1, 2] }),
    buildFrame(ipv4Header(1, 0x0a000105, 7, 150, 17), { fragment: 'later' }),
  ];
  crafted.forEach((f, i) => writeFileSync(join(dir, `crafted-${i}`), f));
  return n + crafted.length;
}

/** The frame seeds as VXLAN datagrams (VNI 3, I flag set), plus the uplink's malformed cases. */
function seedDatagrams(framesDir: string, dir: string): number {
  const names = readdirSync(framesDir);
  for (const name of names) {
    const frame = readFileSync(join(framesDir, name));
    const datagram = new Uint8Array(8 + frame.length);
    datagram[0] = 0x08;
    datagram[6] = 3;
    datagram.set(frame, 8);
    writeFileSync(join(dir, name), datagram);
  }
  const malformed = [new Uint8Array([0x08, 0, 0]), new Uint8Array(8 + 20), Uint8Array.of(0x08, 0, 0, 0, 0, 0, 3, 0, 1, 2)];
  malformed.forEach((m, i) => writeFileSync(join(dir, `malformed-${i}`), m));
  return names.length + malformed.length;
}

function seedRules(dir: string): number {
  const sets = ['acl1_1k', 'fw1_1k', 'ipc1_1k'].map((s) => loadRuleSet(`${classbenchDir}lyxocs-ruleSet/${s}`).rules);
  // Every ClassBench family (classbenchGenerator.ts), from its parameter file
  // where one is at hand, else from its measured profile: its first 96
  // rules make a tree with real cuts (leaves hold up to 64), few enough that
  // the target's brute-force check keeps its pace; the 8-rule slices below
  // make single leaves.
  let n = 0;
  for (const family of CLASSBENCH_FAMILIES) {
    const rules = (familySet(family, 1000) ?? profileSet(family, 1000)).rules;
    sets.push(rules);
    writeFileSync(join(dir, `${family}-96`), encodeRules(rules.slice(0, 96)));
    n++;
  }
  const extra: FlowRule[] = [
    { priority: 3, match: { src: '2001:db8::/32', dst: '2001:db8:1:2::/64', dstPort: { from: 1, to: 1024 } }, action: 'to_vi', viId: 2, sampleRate: 10 },
    { priority: 2, match: { vni: 42, inPort: 3, ipProto: 6 }, action: 'drop' },
    { priority: 1, match: { ethType: 0x0806 }, action: 'legacy' },
  ];
  sets.forEach((rules, s) => {
    for (let i = 0; i + 8 <= rules.length && i < 400; i += 8) writeFileSync(join(dir, `cb${s}-${i}`), encodeRules(rules.slice(i, i + 8)));
    n += 50;
  });
  writeFileSync(join(dir, 'extra'), encodeRules(extra));
  return n + 1;
}

const why = missingToolchain();
if (why) console.warn(`fuzzing skipped: ${why}`);

describe.skipIf(why !== undefined)('libFuzzer targets (ASan + UBSan)', () => {
  const work = mkdtempSync(join(tmpdir(), 'pcloud-fuzz-'));
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('build, then run for 30 s each without a crash or sanitizer report', async () => {
    // Binaries go to the temp dir: native/build is wiped by every node-gyp rebuild.
    const outDir = join(work, 'bin');
    mkdirSync(outDir);
    const builds = await Promise.all(Object.entries(targets).map(([name, sources]) =>
      run('clang++', ['-std=c++20', '-O1', '-g', '-fsanitize=fuzzer,address,undefined', '-fno-sanitize-recover=undefined', '-Isrc', ...sources, '-o', join(outDir, name)], nativeDir)));
    builds.forEach((b) => expect(b.code, b.output).toBe(0));

    const corpora = { parserFuzz: join(work, 'frames'), ruleFuzz: join(work, 'rules'), decapFuzz: join(work, 'datagrams') };
    Object.values(corpora).forEach((d) => mkdirSync(d));
    expect(seedFrames(corpora.parserFuzz)).toBeGreaterThan(1000);
    expect(seedDatagrams(corpora.parserFuzz, corpora.decapFuzz)).toBeGreaterThan(1000);
    expect(seedRules(corpora.ruleFuzz)).toBeGreaterThan(100);

    const runs = await Promise.all(Object.entries(corpora).map(async ([name, corpus]) => {
      const r = await run(join(outDir, name), [`-max_total_time=${FUZZ_SECONDS}`, '-rss_limit_mb=2048', '-print_final_stats=1', `-artifact_prefix=${work}/${name}-`, corpus], work);
      return { name, ...r };
    }));
    for (const r of runs) {
      const executed = /stat::number_of_executed_units:\s*(\d+)/.exec(r.output)?.[1];
      console.log(`${r.name}: ${executed ?? '?'} executions in ${FUZZ_SECONDS} s`);
      expect(r.output).not.toMatch(/ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:|deadly signal/);
      expect(r.code, r.output.slice(-4000)).toBe(0);
      expect(Number(executed)).toBeGreaterThan(10_000);
    }
  }, 600_000);
});
