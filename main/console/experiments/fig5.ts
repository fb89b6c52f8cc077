/**
 * fig5a-delay and fig5b-mlffr: the paper's Fig. 5a and 5b on our real data
 * plane, as root, in the lab's namespaces (dataplaneCloudlet.ts).
 *
 * fig5a: per-hop delay through the service, as the router sees it (send to
 * return through the cloudlet), one packet per second as in the paper, mean
 * and p99 over the repetitions, per packet size.
 * fig5b: MLFFR (zero loss) of the cloudlet for 1, 2 and 3 computation nodes
 * (one data-plane thread and one VI each), at 100 and 1500 bytes, every node
 * offered the same rate at once.
 */
import type { Experiment, ExperimentContext, ExperimentResult, HostFacts } from './experiment.ts';
import { mean, percentile } from './sampleStatistics.ts';
import type { ExperimentCloudlet } from './dataplaneCloudlet.ts';

const needsRoot = (host: HostFacts): string | null => (host.root ? null : 'root (network namespaces, the data plane in them)');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const PAPER_DELAY_MS: Record<number, number> = { 100: 1.43, 1500: 6.37 };

/** What the machine's other work does to a measurement, when there is enough of it to matter. */
function loadClause(host: HostFacts, effect: string): string {
  return host.loadAverage > host.cores
    ? ` This machine's load average was ${host.loadAverage.toFixed(1)} on ${host.cores} cores at the start: with more runnable threads than cores, ${effect}.`
    : '';
}

/**
 * What the measured growth says against the cores' bound: a node's threads
 * need not keep a core busy each (the VI waits on its data plane, the
 * generator on its timer), so more nodes than the bound may still use idle
 * core time, sub-linearly.
 */
function growthClause(gbpsByNodes: number[], cores: number): string {
  const first = gbpsByNodes[0] ?? 0;
  const last = gbpsByNodes[gbpsByNodes.length - 1] ?? 0;
  if (!(first > 0) || gbpsByNodes.length < 2) return '';
  const growth = last / first;
  return growth >= 1.2
    ? ` Measured: ${growth.toFixed(2)}x from 1 to ${gbpsByNodes.length} nodes at 1500 B (the paper's ${gbpsByNodes.length}x): one node's threads did not keep ${cores} cores busy (its VI waits on its data plane, the generator on its pacing), so more nodes still found idle core time, less of it with each.`
    : ` Measured: ${growth.toFixed(2)}x from 1 to ${gbpsByNodes.length} nodes at 1500 B (the paper's ${gbpsByNodes.length}x): flat, the cores are the bound.`;
}

async function cloudlet(ctx: ExperimentContext) {
  const { ExperimentCloudlet } = await import('./dataplaneCloudlet.ts');
  ctx.progress('building the lab (namespaces, kernel router)', 0, 1);
  const c = ExperimentCloudlet.create();
  ctx.cleanup('the data-plane lab', () => c.close());
  return c;
}

export interface SizeDelays {
  bytes: number;
  delaysMs: number[];
  lost: number;
  meanMs: number;
  p99Ms: number;
}

/**
 * Per-hop delay through the cloudlet's first node, as Fig. 5a measures it
 * (also bench:dataplane's aes-encrypt rows): after a warm-up, one packet at a
 * time, one per second, `reps` per size with the repetitions outermost.
 */
export async function measureDelays(c: ExperimentCloudlet, sizes: readonly number[], reps: number, onStep: (step: string, done: number) => void): Promise<SizeDelays[]> {
  // Warm up first (the VI's JIT, caches, the generator's socket): the paper measured a running service, not a cold one.
  for (const bytes of sizes) await c.offer(bytes, 100, 0.2);
  const delays = new Map<number, number[]>(sizes.map((b) => [b, []]));
  const lostBy = new Map<number, number>(sizes.map((b) => [b, 0]));
  let done = 0;
  // Repetitions outermost, sizes inside: drift in the machine's load spreads over every size alike.
  for (let rep = 0; rep < reps; rep++) {
    for (const bytes of sizes) {
      onStep(`repetition ${rep + 1} of ${reps}: a ${bytes}-byte packet through ${c.program.program}`, done);
      const started = Date.now();
      // One packet per run: its delay is the run's median.
      const r = await c.offer(bytes, 1, 1);
      if (r.received === 1 && r.perNode[0]) delays.get(bytes)?.push(r.perNode[0].p50Us / 1000);
      else lostBy.set(bytes, (lostBy.get(bytes) ?? 0) + 1);
      done++;
      await sleep(Math.max(0, 1000 - (Date.now() - started))); // one packet per second, as the paper
    }
  }
  return sizes.map((bytes) => {
    const delaysMs = delays.get(bytes) ?? [];
    const sorted = [...delaysMs].sort((a, b) => a - b);
    return { bytes, delaysMs, lost: lostBy.get(bytes) ?? 0, meanMs: mean(sorted), p99Ms: percentile(sorted, 0.99) };
  });
}

