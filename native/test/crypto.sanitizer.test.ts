// The crypto C++ outside Node, under AddressSanitizer + UndefinedBehavior-
// Sanitizer on every path the driver's CPU has, and the portable path under
// valgrind memcheck with secrets marked undefined (ctgrind): memcheck then
// flags any branch or memory index that depends on key or plaintext bytes.
// cryptoSanitizerDriver.cc is compiled here, at test time, from the same
// sources as the addon (minus the N-API layer).
// Needs clang++ (or g++) and, on Linux, valgrind: Debian packages `clang` and `valgrind`.
import { execFile, spawnSync } from 'node:child_process';
import { createCipheriv, createHmac } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cryptoPaths } from '../crypto.ts';
import { hex, knownAnswers, seeded, seededBytes, wycheproof } from './cryptoTestData.ts';

const nativeDir = fileURLToPath(new URL('../', import.meta.url));
const sources = [
  join(nativeDir, 'test', 'cryptoSanitizerDriver.cc'),
  ...readdirSync(join(nativeDir, 'src', 'crypto'))
    .filter((f) => f.endsWith('.cc') && f !== 'cryptoBinding.cc')
    .map((f) => join(nativeDir, 'src', 'crypto', f)),
];
const has = (tool: string) => spawnSync(tool, ['--version'], { stdio: 'ignore' }).status === 0;
const compiler = has('clang++') ? 'clang++' : 'g++';
const useValgrind = process.platform === 'linux';

let dir = '';
const asanBinary = () => join(dir, 'crypto-asan');
const ctBinary = () => join(dir, 'crypto-ctgrind');

