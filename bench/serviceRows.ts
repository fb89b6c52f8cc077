// bench:dataplane's rows for two services of issue 13, as root, in the
// shape of the data-plane rows (bench/dataplane.ts):
//   aes-encrypt: MLFFR at 100 and 1500 bytes and per-hop delay at 100 to 1500
//                bytes through one computation node running the service on a
//                ring port, measured exactly as fig5a/fig5b measure it
//                (main/console/experiments/fig5.ts on its ExperimentCloudlet);
//   ids:         the loss-free rate and per-hop delay through Suricata inline
//                in an ids VI (bump tap port) started by a real controller,
//                and, in the same lab just before, the same through a bump
//                tap VI holding only a Linux bridge: the data plane's own
//                overhead around Suricata (what the VI costs without it).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { DataPlane, FlowTable } from '../native/index.ts';
import type { LoadResult } from '../native/index.ts';
import { CLOUDLET, DataPlaneLab, ROUTER_VTEP, VNI } from '../main/console/dataplaneLab.ts';
import { GENERATOR_PORT, findMlffr, frameOf, runLoad } from '../native/dataplaneMeasure.ts';
import { ExperimentCloudlet } from '../main/console/experiments/dataplaneCloudlet.ts';
import { measureDelays, measureMlffr } from '../main/console/experiments/fig5.ts';
import { startLabController } from '../test/support/labController.ts';
import type { ControllerCommand, ServiceSpec } from '../main/protocol/domain.ts';