/**
 * Zero-loss rate of the cloudlet's nodes together at `bytes`, as Fig. 5b
 * searches it (also bench:dataplane's aes-encrypt rows): doubling from
 * 10 kpps until a loss, then bisecting, every node offered the same rate at once.
 */
export async function measureMlffr(
  c: ExperimentCloudlet,
  bytes: number,
  o: { trialSeconds: number; maxTrials: number },
  onTrial: (rate: number, ok: boolean, made: number) => void,
): Promise<{ pps: number; trials: { rate: number; ok: boolean }[] }> {
  const { findMlffr } = await import('../../../native/dataplaneMeasure.ts');
  const n = c.nodes.length;
  const trials: { rate: number; ok: boolean }[] = [];
  const { pps } = await findMlffr((rate) => c.offer(bytes, Math.max(1, Math.round(rate / n)), o.trialSeconds), {
    maxTrials: o.maxTrials,
    start: 10_000,
    growth: 2,
    resolution: 500,
    // Far above what 2 to 3 nodes on a few cores forward (1500 B: 1 Gb/s is 83 kpps).
    ceiling: bytes <= 100 ? 2_000_000 : 400_000,
    onTrial: (rate, ok) => {
      trials.push({ rate, ok });
      onTrial(rate, ok, trials.length);
    },
  });
  return { pps, trials };
}

export const fig5aDelay: Experiment = {
  name: 'fig5a-delay',
  title: 'Per-hop delay of the aes-encrypt service for packet sizes 100 to 1500 bytes',
  paper: 'Fig. 5a: per-hop delay penalty of aes-encrypt at node C11, 1.43 ms at 100 B, 6.37 ms at 1500 B (1 packet/s, 10 repetitions).',
  needs: needsRoot,
  estimateSeconds: { quick: 25, full: 110 },
  async run(ctx) {
    const sizes = ctx.quick ? [100, 500, 1000, 1500] : [100, 300, 500, 700, 900, 1100, 1300, 1500];
    const reps = ctx.quick ? 3 : 10;
    const c = await cloudlet(ctx);
    await c.addNodes(1, ctx.tmpDir);
    const total = sizes.length * reps;
    ctx.progress(`warming up ${c.program.program}`, 0, total);
    const bySize = await measureDelays(c, sizes, reps, (step, done) => ctx.progress(step, done, total));
    const program = c.program.program;
    const at = (b: number) => bySize.find((s) => s.bytes === b);
    return {
      figures: [{
        id: 'fig5a-delay',
        chart: {
          title: `Per-hop delay through ${program} (Fig. 5a)`, xLabel: 'packet size', xUnit: 'bytes', yLabel: 'per-hop delay', yUnit: 'ms',
          series: [
            { name: `ours, mean (${program})`, source: 'ours', points: bySize.map((s) => ({ x: s.bytes, y: s.meanMs })) },
            { name: `ours, p99 (${program})`, source: 'ours', points: bySize.map((s) => ({ x: s.bytes, y: s.p99Ms })) },
            { name: 'paper', source: 'paper', points: Object.entries(PAPER_DELAY_MS).map(([b, ms]) => ({ x: Number(b), y: ms })) },
          ],
        },
      }],
      table: [100, 1500].flatMap((b) => [
        { quantity: `mean delay at ${b} B`, unit: 'ms', ours: at(b)?.meanMs ?? null, paper: PAPER_DELAY_MS[b] ?? null },
        { quantity: `p99 delay at ${b} B`, unit: 'ms', ours: at(b)?.p99Ms ?? null, paper: null },
      ]),
      why: `The paper's VI is an LXC container with a user-space AES program on 2013 hardware behind a physical switch and NIC; ours is a ring-port VI (shared memory, no kernel crossing per packet) next to a C++ data plane, and the router is the kernel in another namespace of the same machine, so no wire, NIC or switch time is in our number${program === 'aes-encrypt' ? '' : `; and this build has no aes-encrypt service yet, so ${program} was measured: the hop without the cipher`}.${loadClause(ctx.host, 'every wake-up of a sleeping thread on the path (the router\'s generator, the data plane, the VI) waits for a core, and at one packet per second every packet wakes all of them, so scheduling delay, not work, makes most of our number')}`,
      notes: [
        `${sizes.length} sizes (${sizes.join(', ')} bytes of inner frame), ${reps} packets each (repetitions interleaved over the sizes, after a warm-up), one per second, through one computation node running ${program} on a ring port; the generator's send time rides in 40 bytes of IPv4 options, so the payload ${program} works on is 82 bytes shorter than the frame.`,
        `Delay: send to return at the router (the lab's router namespace), for one packet at a time; lost packets: ${bySize.reduce((s, b) => s + b.lost, 0)}.`,
      ],
      data: { program, labTag: c.lab.tag, sizes: bySize },
    } satisfies ExperimentResult;
  },
};

