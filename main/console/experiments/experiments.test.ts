import { DOMParser } from '@xmldom/xmldom';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { experiments } from './catalog.ts';
import type { Experiment } from './experiment.ts';
import type { ProximityData } from './proximity.ts';
import { ExperimentBusy, ExperimentRunner, experimentsDir, hostFacts } from './runner.ts';
import { niceTicks, renderChart } from './svgChart.ts';

/** Parses as XML, failing on any warning or error (an SVG the browser would refuse). */
export function parseSvg(svg: string): Document {
  const problems: string[] = [];
  const doc = new DOMParser({ errorHandler: { warning: (m) => problems.push(m), error: (m) => problems.push(m), fatalError: (m) => problems.push(m) } }).parseFromString(svg, 'image/svg+xml');
  expect(problems).toEqual([]);
  expect(doc.documentElement?.nodeName).toBe('svg');
  return doc as unknown as Document;
}

let dataDir: string;
beforeEach(() => {
  dataDir = mkdtempSync(join(tmpdir(), 'exp17-test-'));
});
afterEach(() => rmSync(dataDir, { recursive: true, force: true }));

describe('svg chart', () => {
  test('ours and the paper together, axes labelled with units, text escaped', () => {
    const svg = renderChart({
      title: 'Delay <per hop> & more',
      xLabel: 'packet size', xUnit: 'B', yLabel: 'delay', yUnit: 'ms',
      series: [
        { name: 'ours', source: 'ours', points: [{ x: 100, y: 0.1 }, { x: 1500, y: 0.3 }] },
        { name: 'paper', source: 'paper', points: [{ x: 100, y: 1.43 }, { x: 1500, y: 6.37 }] },
      ],
    });
    const doc = parseSvg(svg);
    const texts = Array.from(doc.getElementsByTagName('text')).map((t) => t.textContent);
    expect(texts).toContain('packet size (B)');
    expect(texts).toContain('delay (ms)');
    expect(texts).toContain('Delay <per hop> & more');
    expect(texts).toContain('paper');
    expect(texts).not.toContain('paper (paper)');
    const lines = Array.from(doc.getElementsByTagName('polyline'));
    expect(lines).toHaveLength(2);
    expect(lines[1]?.getAttribute('stroke-dasharray')).toBeTruthy();
    expect(lines[0]?.hasAttribute('stroke-dasharray')).toBe(false);
  });

  test('ticks cover the range at 1, 2 or 5 times a power of ten', () => {
    const t = niceTicks(0, 6.37);
    expect(t[0]).toBe(0);
    expect(t.at(-1)).toBeGreaterThanOrEqual(6.37);
    expect(new Set(t.slice(1).map((v, i) => +(v - (t[i] as number)).toFixed(9))).size).toBe(1);
  });
});