beforeAll(async () => {
  if (!has(compiler)) throw new Error(`${compiler} not found: install Debian package clang (or g++) to run the sanitizer tests`);
  if (useValgrind && !has('valgrind')) throw new Error('valgrind not found: install Debian package valgrind');
  dir = mkdtempSync(join(tmpdir(), 'pcloud-crypto-'));
  const common = ['-std=c++20', `-I${join(nativeDir, 'src')}`, ...sources];
  const run = promisify(execFile);
  await Promise.all([
    run(compiler, [...common, '-O1', '-g', '-fsanitize=address,undefined', '-fno-sanitize-recover=all',
      '-fno-omit-frame-pointer', '-o', asanBinary()]),
    // DWARF 4: Debian 12's valgrind cannot read clang 14's default DWARF 5.
    useValgrind ? run(compiler, [...common, '-O2', '-gdwarf-4', '-DPCLOUD_CTGRIND', '-o', ctBinary()]) : Promise.resolve(),
  ]);
}, 180_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

interface Case { line: string; expect: string; what: string }

const padPkcs7 = (m: Buffer) => Buffer.concat([m, Buffer.alloc(16 - (m.length % 16), 16 - (m.length % 16))]);
const h = (b: Buffer) => (b.length ? b.toString('hex') : '-');

function vectorCases(): Case[] {
  const cases: Case[] = [];
  for (const v of knownAnswers.nistAndRfc().aes_cbc) {
    cases.push({ line: `cbc-enc ${v.key} ${v.iv} ${v.plaintext}`, expect: v.ciphertext, what: v.id });
    cases.push({ line: `cbc-dec ${v.key} ${v.iv} ${v.ciphertext}`, expect: v.plaintext, what: v.id });
  }
  for (const g of knownAnswers.intelCbc().testGroups) {
    for (const t of g.tests) {
      cases.push({ line: `cbc-enc ${t.key} ${t.iv} ${t.msg}`, expect: t.ct, what: `intel ${t.tcId}` });
      cases.push({ line: `cbc-dec ${t.key} ${t.iv} ${t.ct}`, expect: t.msg, what: `intel ${t.tcId}` });
    }
  }
  for (const g of wycheproof.aesCbc().testGroups) {
    for (const t of g.tests.filter((x) => x.result === 'valid')) {
      const padded = padPkcs7(hex(t.msg));
      cases.push({ line: `cbc-enc ${t.key} ${t.iv} ${h(padded)}`, expect: t.ct, what: `wycheproof cbc ${t.tcId}` });
      cases.push({ line: `cbc-dec ${t.key} ${t.iv} ${t.ct}`, expect: h(padded), what: `wycheproof cbc ${t.tcId}` });
    }
  }
  for (const g of wycheproof.hmac().testGroups) {
    for (const t of g.tests.filter((x) => x.result === 'valid')) {
      const full = createHmac('sha256', hex(t.key)).update(hex(t.msg)).digest('hex');
      expect(full.startsWith(t.tag)).toBe(true);
      cases.push({ line: `hmac ${t.key} ${h(hex(t.msg))}`, expect: full, what: `wycheproof hmac ${t.tcId}` });
    }
  }
  for (const v of knownAnswers.nistAndRfc().hmac_sha256) {
    const full = createHmac('sha256', hex(v.key)).update(hex(v.data)).digest('hex');
    expect(full.startsWith(v.mac)).toBe(true);
    cases.push({ line: `hmac ${v.key} ${v.data}`, expect: full, what: v.id });
  }
  const rand = seeded(4242);
  for (let i = 0; i < 24; i++) {
    const key = seededBytes(rand, [16, 24, 32][i % 3]!);
    const iv = seededBytes(rand, 16);
    const pt = seededBytes(rand, 16 * rand(90));
    const c = createCipheriv(`aes-${key.length * 8}-cbc`, key, iv).setAutoPadding(false);
    cases.push({ line: `cbc-enc ${h(key)} ${h(iv)} ${h(pt)}`, expect: h(Buffer.concat([c.update(pt), c.final()])), what: `random cbc ${i}` });
    const mk = seededBytes(rand, rand(150));
    const msg = seededBytes(rand, rand(700));
    cases.push({ line: `hmac ${h(mk)} ${h(msg)}`, expect: createHmac('sha256', mk).update(msg).digest('hex'), what: `random hmac ${i}` });
  }
  for (let seed = 1; seed <= 12; seed++) cases.push({ line: `cbc-batch ${seed}`, expect: 'ok', what: `batch seed ${seed}` });
  for (let seed = 1; seed <= 12; seed++) cases.push({ line: `hmac-batch ${seed}`, expect: 'ok', what: `hmac batch seed ${seed}` });
  for (let seed = 1; seed <= 12; seed++) cases.push({ line: `hmac-engines ${seed}`, expect: 'ok', what: `hmac engines seed ${seed}` });
  for (let seed = 1; seed <= 8; seed++) cases.push({ line: `sa ${seed}`, expect: 'ok', what: `sa seed ${seed}` });
  cases.push({ line: 'sa-exhaust', expect: 'ok', what: 'sequence numbers 2^32 - 2 and 2^32 - 1, then refusal' });
  return cases;
}

function runDriver(command: string[], cases: Case[], path: string) {
  const input = [`path ${path}`, ...cases.map((c) => c.line)].join('\n') + '\n';
  const r = spawnSync(command[0]!, command.slice(1), {
    input, encoding: 'utf8', maxBuffer: 64 << 20,
    // Leak checking is off: LeakSanitizer needs ptrace, which CI containers often deny.
    env: { ...process.env, ASAN_OPTIONS: 'detect_leaks=0', UBSAN_OPTIONS: 'halt_on_error=1:print_stacktrace=1' },
  });
  const lines = r.stdout.split('\n');
  return { status: r.status, stderr: r.stderr, available: lines[0] === 'ok', results: lines.slice(1) };
}

describe('crypto C++ under sanitizers', () => {
  // The driver detects CPU features exactly as the addon does.
  it.each(cryptoPaths())('the %s path passes every known-answer vector and round trip under ASan + UBSan', (path) => {
    const cases = vectorCases();
    const run = runDriver([asanBinary()], cases, path);
    expect(run.stderr, 'sanitizer report').toBe('');
    expect(run.status).toBe(0);
    expect(run.available).toBe(true);
    cases.forEach((c, i) => expect(run.results[i], c.what).toBe(c.expect));
  }, 120_000);

  it.runIf(useValgrind)('the portable path has no secret-dependent branch or memory index (valgrind ctgrind)', () => {
    const cases = vectorCases().filter((c, i) => c.line.startsWith('cbc-') ? i % 9 === 0 : c.line.startsWith('hmac') && i % 5 === 0);
    expect(cases.length).toBeGreaterThan(20);
    const run = runDriver(['valgrind', '-q', '--error-exitcode=3', ctBinary()], cases, 'portable');
    expect(run.stderr, 'memcheck report').toBe('');
    expect(run.status).toBe(0);
    cases.forEach((c, i) => expect(run.results[i], c.what).toBe(c.expect));
  }, 120_000);

  it.runIf(useValgrind)('the ctgrind harness itself catches a branch on a secret byte', () => {
    const run = spawnSync('valgrind', ['-q', '--error-exitcode=3', ctBinary()], { input: 'ct-control\n', encoding: 'utf8' });
    expect(run.status).toBe(3);
    expect(run.stderr).toMatch(/Conditional jump or move depends on uninitialised value/);
  }, 60_000);
});
