// The cache experiment (the paper's Table 4) in --quick mode, as root (CI
// runs as root): the cache lab's hosts and Open vSwitch routers, its
// scheduler and controllers, and web-cache VIs reserved through the
// scheduler at both client ISPs. Checked for shape and sanity, never for
// exact values: hits above zero, and the origin sends less with the cache.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { experiments } from '../../main/console/experiments/catalog.ts';
import { ExperimentRunner } from '../../main/console/experiments/runner.ts';
import { expectSvgsDrawn } from './harness.ts';

const root = process.getuid?.() === 0;
let dataDir: string;
const namespaces = (): string[] => execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).split('\n').map((l) => l.split(' ')[0] ?? '').filter(Boolean);

interface PhaseData {
  cache: boolean;
  clients: Record<string, { requests: number; bodyBytes: number; hits: number; errors: number; seconds: number }>;
  networks: Record<string, { inBytes: number; outBytes: number }>;
  origin: { requests: number; bodyBytes: number };
}

beforeAll(() => {
  // Short: the lab's Open vSwitch sockets live under it (108-byte socket paths).
  dataDir = mkdtempSync(join(tmpdir(), 'c17-'));
});
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

describe.skipIf(!root)('cache experiment, --quick, as root', () => {
  test('cache hits above zero at both ISPs, fewer bytes out of the origin with the cache, nothing left behind', async () => {
    const run = await new ExperimentRunner(dataDir, experiments).run('cache', { quick: true });
    const results = JSON.parse(readFileSync(join(run.dir, 'results.json'), 'utf8')) as { data: { labTag: string; scale: { files: number; requestsPerClient: number }; without: PhaseData; withCache: PhaseData } };
    const { without, withCache, scale, labTag } = results.data;
    for (const phase of [without, withCache]) {
      for (const host of ['U1', 'U2']) {
        const c = phase.clients[host];
        expect(c?.requests).toBe(scale.requestsPerClient);
        expect(c?.errors).toBe(0);
        expect(c?.seconds).toBeGreaterThan(0);
      }
      // What the clients got crossed the origin's uplink, once each without a cache.
      expect(phase.networks.RO?.outBytes).toBeGreaterThan(0);
    }
    // Without a cache every request reaches the origin and none is a hit.
    expect(without.origin.requests).toBe(2 * scale.requestsPerClient);
    expect(without.clients.U1?.hits).toBe(0);
    // With it, both caches answer repeats, so the origin serves fewer requests and sends fewer bytes.
    expect(withCache.clients.U1?.hits).toBeGreaterThan(0);
    expect(withCache.clients.U2?.hits).toBeGreaterThan(0);
    expect(withCache.origin.requests).toBeLessThan(without.origin.requests);
    expect(withCache.networks.RO?.outBytes).toBeLessThan(without.networks.RO?.outBytes ?? 0);
    // Each ISP takes in less across the core with its cache.
    for (const isp of ['R1', 'R2']) expect(withCache.networks[isp]?.inBytes).toBeLessThan(without.networks[isp]?.inBytes ?? 0);

    expect(run.table.find((r) => r.quantity === 'origin network out, without the cache')?.paper).toBe(348.8);
    expect(readFileSync(join(run.dir, 'report.md'), 'utf8')).toMatch(/\| download time U1, with the cache \| s \| [\d.]+ \| 885 \| [\d.]+ \|/);
    await expectSvgsDrawn(['cache-origin-bytes', 'cache-download-time'].map((figure) => join(run.dir, `${figure}.svg`)));
    // The lab's namespaces went with the run.
    expect(namespaces().filter((n) => n.startsWith(labTag))).toEqual([]);
  }, 300_000);
});
