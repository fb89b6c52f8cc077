// The paper's data-plane experiments (fig5a-delay, fig5b-mlffr) in --quick
// mode, as root (CI runs as root): the real data plane in the lab's network
// namespaces, the service program as a VI process. Checked for shape and
// sanity, never for exact values (these machines are shared).
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { experiments } from '../../main/console/experiments/catalog.ts';
import { ExperimentRunner } from '../../main/console/experiments/runner.ts';
import { expectSvgsDrawn } from './harness.ts';

const root = process.getuid?.() === 0;
let dataDir: string;
const namespaces = (): string[] => execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).split('\n').map((l) => l.split(' ')[0] ?? '').filter(Boolean);

beforeAll(() => {
  dataDir = mkdtempSync(join(tmpdir(), 'exp17-dp-'));
});
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

describe.skipIf(!root)('data-plane experiments, --quick, as root', () => {
  test('fig5a-delay: a delay for every size, p99 at least the mean, nothing left behind', async () => {
    const run = await new ExperimentRunner(dataDir, experiments).run('fig5a-delay', { quick: true });
    const results = JSON.parse(readFileSync(join(run.dir, 'results.json'), 'utf8')) as { data: { labTag: string; program: string; sizes: { bytes: number; delaysMs: number[]; lost: number; meanMs: number; p99Ms: number }[] } };
    const sizes = results.data.sizes;
    expect(sizes.map((s) => s.bytes)).toEqual([100, 500, 1000, 1500]);
    for (const s of sizes) {
      expect(s.delaysMs.length + s.lost).toBe(3);
      expect(s.delaysMs.length).toBeGreaterThanOrEqual(2);
      expect(s.meanMs).toBeGreaterThan(0);
      expect(s.p99Ms).toBeGreaterThanOrEqual(s.meanMs);
    }
    expect(run.table.find((r) => r.quantity === 'mean delay at 1500 B')?.paper).toBe(6.37);
    await expectSvgsDrawn([join(run.dir, 'fig5a-delay.svg')]);
    expect(readFileSync(join(run.dir, 'report.md'), 'utf8')).toMatch(/\| mean delay at 100 B \| ms \| [\d.]+ \| 1\.43 \| [\d.]+ \|/);
    // The lab's namespaces went with the run.
    expect(namespaces().filter((n) => n.startsWith(results.data.labTag))).toEqual([]);
  });

  test('fig5b-mlffr: a lossless rate for 1, 2 and 3 nodes; more bytes per second at 1500 B than at 100 B', async () => {
    const run = await new ExperimentRunner(dataDir, experiments).run('fig5b-mlffr', { quick: true });
    const results = JSON.parse(readFileSync(join(run.dir, 'results.json'), 'utf8')) as { data: { labTag: string; found: { nodes: number; bytes: number; pps: number; gbps: number }[] } };
    const found = results.data.found;
    expect(found.map((f) => `${f.nodes}/${f.bytes}`)).toEqual(['1/100', '1/1500', '2/100', '2/1500', '3/100', '3/1500']);
    for (const f of found) expect(f.pps).toBeGreaterThan(0);
    // Per packet the work hardly depends on size, so 15 times the bytes carry more bits per second.
    for (const n of [1, 2, 3]) {
      const small = found.find((f) => f.nodes === n && f.bytes === 100);
      const large = found.find((f) => f.nodes === n && f.bytes === 1500);
      expect(large?.gbps).toBeGreaterThan(small?.gbps ?? Infinity);
    }
    await expectSvgsDrawn([join(run.dir, 'fig5b-mlffr-1500.svg'), join(run.dir, 'fig5b-mlffr-100.svg')]);
    expect(readFileSync(join(run.dir, 'report.md'), 'utf8')).toMatch(/growth must stop/);
    expect(namespaces().filter((n) => n.startsWith(results.data.labTag))).toEqual([]);
  });
});
