// Benchmark of the scheduler's admission: 10,000 nodes (100 PoPs x
// one cloudlet of 100 nodes), 1-minute slots, a 30-day horizon, 100,000
// existing reservations. Measured in one run, on the same state:
//   - admission decision latency p50/p99 (validation + index decision +
//     placing the hold; no controller round trip), feasible requests;
//   - refusal latency p50/p99, printed beside the
//     admission figures: requests larger than any node (pruned per cloudlet
//     by its largest node), and whole-node requests over most of the horizon,
//     which every node refuses ("booked out everywhere": once all 10,000
//     nodes were walked; now the free-capacity summaries skip the cloudlets).
//     The same booked-out requests are also decided with the exhaustive walk,
//     in the same run, for the ratio and to check both give the same answer;
//     Each decision that changes nothing is also timed as the least of 3
//     runs ("least of 3"): on a shared machine the wall-time p99 is mostly
//     time spent preempted;
//   - durable refusals: the whole request path of booked-out requests, and
//     what they leave in the database (one counter row per shape);
//   - durable admissions per second: the full request path (validation,
//     decision, WriteSet, audit chain, group commit with synchronous=FULL);
//   - resident memory;
//   - a SQL-recompute baseline deciding the same requests the way Blazar
//     does: per candidate cloudlet, query the reservations (holds) that
//     overlap the slot from SQLite and recompute each node's availability,
//     closest cloudlet first. Reported as ratios: the machine is shared, so
//     only numbers of one run compare.
//
// Usage: npm run bench:scheduler [-- --reservations=100000] [--durable=20000]
// Prints a summary and writes bench/results/scheduler.json.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Profile, ReservationRequest } from '../main/protocol/domain.ts';
import { systemActor } from '../main/scheduler/audit.ts';
import { parseSchedulerConfig, type SchedulerConfig } from '../main/scheduler/config.ts';
import type { CloudletInfo } from '../main/scheduler/inventory.ts';
import { Scheduler } from '../main/scheduler/scheduler.ts';
import { Store, type HoldRow } from '../main/scheduler/store.ts';
import { seededRandom } from '../main/console/experiments/seededRandom.ts';