export const fig5bMlffr: Experiment = {
  name: 'fig5b-mlffr',
  title: 'MLFFR of a cloudlet running aes-encrypt for 1, 2 and 3 computation nodes',
  paper: 'Fig. 5b: MLFFR grows linearly with the computation nodes, about 1 Gb/s per node at 1500 B.',
  needs: needsRoot,
  estimateSeconds: { quick: 60, full: 120 },
  async run(ctx) {
    const counts = [1, 2, 3];
    const sizes = [100, 1500];
    const trialSeconds = ctx.quick ? 0.5 : 2;
    const maxTrials = ctx.quick ? 3 : 8;
    const c = await cloudlet(ctx);
    const total = counts.length * sizes.length * maxTrials;
    let done = 0;
    const found: { nodes: number; bytes: number; pps: number; gbps: number; trials: { rate: number; ok: boolean }[] }[] = [];
    for (const n of counts) {
      ctx.progress(`starting ${n} computation node(s) with ${c.program.program}`, done, total);
      await c.addNodes(n, ctx.tmpDir);
      for (const bytes of sizes) {
        const { pps, trials } = await measureMlffr(c, bytes, { trialSeconds, maxTrials }, (rate, ok, made) =>
          ctx.progress(`${n} node(s), ${bytes} B: trial at ${Math.round(rate / 1000)} kpps ${ok ? 'lossless' : 'lost packets'}`, done + made, total));
        done += maxTrials;
        found.push({ nodes: n, bytes, pps, gbps: (pps * bytes * 8) / 1e9, trials });
      }
    }
    c.closeNodes();
    const program = c.program.program;
    const of = (n: number, b: number) => found.find((f) => f.nodes === n && f.bytes === b);
    const cores = ctx.host.cores;
    return {
      figures: sizes.map((bytes) => ({
        id: `fig5b-mlffr-${bytes}`,
        chart: {
          title: `MLFFR at ${bytes} B through ${program} (Fig. 5b)`, xLabel: 'computation nodes (data-plane threads)', xUnit: 'count', xTicks: counts, yLabel: 'MLFFR', yUnit: 'Gb/s',
          series: [
            { name: `ours (${program})`, source: 'ours' as const, points: counts.map((n) => ({ x: n, y: of(n, bytes)?.gbps ?? NaN })) },
            ...(bytes === 1500 ? [{ name: 'paper, about 1 Gb/s per node', source: 'paper' as const, points: counts.map((n) => ({ x: n, y: n })) }] : []),
          ],
        },
      })),
      table: counts.flatMap((n) => [
        { quantity: `MLFFR, ${n} node(s), 1500 B`, unit: 'Gb/s', ours: of(n, 1500)?.gbps ?? null, paper: n },
        { quantity: `MLFFR, ${n} node(s), 100 B`, unit: 'kpps', ours: (of(n, 100)?.pps ?? 0) / 1e3, paper: null },
      ]),
      why: `The paper adds physical computation nodes, each with its own cores and NIC; here every node is a data-plane thread, a VI process and a load generator sharing this machine's ${cores} cores, so growth must stop by ${Math.max(1, Math.floor(cores / 2))} node(s): each node keeps about two threads busy (its data plane and its VI), and the generators take their share too${program === 'aes-encrypt' ? '' : `; and this build has no aes-encrypt service yet, so ${program} was measured`}.${growthClause(counts.map((n) => of(n, 1500)?.gbps ?? 0), cores)}${loadClause(ctx.host, 'our nodes got only a share of cores that other work was also using, so these rates are far below what the data plane does on a quiet machine (bench:dataplane)')}`,
      notes: [
        `${cores} cores (${ctx.host.cpuModel}): growth must stop where the nodes' threads outnumber the cores.`,
        `Zero-loss search (doubling from 10 kpps until a loss, then bisecting), ${trialSeconds} s trials, at most ${maxTrials} trials per point, every node offered the same rate at once; frames ${sizes.join(' and ')} bytes.`,
        ...found.map((f) => `${f.nodes} node(s), ${f.bytes} B: ${(f.pps / 1000).toFixed(1)} kpps, ${f.gbps.toFixed(3)} Gb/s.`),
      ],
      data: { program, labTag: c.lab.tag, found },
    } satisfies ExperimentResult;
  },
};