export interface ServiceRow {
  path: 'aes-encrypt' | 'ids';
  /** For ids: through Suricata, or the same bump tap VI with a bridge instead (the data plane's share). */
  through?: 'suricata-inline' | 'bridge-only';
  bytes: number;
  mode: 'blocking';
  mlffrMpps: number | null;
  mlffrGbps: number | null;
  ratioToKernel: null;
  delayP50Us: number | null;
  delayP99Us: number | null;
  cyclesPerPacket: null;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const etRules = resolve(import.meta.dirname, '..', '..', 'shared', 'testdata', 'ids');

function row(path: ServiceRow['path'], bytes: number, m: { pps?: number; p50Us?: number; p99Us?: number }, through?: ServiceRow['through']): ServiceRow {
  return {
    path, ...(through ? { through } : {}), bytes, mode: 'blocking',
    mlffrMpps: m.pps === undefined ? null : m.pps / 1e6, mlffrGbps: m.pps === undefined ? null : (m.pps * bytes * 8) / 1e9, ratioToKernel: null,
    delayP50Us: m.p50Us ?? null, delayP99Us: m.p99Us ?? null, cyclesPerPacket: null,
  };
}

export async function measureAesEncrypt(log: (line: string) => void): Promise<ServiceRow[]> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-aes-'));
  const c = ExperimentCloudlet.create();
  try {
    await c.addNodes(1, dir);
    if (c.program.program !== 'aes-encrypt') throw new Error(`this build has no aes-encrypt service (found ${c.program.program})`);
    const rows: ServiceRow[] = [];
    for (const bytes of [100, 1500]) {
      const { pps } = await measureMlffr(c, bytes, { trialSeconds: 2, maxTrials: 8 }, (rate, ok) => log(`  aes-encrypt ${bytes} B: ${Math.round(rate / 1000)} kpps ${ok ? 'lossless' : 'lost'}`));
      rows.push(row('aes-encrypt', bytes, { pps }));
    }
    const sizes = [100, 300, 500, 700, 900, 1100, 1300, 1500];
    const delays = await measureDelays(c, sizes, 5, (step) => log(`  ${step}`));
    for (const d of delays) {
      const sorted = [...d.delaysMs].sort((a, b) => a - b);
      rows.push(row('aes-encrypt', d.bytes, { p50Us: (sorted[Math.floor(sorted.length / 2)] ?? NaN) * 1000, p99Us: d.p99Ms * 1000 }));
    }
    return rows;
  } finally {
    c.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const IDS_SIZES = [64, 1500];
const IDS_DELAY_SIZES = [100, 1500];

/** MLFFR at every IDS size and the delay at 2000 packets/s, as bench/dataplane.ts measures its paths. */
async function measurePath(lab: DataPlaneLab, through: NonNullable<ServiceRow['through']>, log: (line: string) => void): Promise<ServiceRow[]> {
  const rows: ServiceRow[] = [];
  for (const bytes of IDS_SIZES) {
    const frame = frameOf(lab, bytes);
    const { pps } = await findMlffr((rate) => runLoad(lab, frame, rate, 2), { maxTrials: 8, start: 10_000, growth: 2, resolution: 1000, onTrial: (rate, ok) => log(`  ids ${through} ${bytes} B: ${Math.round(rate / 1000)} kpps ${ok ? 'lossless' : 'lost'}`) });
    rows.push(row('ids', bytes, { pps }, through));
  }
  for (const bytes of IDS_DELAY_SIZES) {
    const d: LoadResult = await runLoad(lab, frameOf(lab, bytes), 2000, 1);
    rows.push(row('ids', bytes, { p50Us: d.p50Us, p99Us: d.p99Us }, through));
  }
  return rows;
}

export async function measureIds(log: (line: string) => void): Promise<ServiceRow[]> {
  const lab = new DataPlaneLab().create();
  const rows: ServiceRow[] = [];
  try {
    // The data plane's share: a bump tap VI with a bridge, nothing inspecting.
    const table = new FlowTable();
    const plane = new DataPlane({ table, netns: lab.nsPath(lab.ns.c), bind: CLOUDLET, port: 4789, routerPort: GENERATOR_PORT, routers: [ROUTER_VTEP], vnis: [VNI] });
    try {
      const vi = lab.addNamespace('idsbr');
      plane.addTapPort(2, { layout: 'bump', netns: lab.nsPath(vi) });
      lab.bridgeVi(vi, 'in0', 'out0');
      table.add([{ priority: 1, match: {}, action: 'to_vi', viId: 2 }]);
      rows.push(...(await measurePath(lab, 'bridge-only', log)));
    } finally {
      plane.close();
    }
    // Suricata inline: the ids service as a controller starts it, its rule capturing everything to h2.
    const controller = await startLabController(lab, { cloudletId: 'bench-ids', routerPort: GENERATOR_PORT });
    try {
      const now = Date.now();
      const profile = [{ from: now - 1000, to: now + 600_000, capacity: { cpu: 1, memMiB: 1024, diskGiB: 1, netMbps: 1000 } }];
      const service: ServiceSpec = { mode: 'transparent', program: 'ids', args: { rules: etRules, 'home-net': '[198.18.20.0/24]' }, rules: [{ priority: 10, match: { ethType: 0x0800, dstPrefix: '198.18.20.0/24' }, action: 'to_vi', samplingRate: 0, ownershipProof: 'owns:p1' }] };
      const base = { reservationId: 'bench-ids' };
      for (const c of [
        { ...base, commandId: 'p', kind: 'prepare', providerId: 'p1', nodeId: 'n1', t0: now - 1000, t1: now + 600_000, profile, service, holdMs: 5000 },
        { ...base, commandId: 'c', kind: 'commit' },
        { ...base, commandId: 's', kind: 'start', nodeId: 'n1', profile, service, t1: now + 600_000 },
      ] satisfies ControllerCommand[]) {
        const r = await controller.daemon.cloudlet.agent.command(c);
        if (!r.ok) throw new Error(`ids ${c.kind} refused: ${r.reason}`);
      }
      // Suricata loads its rules for a few seconds; until then nothing crosses in0 to out0.
      let up = false;
      for (let i = 0; i < 60 && !up; i++) {
        up = (await runLoad(lab, frameOf(lab, 100), 10, 0.5)).received > 0;
        if (!up) await sleep(500);
      }
      if (!up) throw new Error('nothing crossed the ids VI within 60 s (Suricata did not start forwarding)');
      rows.push(...(await measurePath(lab, 'suricata-inline', log)));
    } finally {
      await controller.close();
    }
  } finally {
    lab.close();
  }
  return rows;
}
