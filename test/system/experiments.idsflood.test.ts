// The ids-flood experiment (issue 17, the paper's sec. 5.3) in --quick mode,
// as root (CI runs as root): the Fig. 8 WAN lab in network namespaces with its
// scheduler and controllers, attackers flooding user A (tcpreplay), iperf3
// from B to A, and the ids service reserved through the scheduler at New York
// and Florida. Checked for shape and sanity (the IDS gives B's stream more
// goodput than it has under the attack without it), never for exact values.
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
  path: { access: { sentBytes: number } };
}

describe.skipIf(!root)('ids-flood, --quick, as root', () => {
  test('the IDS at New York and Florida blocks the flood before A and gives B to A more goodput than the attack leaves it without; files written; the lab is gone', async () => {
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
    // Without the IDS the flood filled A's access link (what its HTB sent towards A while the flood ran).
    const carriedMbps = (attacked.path.access.sentBytes * 8) / (results.data.seconds + 2) / 1e6;
    expect(carriedMbps).toBeGreaterThan(0.8 * results.data.accessMbps);
    // B's stream used the congestion control the experiment states, not whatever the machine defaults to.
    expect(measurements.map((m) => m.congestion)).toEqual(['cubic', 'cubic', 'cubic']);
    // The paper's effect, as a sanity bound and never an exact value: the IDS gives B's stream more
    // goodput than it keeps under the attack without it.
    const ratio = run.table.find((r) => r.quantity === 'goodput with IDS / without');
    expect(ratio?.ours).toBeGreaterThan(1);
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