describe('runner', () => {
  const waiting = (release: Promise<void>, undone: string[]): Experiment => ({
    name: 'waits', title: 'waits', paper: '-', needs: () => null, estimateSeconds: { quick: 1, full: 1 },
    async run(ctx) {
      ctx.cleanup('first', () => void undone.push('first'));
      ctx.cleanup('second', () => void undone.push('second'));
      ctx.progress('waiting', 1, 2);
      await release;
      throw new Error('the experiment broke');
    },
  });

  test('one experiment at a time, across runners of one data folder; undo in reverse order, also on failure', async () => {
    let release = (): void => undefined;
    const undone: string[] = [];
    const exp = waiting(new Promise<void>((r) => (release = r)), undone);
    const a = new ExperimentRunner(dataDir, [exp]);
    const b = new ExperimentRunner(dataDir, [exp]);
    const seen: string[] = [];
    a.onProgress((p) => seen.push(`${p.state} ${p.step}`));
    const { finished } = a.start('waits', { quick: true });
    expect(() => a.start('waits', { quick: true })).toThrow(ExperimentBusy);
    expect(() => b.start('waits', { quick: true })).toThrow(/experiment "waits" is running \(pid \d+/);
    release();
    await expect(finished).rejects.toThrow('the experiment broke');
    expect(undone).toEqual(['second', 'first']);
    expect(seen).toEqual(['running starting', 'running waiting', 'failed waiting']);
    expect(a.current()?.error).toBe('the experiment broke');
    // The lock went with the run.
    expect(existsSync(join(experimentsDir(dataDir), 'running.json'))).toBe(false);
  });

  test('abandoning a run undoes what it started at once, and only once', async () => {
    let release = (): void => undefined;
    const undone: string[] = [];
    const runner = new ExperimentRunner(dataDir, [waiting(new Promise<void>((r) => (release = r)), undone)]);
    const { finished } = runner.start('waits', { quick: true });
    await runner.abandon();
    expect(undone).toEqual(['second', 'first']);
    expect(existsSync(join(experimentsDir(dataDir), 'running.json'))).toBe(false);
    release();
    await expect(finished).rejects.toThrow('the experiment broke');
    expect(undone).toEqual(['second', 'first']);
  });

  test("a crashed run's lock is stale and taken over", async () => {
    mkdirSync(experimentsDir(dataDir), { recursive: true });
    writeFileSync(join(experimentsDir(dataDir), 'running.json'), JSON.stringify({ pid: 2 ** 22 + 7, startTime: '1', name: 'proximity', startedAt: 0 }));
    const run = await new ExperimentRunner(dataDir, experiments).run('proximity', { quick: true });
    expect(run.table.length).toBeGreaterThan(0);
  });

  test('an experiment this host cannot run says what it needs and what remains runnable', () => {
    const runner = new ExperimentRunner(dataDir, experiments, { ...hostFacts(), root: false });
    const list = runner.list();
    expect(list.find((e) => e.name === 'proximity')?.needs).toBeNull();
    for (const name of ['fig5c-mtu', 'ids-flood', 'cache']) expect(list.find((e) => e.name === name)?.needs).toBeTruthy();
    expect(() => runner.start('cache', { quick: true })).toThrow(/cannot run on this host: it needs .*web-cache.*Runnable here: .*proximity/);
    expect(() => runner.start('nope', { quick: true })).toThrow(/no experiment "nope" \(known: .*proximity/);
  });
});

describe('proximity --quick', () => {
  test('closest admission beats random beats farthest; files written; the last run reads back', async () => {
    const runner = new ExperimentRunner(dataDir, experiments);
    const run = await runner.run('proximity', { quick: true });
    expect(run.dir.startsWith(join(experimentsDir(dataDir), 'proximity'))).toBe(true);
    const results = JSON.parse(readFileSync(join(run.dir, 'results.json'), 'utf8')) as { data: ProximityData; host: { cores: number } };
    const by = results.data.byPolicy;
    expect(by.closest.meanMs).toBeLessThan(by.random.meanMs);
    expect(by.random.meanMs).toBeLessThanOrEqual(by.farthest.meanMs);
    for (const p of ['closest', 'random', 'farthest'] as const) {
      expect(by[p].refused).toBeLessThan(results.data.requests / 10);
      expect(by[p].p50Ms).toBeLessThanOrEqual(by[p].p95Ms);
    }
    expect(results.host.cores).toBeGreaterThan(0);
    const report = readFileSync(join(run.dir, 'report.md'), 'utf8');
    expect(report).toMatch(/\| mean RTT, closest \| ms \| [\d.]+ \| - \| - \|/);
    expect(report).toMatch(/on \d+ cores/);
    expect(report).toContain('Why they differ:');
    const doc = parseSvg(readFileSync(join(run.dir, 'proximity-rtt-cdf.svg'), 'utf8'));
    expect(doc.getElementsByTagName('polyline')).toHaveLength(3);
    // A CDF never falls.
    const ys = (doc.getElementsByTagName('polyline')[0]?.getAttribute('points') ?? '').split(' ').map((p) => Number(p.split(',')[1]));
    for (let i = 1; i < ys.length; i++) expect(ys[i]).toBeLessThanOrEqual(ys[i - 1] as number); // SVG y grows downwards
    const last = runner.lastRun('proximity');
    expect(last?.table).toEqual(run.table);
    expect(last?.figures[0]?.svg).toContain('<svg');
  });
});
