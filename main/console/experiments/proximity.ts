/**
 * proximity: the question of the paper's sec. 2 and Fig. 1 (how far is the
 * in-network service from the user who asks for it?) on the Fig. 8 WAN
 * (resources/labs/globalwan.json). The real scheduler, in this process on a
 * SQLite file in a scratch folder, admits the same stream of requests three
 * times: as it chooses (the closest cloudlet that fits), with every request
 * preferring the farthest cloudlet, and preferring a random one (a preferred
 * cloudlet is honoured when it fits, else admission falls back to its own
 * choice). The requestor-to-VI RTT is the shortest path by link RTT from the
 * requestor's PoP to the chosen cloudlet's PoP.
 */
import { join } from 'node:path';
import { seededRandom } from './seededRandom.ts';
import { parseSchedulerConfig } from '../../scheduler/config.ts';
import { Scheduler } from '../../scheduler/scheduler.ts';
import { loadLabTopology, resolveLinks } from '../labTopology.ts';
import type { Experiment, ExperimentContext, ExperimentResult } from './experiment.ts';
import { percentile } from './sampleStatistics.ts';
import type { ChartSeries } from './svgChart.ts';

export type PlacementPolicy = 'closest' | 'random' | 'farthest';
const policies: readonly PlacementPolicy[] = ['closest', 'random', 'farthest'];
const slotMs = 60_000;
const now = Date.UTC(2030, 0, 1);

interface Placement {
  requestor: string;
  cloudlet: string | null;
  rttMs: number | null;
  preferenceHonoured: boolean;
}

export interface ProximityData {
  requests: number;
  byPolicy: Record<PlacementPolicy, { placements: Placement[]; refused: number; meanMs: number; p50Ms: number; p95Ms: number; honoured: number }>;
}


/** The request stream, the same for every policy: requestor PoP, start, length and size drawn from one seed. */
function requestStream(pops: readonly string[], count: number) {
  const rand = seededRandom(20160401);
  // Offered load about the WAN's tenant capacity at the busiest slots, so close cloudlets fill and admission must look further.
  const horizonSlots = Math.max(6, Math.round(count / 12));
  return Array.from({ length: count }, () => {
    const requestor = pops[Math.floor(rand() * pops.length)] as string;
    const t0 = now + (1 + Math.floor(rand() * horizonSlots)) * slotMs;
    const t1 = t0 + (1 + Math.floor(rand() * 6)) * slotMs;
    const cpu = 1 + Math.floor(rand() * 4);
    return { requestor, t0, t1, capacity: { cpu, memMiB: 1024 * cpu, diskGiB: 10, netMbps: 100 } };
  });
}

async function placeAll(policy: PlacementPolicy, dbFile: string, stream: ReturnType<typeof requestStream>, tick: () => void): Promise<Placement[]> {
  const topology = loadLabTopology('globalwan');
  const config = parseSchedulerConfig({
    database: dbFile,
    tokens: [{ token: 'experiment-proximity-operator', role: 'operator', name: 'experiment' }],
    slotMs,
    groupCommitMs: 0,
    topology: {
      pops: topology.pops.map((p) => ({ id: p.id, name: p.name })),
      links: resolveLinks(topology),
      cloudlets: topology.cloudlets.map((c) => ({ id: c.id, popId: c.popId, nodes: c.nodes })),
    },
  }, 'the proximity experiment');
  const scheduler = new Scheduler(config, { now: () => now, log: () => undefined });
  const rand = seededRandom(7);
  const out: Placement[] = [];
  try {
    for (const r of stream) {
      const dist = scheduler.inventory.distancesFrom(r.requestor);
      const ranked = scheduler.inventory.rankFrom(r.requestor);
      const preferred = policy === 'closest' ? undefined
        : policy === 'farthest' ? ranked.at(-1)?.cloudlet.id
        : ranked[Math.floor(rand() * ranked.length)]?.cloudlet.id;
      const reservation = await scheduler.request('demo', {
        requestorPopId: r.requestor,
        ...(preferred ? { preferredCloudletId: preferred } : {}),
        t0: r.t0,
        t1: r.t1,
        profile: [{ from: r.t0, to: r.t1, capacity: r.capacity }],
        service: { mode: 'visible', program: 'forward', args: {}, rules: [] },
      }, { name: 'experiment', role: 'provider' });
      const cloudlet = reservation.cloudletId;
      const pop = cloudlet ? scheduler.inventory.cloudletById.get(cloudlet)?.popId : undefined;
      out.push({ requestor: r.requestor, cloudlet, rttMs: pop ? (dist.get(pop) ?? null) : null, preferenceHonoured: preferred === undefined || preferred === cloudlet });
      tick();
    }
  } finally {
    scheduler.close();
  }
  return out;
}

