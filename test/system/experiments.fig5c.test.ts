// fig5c-mtu in --quick mode, as root (CI runs as root): the deterlab lab up
// through a lab session (namespaces, Open vSwitch routers, the scheduler and
// two controllers), ids and ipsec-tunnel VIs reserved through the scheduler.
// Checked for shape and sanity only (these machines are shared): every case
// has a positive goodput at both MTUs and an RTT; on the plain path MTU 1500
// is not slower than 500 by more than noise (a third of the packets carry the
// same bytes, and per-packet work bounds this path); the tunnel's RTT is
// not below the plain path's by more than noise (a VI at each cloudlet adds
// two hops' work); the SVGs parse and Chromium draws them; the lab leaves no namespace behind.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { experiments } from '../../main/console/experiments/catalog.ts';
import type { CaseResult } from '../../main/console/experiments/fig5c.ts';
import { ExperimentRunner, hostFacts } from '../../main/console/experiments/runner.ts';
import { expectSvgsDrawn } from './harness.ts';

const runnable = experiments.find((e) => e.name === 'fig5c-mtu')?.needs(hostFacts()) === null;
let dataDir: string;
const namespaces = (): string[] => execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).split('\n').map((l) => l.split(' ')[0] ?? '').filter(Boolean);

beforeAll(() => {
  // Short: the lab's Open vSwitch sockets live under it (108-byte Unix socket paths).
  dataDir = mkdtempSync(join(tmpdir(), 'b13-'));
});
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

// Root with Suricata installed (CI has both); elsewhere the experiment says what it needs (experiments.test.ts).
describe.skipIf(!runnable)('fig5c-mtu --quick, as root', () => {
  test('goodput at two MTUs and an RTT for each of the four cases, beside the paper; nothing left behind', async () => {
    const run = await new ExperimentRunner(dataDir, experiments).run('fig5c-mtu', { quick: true });
    const results = JSON.parse(readFileSync(join(run.dir, 'results.json'), 'utf8')) as { data: { labTag: string; mtus: number[]; cases: CaseResult[] } };
    const { cases, mtus, labTag } = results.data;
    expect(mtus).toEqual([500, 1500]);
    expect(cases.map((c) => c.id)).toEqual(['plain', 'ids', 'ipsec-aes-128-cbc', 'ipsec-aes-256-cbc']);
    for (const c of cases) {
      expect(c.points.map((p) => p.mtu)).toEqual(mtus);
      for (const p of c.points) expect(p.goodputMbps, `${c.id} at MTU ${p.mtu}`).toBeGreaterThan(0);
      expect(c.rttMs.avg).toBeGreaterThan(0);
      expect(c.rttMs.lost).toBeLessThan(5);
    }
    const plain = cases.find((c) => c.id === 'plain')?.points ?? [];
    expect(plain[1]?.goodputMbps).toBeGreaterThan((plain[0]?.goodputMbps ?? Infinity) * 0.8);
    // The least RTT of each case: the average carries the machine's scheduling noise (one late wake-up is tens of ms).
    const rtt = (id: string) => cases.find((c) => c.id === id)?.rttMs.min ?? NaN;
    // Physics, loosely: the tunnel adds a VI (two more router and data-plane crossings) at each cloudlet.
    expect(rtt('ipsec-aes-256-cbc')).toBeGreaterThan(rtt('plain') * 0.8);
    expect(run.table.find((r) => r.quantity === 'goodput at MTU 1500, IPsec tunnel, AES-256-CBC')?.paper).toBe(891);
    expect(run.table.find((r) => r.quantity === 'ping RTT, default forwarding')?.paper).toBe(0.7);
    await expectSvgsDrawn([join(run.dir, 'fig5c-mtu.svg'), join(run.dir, 'fig5c-rtt.svg')]);
    expect(readFileSync(join(run.dir, 'report.md'), 'utf8')).toMatch(/\| goodput at MTU 1500, default forwarding \| Mb\/s \| [\d.]+ \| 942 \| [\d.]+ \|/);
    expect(namespaces().filter((n) => n.startsWith(labTag))).toEqual([]);
  }, 240_000);
});