const args = new Map(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=') as [string, string]));
const POPS = Number(args.get('pops') ?? 100);
const NODES_PER_CLOUDLET = Number(args.get('nodes') ?? 100);
const RESERVATIONS = Number(args.get('reservations') ?? 100_000);
const DECISIONS = Number(args.get('decisions') ?? 10_000);
const INFEASIBLE = Number(args.get('infeasible') ?? 500);
const BASELINE = Number(args.get('baseline') ?? 300);
const DURABLE = Number(args.get('durable') ?? 20_000);
const minute = 60_000;
const hour = 60 * minute;
const day = 24 * hour;
const nodeCapacity = { cpu: 64, memMiB: 262_144, diskGiB: 4000, netMbps: 25_000 };

// Deterministic, so every run decides the same requests.
const rand = seededRandom(20300101);
const int = (lo: number, hi: number): number => lo + Math.floor(rand() * (hi - lo + 1));

function benchConfig(database: string): SchedulerConfig {
  const pops = Array.from({ length: POPS }, (_, i) => ({ id: `pop${i}` }));
  const links = [];
  for (let i = 0; i < POPS; i++) {
    links.push({ a: `pop${i}`, b: `pop${(i + 1) % POPS}`, rttMs: int(2, 20), capacityMbps: 100_000 });
    links.push({ a: `pop${i}`, b: `pop${int(0, POPS - 1) === i ? (i + 7) % POPS : int(0, POPS - 1)}`, rttMs: int(10, 80), capacityMbps: 40_000 });
  }
  return parseSchedulerConfig({
    listen: { host: '127.0.0.1', port: 0 },
    database,
    tokens: [{ token: 'bench-operator-token-0123456789', role: 'operator', name: 'bench' }],
    slotMs: minute,
    horizonDays: 30,
    ispShare: 0.1,
    groupCommitMs: 2,
    topology: {
      pops,
      links: links.filter((l) => l.a !== l.b),
      cloudlets: pops.map((p, i) => ({
        id: `cl${i}`,
        popId: p.id,
        nodes: Array.from({ length: NODES_PER_CLOUDLET }, (_, j) => ({ id: `n${i}-${j}`, capacity: nodeCapacity })),
      })),
    },
  });
}

function randomProfile(t0: number, minutes: number, cpuMax: number): Profile {
  const parts = int(1, 3);
  const profile: Profile = [];
  let at = t0;
  for (let i = 0; i < parts; i++) {
    const end = i === parts - 1 ? t0 + minutes * minute : Math.min(t0 + minutes * minute - (parts - 1 - i) * minute, at + Math.max(1, Math.floor(minutes / parts)) * minute);
    if (end <= at) continue;
    profile.push({ from: at, to: end, capacity: { cpu: int(1, cpuMax), memMiB: int(1, 32) * 1024, diskGiB: int(1, 100), netMbps: int(10, 1000) } });
    at = end;
  }
  return profile;
}

function feasibleRequest(start: number): ReservationRequest {
  const t0 = start + int(60, 27 * 24 * 60) * minute;
  const minutes = int(30, 2 * 24 * 60);
  return {
    requestorPopId: `pop${int(0, POPS - 1)}`,
    t0,
    t1: t0 + minutes * minute,
    profile: randomProfile(t0, minutes, 16),
    service: { mode: 'transparent', program: 'monitor', args: {}, rules: [] },
  };
}

function quantiles(samples: number[]): { n: number; p50Ms: number; p99Ms: number; maxMs: number; meanMs: number } {
  const s = [...samples].sort((a, b) => a - b);
  const at = (q: number): number => s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN;
  const r = (x: number): number => Math.round(x * 10_000) / 10_000;
  return { n: s.length, p50Ms: r(at(0.5)), p99Ms: r(at(0.99)), maxMs: r(s.at(-1) ?? NaN), meanMs: r(s.reduce((a, b) => a + b, 0) / Math.max(1, s.length)) };
}

/**
 * Wall time of one call, in ms. On a shared 2-core machine the tails include
 * time spent preempted (per-thread CPU time is tick-grained on Linux, too
 * coarse per call), so the run records the load average beside them.
 */
function timed<T>(fn: () => T, wall: number[]): T {
  const w0 = performance.now();
  const out = fn();
  wall.push(performance.now() - w0);
  return out;
}

/**
 * The least wall time of `runs` calls of a decision that changes nothing:
 * the shared machine preempts some calls for whole time slices, and the least
 * of a few repeats filters that out, leaving what the decision itself costs.
 */
function leastOf<T>(fn: () => T, runs: number, samples: number[]): T {
  let best = Infinity;
  let out: T | undefined;
  for (let r = 0; r < runs; r++) {
    const w0 = performance.now();
    out = fn();
    best = Math.min(best, performance.now() - w0);
  }
  samples.push(best);
  return out as T;
}

const rssMiB = (): number => Math.round(process.memoryUsage().rss / 1048576);

/** Seeds reservations straight into the database (a fitting node chosen at random), as a scheduler would have left them. */
function seed(config: SchedulerConfig, now: number): number {
  const store = new Store(config.database, { groupCommitMs: 5 });
  const s = new Scheduler({ ...config, database: ':memory:' }, { log: () => undefined });
  const insertRes = store.db.prepare(
    `INSERT INTO reservations (id, provider_id, requestor_pop_id, preferred_cloudlet_id, t0, t1, profile_json, service_json, state, cloudlet_id, node_id, price_micros, paid_micros, created_at, updated_at, reason)
     VALUES (?, ?, ?, NULL, ?, ?, ?, ?, 'scheduled', ?, ?, 0, 0, ?, ?, 'seeded')`,
  );
  const insertHold = store.db.prepare('INSERT INTO holds (reservation_id, node_id, isp, from_ms, to_ms, cpu, mem_mib, disk_gib, net_mbps) VALUES (?, ?, 0, ?, ?, ?, ?, ?, ?)');
  const service = JSON.stringify({ mode: 'transparent', program: 'monitor', args: {}, rules: [] });
  let placed = 0;
  store.db.transaction(() => {
    for (let i = 1; placed < RESERVATIONS && i < RESERVATIONS * 3; i++) {
      const t0 = now + int(2 * 60, 29 * 24 * 60) * minute;
      const minutes = Math.min(int(60, 3 * 24 * 60), Math.floor((now + 30 * day - t0) / minute) - 1);
      if (minutes < 1) continue;
      const profile = randomProfile(t0, minutes, 16);
      // The first pass gives every node something, so a whole-node request over the horizon fits nowhere.
      const nodes = s.inventory.nodes;
      const node = i <= nodes.length ? nodes[i - 1] : nodes[int(0, nodes.length - 1)];
      if (!node || s.index.violationOn(node, profile, false)) continue;
      const id = `r-${i}`;
      s.index.place(id, node.id, profile, false);
      insertRes.run(id, 'seed', `pop${int(0, POPS - 1)}`, t0, t0 + minutes * minute, JSON.stringify(profile), service, node.cloudletId, node.id, now, now);
      for (const sub of profile) insertHold.run(id, node.id, sub.from, sub.to, sub.capacity.cpu, sub.capacity.memMiB, sub.capacity.diskGiB, sub.capacity.netMbps);
      placed++;
    }
  })();
  s.close();
  store.close();
  return placed;
}

/**
 * The SQL-recompute way, as Blazar does it: per request, fetch every
 * allocation overlapping [t0, t1) on all candidate hosts in one query,
 * recompute each host's availability over the request's sub-slots, then
 * apply the placement policy (closest cloudlet that fits, best fit in it).
 */
function blazarDecide(s: Scheduler, req: ReservationRequest): string | null {
  const stmt = blazarStmt ??= s.store.db.prepare('SELECT * FROM holds WHERE from_ms < ? AND to_ms > ?');
  const byNode = new Map<string, HoldRow[]>();
  for (const h of stmt.all(req.t1, req.t0) as HoldRow[]) {
    const list = byNode.get(h.node_id);
    if (list) list.push(h);
    else byNode.set(h.node_id, [h]);
  }
  const fitting = new Map<string, string>();
  for (const cloudlet of s.inventory.cloudlets) {
    const best = baselineCloudlet(cloudlet, req, (nodeId) => byNode.get(nodeId) ?? []);
    if (best) fitting.set(cloudlet.id, best);
  }
  for (const { cloudlet, distanceMs } of s.inventory.rankFrom(req.requestorPopId)) {
    if (Number.isFinite(distanceMs) && fitting.has(cloudlet.id)) return fitting.get(cloudlet.id) ?? null;
  }
  return null;
}
let blazarStmt: ReturnType<Store['db']['prepare']> | undefined;

/**
 * A stronger SQL baseline than Blazar's: for each cloudlet closest first, fetch the holds
 * overlapping [t0, t1) on its nodes, rebuild each node's usage over the
 * request's sub-slots by sweeping those rows, and take the best fit.
 */
function baselineDecide(s: Scheduler, req: ReservationRequest): string | null {
  const stmt = baselineStmt ??= s.store.db.prepare('SELECT * FROM holds WHERE node_id = ? AND from_ms < ? AND to_ms > ?');
  for (const { cloudlet, distanceMs } of s.inventory.rankFrom(req.requestorPopId)) {
    if (!Number.isFinite(distanceMs)) continue;
    const best = baselineCloudlet(cloudlet, req, (nodeId) => stmt.all(nodeId, req.t1, req.t0) as HoldRow[]);
    if (best) return best;
  }
  return null;
}
let baselineStmt: ReturnType<Store['db']['prepare']> | undefined;

function baselineCloudlet(cloudlet: CloudletInfo, req: ReservationRequest, holdsOf: (nodeId: string) => HoldRow[]): string | null {
  let best: string | null = null;
  let bestLeftover = Infinity;
  for (const node of cloudlet.nodes) {
    const rows = holdsOf(node.id);
    const limit = node.limits.tenant;
    const slack = [Infinity, Infinity, Infinity, Infinity];
    let fits = true;
    for (const sub of req.profile) {
      const need = [sub.capacity.cpu, sub.capacity.memMiB, sub.capacity.diskGiB, sub.capacity.netMbps];
      const instants = new Set<number>([sub.from]);
      for (const h of rows) if (h.from_ms > sub.from && h.from_ms < sub.to) instants.add(h.from_ms);
      for (const x of instants) {
        const used = [0, 0, 0, 0];
        for (const h of rows) {
          if (h.from_ms <= x && x < h.to_ms) {
            used[0] = (used[0] as number) + h.cpu;
            used[1] = (used[1] as number) + h.mem_mib;
            used[2] = (used[2] as number) + h.disk_gib;
            used[3] = (used[3] as number) + h.net_mbps;
          }
        }
        for (let k = 0; k < 4; k++) {
          const room = (limit[k] as number) - (used[k] as number) - (need[k] as number);
          if (room < -1e-7) fits = false;
          slack[k] = Math.min(slack[k] as number, room);
        }
        if (!fits) break;
      }
      if (!fits) break;
    }
    if (!fits) continue;
    let leftover = 0;
    for (let k = 0; k < 4; k++) leftover += (slack[k] as number) / (limit[k] as number);
    if (leftover / 4 < bestLeftover - 1e-12) {
      bestLeftover = leftover / 4;
      best = node.id;
    }
  }
  return best;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'pcloud-bench-scheduler-'));
  const config = benchConfig(join(dir, 'scheduler.sqlite'));
  const now = Math.ceil(Date.now() / minute) * minute;
  let t = performance.now();
  const seeded = seed(config, now);
  const seedSeconds = (performance.now() - t) / 1000;
  t = performance.now();
  const s = new Scheduler(config, { log: () => undefined });
  const rebuildSeconds = (performance.now() - t) / 1000;
  // What the scheduler's trim timer does every minute: the past is forgotten, and the summaries start at now.
  s.index.trimBefore(now - minute);
  const rssAfterRebuild = rssMiB();
  console.log(`seeded ${seeded} reservations on ${s.inventory.nodes.length} nodes in ${seedSeconds.toFixed(1)} s; rebuilt the index in ${rebuildSeconds.toFixed(1)} s; rss ${rssAfterRebuild} MiB`);

  // Warm the JIT on both paths so neither is measured cold.
  for (let i = 0; i < 2000; i++) s.decision('bench', feasibleRequest(now));
  for (let i = 0; i < 5; i++) {
    blazarDecide(s, feasibleRequest(now));
    baselineDecide(s, feasibleRequest(now));
  }

  // 1. Same requests, same frozen state: the index versus the SQL-recompute baselines.
  const compare = Array.from({ length: BASELINE }, () => feasibleRequest(now));
  const indexFrozen: number[] = [];
  const sqlFrozen: number[] = [];
  const closestFirstFrozen: number[] = [];
  let agree = 0;
  let agreeClosestFirst = 0;
  for (const req of compare) {
    const d = timed(() => s.decision('bench', req), indexFrozen);
    const b = timed(() => blazarDecide(s, req), sqlFrozen);
    const c = timed(() => baselineDecide(s, req), closestFirstFrozen);
    if ((d.chosen?.nodeId ?? null) === b) agree++;
    if ((d.chosen?.nodeId ?? null) === c) agreeClosestFirst++;
  }

  // 2. Admission decisions that are placed (the index evolves as it would).
  const decisions: number[] = [];
  const decisionsLeast: number[] = [];
  let admitted = 0;
  for (let i = 0; i < DECISIONS; i++) {
    const req = feasibleRequest(now);
    leastOf(() => s.decision('bench', req), 3, decisionsLeast);
    const d = timed(() => {
      const d = s.decision('bench', req);
      if (d.chosen) s.index.place(`bench-${i}`, d.chosen.nodeId, req.profile, false);
      return d;
    }, decisions);
    if (d.chosen) admitted++;
  }

  // 3. Refusals, on the state the admissions left.
  const oversize: number[] = [];
  const bookedOut: number[] = [];
  const bookedOutFullWalk: number[] = [];
  const oversizeLeast: number[] = [];
  const bookedOutLeast: number[] = [];
  let wronglyAdmitted = 0;
  let sameAsFullWalk = 0;
  const bookedOutRequest = (): ReservationRequest => {
    const t0 = Math.ceil((now + 2 * hour) / minute) * minute;
    // The whole tenant share of a node for 29 days: every node already holds something then.
    const t1 = t0 + 29 * day;
    return { ...feasibleRequest(now), t0, t1, profile: [{ from: t0, to: t1, capacity: { cpu: 57.6, memMiB: 1024, diskGiB: 1, netMbps: 1 } }] };
  };
  for (let i = 0; i < INFEASIBLE; i++) {
    const full = bookedOutRequest();
    const big: ReservationRequest = { ...full, t1: full.t0 + hour, profile: [{ from: full.t0, to: full.t0 + hour, capacity: { ...nodeCapacity, cpu: 80 } }] };
    if (timed(() => s.decision('bench', big), oversize).chosen) wronglyAdmitted++;
    leastOf(() => s.decision('bench', big), 3, oversizeLeast);
    const pruned = timed(() => s.decision('bench', full), bookedOut);
    leastOf(() => s.decision('bench', full), 3, bookedOutLeast);
    if (pruned.chosen) wronglyAdmitted++;
    const walked = timed(() => s.index.decide({ providerId: 'bench', isp: false, requestorPopId: full.requestorPopId, preferredCloudletId: null, t0: full.t0, t1: full.t1, profile: full.profile }, { exhaustive: true }), bookedOutFullWalk);
    if (walked.reason === pruned.reason && JSON.stringify(walked.shortfall) === JSON.stringify(pruned.shortfall)) sameAsFullWalk++;
  }

  // 3b. Durable refusals through the whole request path: counted, not stored as reservations.
  const reservationsBefore = (s.store.db.prepare('SELECT COUNT(*) AS n FROM reservations').get() as { n: number }).n;
  const durableRefusals: number[] = [];
  const REFUSALS = INFEASIBLE;
  const r0 = performance.now();
  for (let i = 0; i < REFUSALS; i++) {
    const w0 = performance.now();
    const r = await s.request('bench', bookedOutRequest(), systemActor);
    durableRefusals.push(performance.now() - w0);
    if (r.state !== 'declined') wronglyAdmitted++;
  }
  const refusalSeconds = (performance.now() - r0) / 1000;
  s.store.flush();
  const refusalRows = (s.store.db.prepare('SELECT COUNT(*) AS n FROM refusals').get() as { n: number }).n;
  const reservationsAdded = (s.store.db.prepare('SELECT COUNT(*) AS n FROM reservations').get() as { n: number }).n - reservationsBefore;
  for (let i = 0; i < DECISIONS; i++) s.index.release(`bench-${i}`);

  // 4. Durable admissions through the whole request path, many in flight, group commit.
  const before = { ...s.store.stats };
  const inFlight = 1000;
  let next = 0;
  let durableAdmitted = 0;
  t = performance.now();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < DURABLE) {
        next++;
        const r = await s.request('bench', feasibleRequest(now), systemActor);
        if (r.state === 'pending_approval') durableAdmitted++;
      }
    }),
  );
  const durableSeconds = (performance.now() - t) / 1000;
  const transactions = s.store.stats.transactions - before.transactions;
  const rssPeak = rssMiB();
  const audit = s.verifyAudit();
  s.close();
  rmSync(dir, { recursive: true, force: true });

  const frozenIndex = quantiles(indexFrozen);
  const frozenSql = quantiles(sqlFrozen);
  const frozenClosestFirst = quantiles(closestFirstFrozen);
  const result = {
    when: new Date().toISOString(),
    node: process.version,
    setup: { pops: POPS, cloudlets: POPS, nodes: POPS * NODES_PER_CLOUDLET, reservations: seeded, slotMs: minute, horizonDays: 30, seedSeconds, rebuildSeconds },
    loadAverage: loadavg(),
    admission: { ...quantiles(decisions), admitted, leastOf3: quantiles(decisionsLeast) },
    refusal: {
      bookedOut: { ...quantiles(bookedOut), leastOf3: quantiles(bookedOutLeast) },
      tooBigForAnyNode: { ...quantiles(oversize), leastOf3: quantiles(oversizeLeast) },
      bookedOutExhaustiveWalk: quantiles(bookedOutFullWalk),
      sameAsExhaustiveWalk: `${sameAsFullWalk}/${INFEASIBLE}`,
      wronglyAdmitted,
      durable: { requests: REFUSALS, perSecond: Math.round(REFUSALS / refusalSeconds), latency: quantiles(durableRefusals), refusalRows, reservationsAdded },
    },
    durable: { requests: DURABLE, admitted: durableAdmitted, seconds: Math.round(durableSeconds * 100) / 100, admissionsPerSecond: Math.round(DURABLE / durableSeconds), transactions, requestsPerTransaction: Math.round((DURABLE / Math.max(1, transactions)) * 10) / 10, auditVerified: audit.ok },
    memory: { rssAfterRebuildMiB: rssAfterRebuild, rssPeakMiB: rssPeak },
    baseline: {
      method: 'Blazar-style: per request, SELECT every hold overlapping [t0, t1) from SQLite, recompute each node\'s availability, then closest cloudlet and best fit',
      index: frozenIndex,
      sql: frozenSql,
      sameNodeChosen: `${agree}/${BASELINE}`,
      closestFirstSql: { method: 'stronger than Blazar: per cloudlet closest first, SELECT overlapping holds per node, stop at the first cloudlet that fits', ...frozenClosestFirst, sameNodeChosen: `${agreeClosestFirst}/${BASELINE}` },
    },
    ratio: {
      p50: Math.round(frozenSql.p50Ms / frozenIndex.p50Ms),
      p99: Math.round(frozenSql.p99Ms / frozenIndex.p99Ms),
      mean: Math.round(frozenSql.meanMs / frozenIndex.meanMs),
      closestFirstSqlP50: Math.round((frozenClosestFirst.p50Ms / frozenIndex.p50Ms) * 10) / 10,
    },
    targets: {
      p99AtMost1ms: quantiles(decisions).p99Ms <= 1,
      refusalP99AtMost1ms: quantiles(bookedOut).p99Ms <= 1 && quantiles(oversize).p99Ms <= 1,
      refusalP99AtMost1msLeastOf3: quantiles(bookedOutLeast).p99Ms <= 1 && quantiles(oversizeLeast).p99Ms <= 1,
      atLeast5000DurablePerSecond: DURABLE / durableSeconds >= 5000,
      atLeast100xBaseline: frozenSql.p50Ms / frozenIndex.p50Ms >= 100,
      atMost2GiBResident: rssPeak <= 2048,
    },
  };
  const out = fileURLToPath(new URL('./results/scheduler.json', import.meta.url));
  mkdirSync(fileURLToPath(new URL('./results/', import.meta.url)), { recursive: true });
  writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
  const row = (name: string, q: { p50Ms: number; p99Ms: number; meanMs: number }): string =>
    `${name.padEnd(42)} ${q.p50Ms.toFixed(4).padStart(9)} ${q.p99Ms.toFixed(4).padStart(9)} ${q.meanMs.toFixed(4).padStart(9)}`;
  console.log(
    [
      `${'decision latency (ms), load average '.padEnd(42)}${result.loadAverage.map((x) => x.toFixed(1)).join(' ')}`,
      `${''.padEnd(42)} ${'p50'.padStart(9)} ${'p99'.padStart(9)} ${'mean'.padStart(9)}`,
      row('admission (feasible, placed)', result.admission),
      row('refusal: booked out everywhere', result.refusal.bookedOut),
      row('refusal: too big for any node', result.refusal.tooBigForAnyNode),
      row('admission decision, least of 3 runs', result.admission.leastOf3),
      row('refusal: booked out, least of 3 runs', result.refusal.bookedOut.leastOf3),
      row('refusal: too big, least of 3 runs', result.refusal.tooBigForAnyNode.leastOf3),
      row('refusal: booked out, exhaustive walk', result.refusal.bookedOutExhaustiveWalk),
      row('refusal: booked out, durable request path', result.refusal.durable.latency),
      `booked out: same reason as the exhaustive walk ${result.refusal.sameAsExhaustiveWalk}; ${REFUSALS} durable refusals left ${refusalRows} refusal row(s) and ${reservationsAdded} reservation(s)`,
    ].join('\n'),
  );
  console.log(JSON.stringify({ loadAverage: result.loadAverage, admission: result.admission, refusal: result.refusal, durable: result.durable, memory: result.memory, baseline: result.baseline, ratio: result.ratio, targets: result.targets }, null, 2));
  console.log(`wrote ${out}`);
}

await main();
