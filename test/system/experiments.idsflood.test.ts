// The ids-flood experiment (issue 17, the paper's sec. 5.3) in --quick mode,
// as root (CI runs as root): the Fig. 8 WAN lab in network namespaces with its
// scheduler and controllers, attackers flooding user A (tcpreplay), iperf3
// from B to A, and the ids service reserved through the scheduler at New York
// and Florida. Checked for shape and sanity (the flood is blocked before A,
// every stream measured with CUBIC), never for exact values; the goodput
// ratio is reported (see below why it is not bounded).
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
  test('the IDS at New York and Florida blocks the flood before A; B to A goodput measured in each case with CUBIC; files written; the lab is gone', async () => {
    const run = await new ExperimentRunner(dataDir, experiments).run('ids-flood', { quick: true });
    const results = JSON.parse(readFileSync(join(run.dir, 'results.json'), 'utf8')) as { data: { labTag: string; accessMbps: number; seconds: number; measurements: Measurement[]; ids: { cloudletId: string; service: Record<string, number> }[] } };
    const { measurements, ids, labTag } = results.data;
    // Printed before the checks: a failing sanity bound comes with the path each condition took (RTT, drops, CPU).
    console.log(`ids-flood --quick:\n${readFileSync(join(run.dir, 'report.md'), 'utf8')}`);
    expect(measurements.map((m) => m.condition)).toEqual(['no attack', 'attack, no IDS', 'attack, IDS at NYC and MIA']);
    const [calm, attacked, defended] = measurements as [Measurement, Measurement, Measurement];
    for (const m of measurements) {
      expect(m.goodputMbps).toBeGreaterThan(0);
      // Never above A's (scaled) access link.
      expect(m.goodputMbps).toBeLessThan(results.data.accessMbps * 1.05);
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
    // The goodput ratio and what A's link carried are reported, not bounded: the same build gave
    // 1.1x-24.8x on a loaded machine and 0.46x in a quiet fresh-clone CI run (there the attack left
    // B 3.31 of 4.36 Mb/s, while New York's IDS path cost B more than the flood did); issue 17 says so.
    const ratio = run.table.find((r) => r.quantity === 'goodput with IDS / without');
    expect(ratio?.ours).toBeGreaterThan(0);
    expect(ratio?.paper).toBeCloseTo(7.49, 1);
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
