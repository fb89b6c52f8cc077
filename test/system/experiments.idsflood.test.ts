// The ids-flood experiment (issue 17, the paper's sec. 5.3) in --quick mode,
// as root (CI runs as root): the Fig. 8 WAN lab in network namespaces with its
// scheduler and controllers, attackers flooding user A (tcpreplay), iperf3
// from B to A, and the ids service reserved through the scheduler at New York
// and Florida. Checked for shape and sanity (the flood is blocked before A,
// B gets more with the IDS than without, every stream measured with CUBIC),
// never for exact values.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { experiments } from '../../main/console/experiments/catalog.ts';
import { ExperimentRunner } from '../../main/console/experiments/runner.ts';
import { expectSvgsDrawn, namespacesTagged, ovsDaemonsUnder } from './harness.ts';

const root = process.getuid?.() === 0;
const dataDir = mkdtempSync(join(tmpdir(), 'exp17-ids-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

interface Measurement {
  condition: string;
  goodputMbps: number;
  intervals: { t: number; mbps: number }[];
  floodSentPps: number;
  receivedByAPps: number;
  congestion: string;
}

describe.skipIf(!root)('ids-flood, --quick, as root', () => {
  test('the IDS at New York and Florida blocks the flood before A and gives B more goodput than the attack leaves it; CUBIC in each case; files written; the lab is gone', async () => {
    const run = await new ExperimentRunner(dataDir, experiments).run('ids-flood', { quick: true });
    const results = JSON.parse(readFileSync(join(run.dir, 'results.json'), 'utf8')) as { data: { labTag: string; accessMbps: number; seconds: number; measurements: Measurement[]; ids: { cloudletId: string; service: Record<string, number> }[] } };
    const { measurements, ids, labTag } = results.data;
    // Printed before the checks: a failing sanity bound comes with the path each condition took (RTT, drops, CPU).
    console.log(`ids-flood --quick:\n${readFileSync(join(run.dir, 'report.md'), 'utf8')}`);
    expect(measurements.map((m) => m.condition)).toEqual(['no attack', 'attack, no IDS', 'attack, IDS at NYC and MIA']);
    const [calm, attacked, defended] = measurements as [Measurement, Measurement, Measurement];
    // Without the IDS B may get nothing at all through the flooded link.
    expect(calm.goodputMbps).toBeGreaterThan(0);
    expect(attacked.goodputMbps).toBeGreaterThanOrEqual(0);
    for (const m of measurements) {
      // Never above A's (scaled) access link (with a margin: A's server once counted 5.11 Mb/s of a
      // 5 Mb/s link in its one-second intervals).
      expect(m.goodputMbps).toBeLessThan(results.data.accessMbps * 1.1);
      expect(m.intervals.length).toBeGreaterThan(0);
    }
    // The attackers sent, and only under attack.
    expect(calm.floodSentPps).toBe(0);
    expect(attacked.floodSentPps).toBeGreaterThan(0);
    expect(defended.floodSentPps).toBeGreaterThan(0);
    // The IDS dropped the flood before it reached A.
    expect(ids.map((v) => v.cloudletId)).toEqual(['NYC-C', 'MIA-C']);
    expect(ids.reduce((s, v) => s + (v.service.blocked ?? 0), 0)).toBeGreaterThan(0);
    expect(defended.receivedByAPps).toBeLessThan(attacked.receivedByAPps);
    // B's stream used the congestion control the experiment states, not whatever the machine defaults to.
    expect(measurements.map((m) => m.congestion)).toEqual(['cubic', 'cubic', 'cubic']);
    // The paper's result: the IDS gives B back what the flood took. B's goodput is what A received in
    // the measured window; the flood fills A's link (B kept 0.0-0.06 Mb/s of 4.7-5.1 in quick runs) and
    // the IDS, with its echo limit scaled like the links, left B 2.2-3.4 Mb/s on a busy machine.
    expect(defended.goodputMbps).toBeGreaterThan(attacked.goodputMbps);
    const ratio = run.table.find((r) => r.quantity === 'goodput with IDS / without');
    // Null only when B received nothing at all without the IDS.
    if (attacked.goodputMbps > 0) expect(ratio?.ours).toBeGreaterThan(1);
    expect(ratio?.paper).toBeCloseTo(7.49, 1);
    const share = (c: string): number | null | undefined => run.table.find((r) => r.quantity === `share of the no-attack goodput, ${c}`)?.ours;
    expect(share('attack, IDS at NYC and MIA')).toBeGreaterThan(share('attack, no IDS') ?? 0);
    await expectSvgsDrawn([join(run.dir, 'ids-flood-goodput.svg')]);
    const report = readFileSync(join(run.dir, 'report.md'), 'utf8');
    expect(report).toMatch(/\| goodput B to A under attack, no IDS \| Mb\/s \| [\d.]+ \| 1\.27 \| [\d.]+ \|/);
    expect(report).toContain('Scale 1/200');
    // The lab went with the run: namespaces and Open vSwitch daemons.
    expect(namespacesTagged(labTag)).toEqual([]);
    expect(ovsDaemonsUnder('pcloud-exp-ids-flood-')).toEqual([]);
    expect(execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })).not.toContain(`${labTag}-`);
  });
});