export const proximity: Experiment = {
  name: 'proximity',
  title: 'Requestor-to-VI RTT: the closest cloudlet against the farthest and a random one (Fig. 8 WAN)',
  paper: "Sec. 2 and Fig. 1: services in the ISP's PoPs sit close to users; the paper gives no distribution for its Fig. 8 WAN.",
  needs: () => null,
  estimateSeconds: { quick: 5, full: 30 },
  async run(ctx: ExperimentContext): Promise<ExperimentResult> {
    const count = ctx.quick ? 150 : 1000;
    // Requests come from the PoPs (where an ISP's customers attach), not from the lab's end hosts.
    const pops = loadLabTopology('globalwan').pops.filter((p) => p.kind === 'router').map((p) => p.id);
    const stream = requestStream(pops, count);
    let done = 0;
    const byPolicy = {} as ProximityData['byPolicy'];
    for (const policy of policies) {
      const placements = await placeAll(policy, join(ctx.tmpDir, `${policy}.sqlite`), stream, () => {
        done++;
        if (done % 25 === 0) ctx.progress(`placing ${count} requests, policy ${policy}`, done, count * policies.length);
      });
      const rtts = placements.flatMap((p) => (p.rttMs === null ? [] : [p.rttMs])).sort((a, b) => a - b);
      byPolicy[policy] = {
        placements,
        refused: placements.filter((p) => p.cloudlet === null).length,
        meanMs: rtts.reduce((s, v) => s + v, 0) / Math.max(1, rtts.length),
        p50Ms: percentile(rtts, 0.5),
        p95Ms: percentile(rtts, 0.95),
        honoured: placements.filter((p) => p.cloudlet !== null && p.preferenceHonoured).length,
      };
    }
    const cdf = (policy: PlacementPolicy): ChartSeries => {
      const rtts = byPolicy[policy].placements.flatMap((p) => (p.rttMs === null ? [] : [p.rttMs])).sort((a, b) => a - b);
      return { name: policy === 'closest' ? 'closest (admission)' : policy, source: 'ours', step: true, points: [{ x: 0, y: 0 }, ...rtts.map((x, i) => ({ x, y: (i + 1) / rtts.length }))] };
    };
    const c = byPolicy.closest;
    return {
      figures: [{
        id: 'proximity-rtt-cdf',
        chart: { title: 'Requestor-to-VI RTT on the Fig. 8 WAN', xLabel: 'RTT requestor PoP to VI', xUnit: 'ms', yLabel: 'fraction of admitted requests', yUnit: 'CDF', yMax: 1, series: policies.map(cdf) },
      }],
      table: policies.flatMap((p) => [
        { quantity: `mean RTT, ${p}`, unit: 'ms', ours: byPolicy[p].meanMs, paper: null },
        { quantity: `p95 RTT, ${p}`, unit: 'ms', ours: byPolicy[p].p95Ms, paper: null },
      ]).concat([
        { quantity: 'mean RTT random / closest', unit: 'x', ours: byPolicy.random.meanMs / c.meanMs, paper: null },
        { quantity: 'mean RTT farthest / closest', unit: 'x', ours: byPolicy.farthest.meanMs / c.meanMs, paper: null },
      ]),
      why: 'The paper argues proximity qualitatively and measures no placement distribution on its WAN; ours is the RTT of what the real admission chose on link RTTs derived from great-circle distance, so its numbers are lower bounds of real Internet paths. Where the closest cloudlet is full, admission takes the next closest, so the closest policy is not always zero.',
      notes: [
        `${count} requests from PoPs drawn uniformly, 1 to 4 cores for 1 to 6 one-minute slots, the same stream for every policy; the real scheduler (admission, SQLite store) in this process.`,
        ...policies.map((p) => `${p}: ${count - byPolicy[p].refused} admitted, ${byPolicy[p].refused} refused${p === 'closest' ? '' : `, preference honoured for ${byPolicy[p].honoured}`}; RTT mean ${byPolicy[p].meanMs.toFixed(1)} ms, p50 ${byPolicy[p].p50Ms.toFixed(1)} ms, p95 ${byPolicy[p].p95Ms.toFixed(1)} ms.`),
      ],
      data: { requests: count, byPolicy: Object.fromEntries(policies.map((p) => [p, { ...byPolicy[p], placements: undefined }])), placements: Object.fromEntries(policies.map((p) => [p, byPolicy[p].placements])) },
    };
  },
};
