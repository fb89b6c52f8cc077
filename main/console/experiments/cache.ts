/**
 * cache: the paper's Table 4 on the lab (resources/labs/cache.json). An
 * origin host O serves N files of stated sizes over HTTP; clients U1 and U2,
 * each in its own ISP behind access router R1 or R2, fetch files with
 * Zipf(2) popularity, one request after another, both clients at once. Run
 * twice over the same request sequences: without a cache, then with the
 * `web-cache` service (squid, intercepting) reserved through the scheduler at
 * each ISP's cloudlet (C1 at R1, C2 at R2) with a rule sending TCP port 80
 * towards the origin's prefix to it. Measured: the bytes in and out of the
 * origin's network and of each client ISP's network (the kernel counters of
 * each network's router port towards the core, Ethernet frames), the origin's
 * own count of requests and body bytes served, and each client's total
 * download time and cache hits (squid's X-Cache header).
 *
 * Built on the lab session (labSession.ts): the lab's hosts, Open vSwitch
 * routers, scheduler and controllers, and VIs reserved as the lab's provider.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { seededRandom } from './seededRandom.ts';
import { RpcClient } from '../../protocol/client.ts';
import { controllerApi } from '../../protocol/controllerApi.ts';
import type { LabPingRtt, LabSession } from '../labSession.ts';
import { chooseLabMode } from '../labNetwork.ts';
import type { Experiment, ExperimentContext, ExperimentResult, HostFacts } from './experiment.ts';
import { missingServices } from './serviceNeeds.ts';

const topology = 'cache';
const clients = [
  { host: 'U1', isp: 'R1', cloudletId: 'C1', seed: 17_001 },
  { host: 'U2', isp: 'R2', cloudletId: 'C2', seed: 17_002 },
] as const;
const origin = { host: 'O', isp: 'RO' };
const core = 'CORE';
/** The paper's Table 4 and its download times (s). */
const paper = { originOutMB: { without: 348.8, with: 96.2 }, downloadS: { U1: { without: 1888, with: 885 }, U2: { without: 1105, with: 410 } } };
/** File sizes: log-uniform between these (bytes), so a few large files sit among many small ones as on the web. */
const sizeRange = { min: 10_000, max: 1_000_000 };
const zipfExponent = 2;
const MB = 1e6;

export interface CacheScale {
  files: number;
  requestsPerClient: number;
}

export function cacheScale(quick: boolean): CacheScale {
  return quick ? { files: 500, requestsPerClient: 150 } : { files: 10_000, requestsPerClient: 1_000 };
}

/** File i's size in bytes (seeded: the same files every run). */
export function fileSizes(files: number): number[] {
  const rand = seededRandom(4_242);
  return Array.from({ length: files }, () => Math.round(sizeRange.min * (sizeRange.max / sizeRange.min) ** rand()));
}

/** `count` file numbers drawn with Zipf(s) popularity over `files` (file 0 the most popular). */
export function zipfRequests(files: number, count: number, seed: number, s = zipfExponent): number[] {
  const cdf: number[] = [];
  let sum = 0;
  for (let k = 1; k <= files; k++) cdf.push((sum += 1 / k ** s));
  const rand = seededRandom(seed);
  return Array.from({ length: count }, () => {
    const u = rand() * sum;
    let lo = 0;
    let hi = files - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((cdf[mid] as number) < u) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  });
}

/**
 * The origin: a Node HTTP server on port 80 of O serving /f/<i> (file i, its bytes all i mod 256)
 * with a day-old Last-Modified and an hour of max-age, so that squid may keep it; /stats says what it
 * served; /probe answers without counting. argv: address, sizes file.
 */
const originScript = `
const http = require('node:http');
const sizes = JSON.parse(require('node:fs').readFileSync(process.argv[2], 'utf8'));
const stats = { requests: 0, bodyBytes: 0 };
const modified = new Date(Date.now() - 86400000).toUTCString();
http.createServer((req, res) => {
  if (req.url === '/stats') return res.end(JSON.stringify(stats));
  if (req.url === '/probe') return res.end('ok');
  const m = /^\\/f\\/(\\d+)$/.exec(req.url || '');
  const i = m ? Number(m[1]) : -1;
  if (!(i >= 0 && i < sizes.length)) { res.statusCode = 404; return res.end(); }
  stats.requests++;
  stats.bodyBytes += sizes[i];
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': sizes[i], 'last-modified': modified, 'cache-control': 'max-age=3600' });
  res.end(Buffer.alloc(sizes[i], i % 256));
}).listen(80, process.argv[1], () => process.stdout.write('listening\\n'));
`;

/**
 * A client: fetches /f/<i> for each i of the list file, one after another over one persistent
 * HTTP/1.1 connection (as a browser or `wget` given several URLs keeps it; reopened when the
 * other end closes it), each given at most 30 s; prints what it got as JSON. argv: origin
 * address, list file. Persistent because the links now have their RTTs: a new connection per
 * request would pay the handshake and TCP's slow start again each time (about six round trips
 * of 80 ms from U1 to the origin), which measures TCP's start-up more than the cache and put
 * 1,000 requests past the run's ten-minute budget.
 */
const clientScript = `
const http = require('node:http');
const list = JSON.parse(require('node:fs').readFileSync(process.argv[2], 'utf8'));
const out = { requests: 0, bodyBytes: 0, hits: 0, errors: 0, firstError: '', seconds: 0 };
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const one = (i) => new Promise((resolve) => {
  const req = http.get({ host: process.argv[1], port: 80, path: '/f/' + i, agent }, (res) => {
    if (/HIT/.test(String(res.headers['x-cache'] || ''))) out.hits++;
    res.on('data', (d) => (out.bodyBytes += d.length));
    res.on('end', () => { if (res.statusCode !== 200) { out.errors++; out.firstError ||= 'status ' + res.statusCode + ' for /f/' + i; } resolve(); });
    res.on('error', (e) => { out.errors++; out.firstError ||= e.message; resolve(); });
  });
  req.setTimeout(30000, () => req.destroy(new Error('no answer within 30 s for /f/' + i)));
  req.on('error', (e) => { out.errors++; out.firstError ||= e.message; resolve(); });
});
(async () => {
  const t0 = process.hrtime.bigint();
  for (const i of list) { await one(i); out.requests++; }
  out.seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  agent.destroy();
  process.stdout.write(JSON.stringify(out) + '\\n');
})();
`;

interface ClientRun {
  requests: number;
  bodyBytes: number;
  hits: number;
  errors: number;
  firstError: string;
  seconds: number;
}

/** Bytes into and out of one network: its router's port towards the core. */
interface NetworkBytes {
  inBytes: number;
  outBytes: number;
}

interface Phase {
  cache: boolean;
  clients: Record<string, ClientRun>;
  /** origin, and each client ISP by its router id. */
  networks: Record<string, NetworkBytes>;
  origin: { requests: number; bodyBytes: number };
  /** The VIs' squid counters, when the cache ran. */
  caches?: Record<string, Record<string, number>>;
}

/** The device of `router`'s end of its link to `peer` in the lab's plan. */
function portTowards(session: LabSession, router: string, peer: string): string {
  const link = session.plan.links.find((l) => (l.a.pop === router && l.b.pop === peer) || (l.b.pop === router && l.a.pop === peer));
  if (!link) throw new Error(`the ${session.topology} lab has no link between ${router} and ${peer}`);
  return link.a.pop === router ? link.a.dev : link.b.dev;
}

async function portBytes(session: LabSession, router: string, dev: string): Promise<{ rx: number; tx: number }> {
  const { stdout } = await session.exec(router, ['ip', '-j', '-s', 'link', 'show', 'dev', dev], { timeoutMs: 10_000 });
  const stats = (JSON.parse(stdout) as { stats64?: { rx: { bytes: number }; tx: { bytes: number } } }[])[0]?.stats64;
  if (!stats) throw new Error(`no counters for ${dev} in router ${router}: ${stdout.slice(0, 200)}`);
  return { rx: stats.rx.bytes, tx: stats.tx.bytes };
}

/** Every network's router port towards the core, read now. */
async function networkCounters(session: LabSession): Promise<Record<string, { rx: number; tx: number }>> {
  const routers = [origin.isp, ...clients.map((c) => c.isp)];
  const read = await Promise.all(routers.map((r) => portBytes(session, r, portTowards(session, r, core))));
  return Object.fromEntries(routers.map((r, k) => [r, read[k] as { rx: number; tx: number }]));
}

async function originStats(session: LabSession, address: string): Promise<{ requests: number; bodyBytes: number }> {
  const { stdout } = await session.exec(origin.host, ['curl', '-sS', '-m', '5', `http://${address}/stats`], { timeoutMs: 10_000 });
  return JSON.parse(stdout) as { requests: number; bodyBytes: number };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * One fetch of the origin's /probe from each client until it answers 200 (at most `seconds`): the
 * path to the origin works, and with the cache, squid intercepts. The reason it failed otherwise,
 * precisely. Not a file of the experiment's, so no cache is primed with one.
 */
async function probe(session: LabSession, originAddress: string, seconds: number, through: string): Promise<void> {
  for (const c of clients) {
    const deadline = Date.now() + seconds * 1000;
    for (;;) {
      const r = await session.exec(c.host, ['curl', '-sS', '-m', '5', '-o', '/dev/null', '-D', '-', `http://${originAddress}/probe`], { timeoutMs: 10_000, allowFailure: true });
      if (r.code === 0 && /^HTTP\/1\.[01] 200/m.test(r.stdout)) break;
      const last = r.stderr.trim() || r.stdout.split('\n')[0] || `curl exit ${r.code}`;
      if (Date.now() > deadline) throw new Error(`client ${c.host} could not fetch http://${originAddress}/probe ${through} within ${seconds} s: ${last}`);
      await sleep(500);
    }
  }
}

/** A web-cache VI as its controller sees it: its state, why, and squid's counters (requests, hits, misses, hitBytes, missBytes). */
async function cacheVi(session: LabSession, cloudletId: string, viId: string): Promise<{ state: string; reason: string; counters: Record<string, number> }> {
  const client = new RpcClient(controllerApi, { url: session.controllerUrl(cloudletId), token: session.operatorToken, client: 'experiment-cache', timeoutMs: 10_000 });
  try {
    await client.connect();
    const vi = await client.call('vi.get', { viId });
    return { state: vi.state, reason: vi.reason, counters: vi.usage?.service ?? {} };
  } finally {
    client.close();
  }
}

/**
 * Every cache VI still runs: a VI that ended has its rules removed, and its ISP's requests then go
 * to the origin as if there were no cache, which would measure nothing while looking fine.
 */
async function cachesRunning(session: LabSession, vis: readonly { cloudletId: string; viId: string }[], when: string): Promise<Record<string, Record<string, number>>> {
  const seen = await Promise.all(vis.map(async (v) => [v.cloudletId, await cacheVi(session, v.cloudletId, v.viId)] as const));
  const ended = seen.filter(([, vi]) => vi.state !== 'running');
  if (ended.length) throw new Error(`${when}: ${ended.map(([c, vi]) => `the web-cache VI at ${c} is ${vi.state} (${vi.reason})`).join('; ')}`);
  return Object.fromEntries(seen.map(([c, vi]) => [c, vi.counters]));
}

async function runPhase(ctx: ExperimentContext, session: LabSession, originAddress: string, lists: Map<string, string>, withCache: boolean, timeoutMs: number): Promise<Omit<Phase, 'caches'>> {
  const before = await networkCounters(session);
  const originBefore = await originStats(session, originAddress);
  const runs = await Promise.all(clients.map(async (c) => {
    const r = await session.exec(c.host, [process.execPath, '-e', clientScript, originAddress, lists.get(c.host) as string], { timeoutMs });
    const run = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as ClientRun;
    if (run.errors > 0) throw new Error(`client ${c.host}, ${withCache ? 'with' : 'without'} the cache: ${run.errors} of ${run.requests} requests failed, the first: ${run.firstError}`);
    return [c.host, run] as const;
  }));
  const after = await networkCounters(session);
  const originAfter = await originStats(session, originAddress);
  const networks: Record<string, NetworkBytes> = {};
  for (const r of Object.keys(after)) {
    networks[r] = { inBytes: (after[r]?.rx ?? 0) - (before[r]?.rx ?? 0), outBytes: (after[r]?.tx ?? 0) - (before[r]?.tx ?? 0) };
  }
  ctx.progress(`${withCache ? 'with' : 'without'} the cache: done`, 0, 1);
  return {
    cache: withCache,
    clients: Object.fromEntries(runs),
    networks,
    origin: { requests: originAfter.requests - originBefore.requests, bodyBytes: originAfter.bodyBytes - originBefore.bodyBytes },
  };
}

function needs(host: HostFacts): string | null {
  const missing = [
    ...(host.root ? [] : ["root: the lab's origin, client hosts and access routers are network namespaces and Open vSwitch routers"]),
    ...missingServices(['web-cache'], host),
  ];
  if (!missing.length) {
    const mode = chooseLabMode('auto');
    if (mode.kind !== 'namespaces') missing.push(`the lab's origin, client hosts and access routers in namespaces (${mode.reason})`);
  }
  return missing.length ? missing.join(', and ') : null;
}

export const cache: Experiment = {
  name: 'cache',
  title: 'Web cache at the access routers: origin and ISP bytes and download time, Zipf(2) requests',
  paper: 'Table 4: origin out 348.8 MB without the cache, 96.2 MB with; download 1,888 vs 885 s and 1,105 vs 410 s.',
  needs,
  estimateSeconds: { quick: 110, full: 200 },
  async run(ctx) {
    const scale = cacheScale(ctx.quick);
    const sizes = fileSizes(scale.files);
    const sizesFile = join(ctx.tmpDir, 'sizes.json');
    writeFileSync(sizesFile, JSON.stringify(sizes));
    const lists = new Map<string, string>();
    const requested = new Map<string, number[]>();
    for (const c of clients) {
      const list = zipfRequests(scale.files, scale.requestsPerClient, c.seed);
      requested.set(c.host, list);
      const file = join(ctx.tmpDir, `requests-${c.host}.json`);
      writeFileSync(file, JSON.stringify(list));
      lists.set(c.host, file);
    }
    const steps = 6;
    ctx.progress(`starting the ${topology} lab (hosts, routers, scheduler, controllers)`, 0, steps);
    const { startLabSession } = await import('../labSession.ts');
    const session = await startLabSession({ topology, dataDir: join(ctx.tmpDir, 'lab'), onStep: (s) => ctx.progress(`lab: ${s}`, 0, steps) });
    ctx.cleanup(`the ${topology} lab`, () => session.stop());
    const originAddress = session.addressOf(origin.host);
    const originPrefix = session.subnetOf(origin.host);

    ctx.progress(`origin: ${scale.files} files on ${origin.host} (${originAddress})`, 1, steps);
    const server = session.spawn(origin.host, [process.execPath, '-e', originScript, originAddress, sizesFile]);
    await new Promise<void>((resolve, reject) => {
      let out = '';
      let err = '';
      const timer = setTimeout(() => reject(new Error(`the origin server on ${origin.host} did not listen within 15 s: ${err.trim()}`)), 15_000);
      server.stderr?.on('data', (d: Buffer) => (err += d.toString()));
      server.stdout?.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('listening')) {
          clearTimeout(timer);
          resolve();
        }
      });
      server.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`the origin server on ${origin.host} exited (${code}): ${err.trim()}`));
      });
    });
    // Bounded per phase: every request at most 30 s is far beyond a run's budget, so the whole phase gets one.
    const phaseTimeoutMs = (ctx.quick ? 90 : 360) * 1000;
    await probe(session, originAddress, 10, 'through the lab without a cache');
    // The round trips a cache hit saves, as the lab's delay lines emulate them.
    const originRtts = new Map(await Promise.all(clients.map(async (c) => [c.host, await session.ping(c.host, origin.host, 5)] as const)));

    ctx.progress(`without the cache: ${scale.requestsPerClient} requests from each of ${clients.map((c) => c.host).join(' and ')}`, 2, steps);
    const without: Phase = await runPhase(ctx, session, originAddress, lists, false, phaseTimeoutMs);

    ctx.progress('reserving web-cache at C1 and C2 through the scheduler', 3, steps);
    // Both at once (each waits until its VI serves); settled both, so that one reserved is ended even when the other failed.
    const reserved = await Promise.allSettled(clients.map(async (c) => {
      // squid fetches from an address of its own: one in its client's subnet, so that the lab's routers
      // already route the origin's answers towards that ISP, where the VI's second rule takes them.
      const cacheAddress = session.addressOf(c.host).replace(/\.\d+$/, '.100');
      const vi = await session.reserveVi({
        cloudletId: c.cloudletId,
        program: 'web-cache',
        args: { 'cache-mib': ctx.quick ? '64' : '256', address: cacheAddress },
        capacity: { cpu: 1, memMiB: ctx.quick ? 256 : 512, diskGiB: 1, netMbps: 500 },
        rules: [
          { priority: 100, match: { ethType: 0x0800, ipProto: 6, dstPrefix: originPrefix, dstPorts: { from: 80, to: 80 } }, action: 'to_vi' },
          { priority: 100, match: { ethType: 0x0800, dstPrefix: `${cacheAddress}/32` }, action: 'to_vi' },
        ],
        name: `experiment-cache-${c.cloudletId}-${Date.now()}`,
      });
      ctx.cleanup(`the web-cache VI at ${c.cloudletId}`, () => session.endVi(vi.reservationId));
      return { cloudletId: c.cloudletId, ...vi };
    }));
    const failed = reserved.flatMap((r) => (r.status === 'rejected' ? [(r.reason as Error).message] : []));
    if (failed.length) throw new Error(`web-cache could not be reserved through the scheduler: ${failed.join('; ')}`);
    const vis = reserved.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    await probe(session, originAddress, 30, 'through web-cache (reserved at C1 and C2, rule TCP 80 towards the origin)');
    await cachesRunning(session, vis, 'after the first fetch through the caches');

    ctx.progress('with the cache: the same requests again', 4, steps);
    const withCache: Phase = await runPhase(ctx, session, originAddress, lists, true, phaseTimeoutMs);
    withCache.caches = await cachesRunning(session, vis, 'after the requests through the caches');
    ctx.progress('results', 5, steps);
    return result(ctx, session.plan.tag, scale, sizes, requested, originRtts, without, withCache);
  },
};

function result(ctx: ExperimentContext, labTag: string, scale: CacheScale, sizes: number[], requested: Map<string, number[]>, originRtts: Map<string, LabPingRtt>, without: Phase, withCache: Phase): ExperimentResult {
  const mb = (b: number): number => b / MB;
  const totalSize = sizes.reduce((s, b) => s + b, 0);
  const distinct = (host: string): number => new Set(requested.get(host)).size;
  const phases = [without, withCache];
  const label = (p: Phase): string => (p.cache ? 'with the cache' : 'without the cache');
  const networkNames: [string, string][] = [[origin.isp, "origin's network"], ...clients.map((c) => [c.isp, `ISP ${c.isp.slice(1)} (${c.host})`] as [string, string])];
  const table: ExperimentResult['table'] = [
    ...phases.map((p) => ({ quantity: `origin network out, ${label(p)}`, unit: 'MB', ours: mb(p.networks[origin.isp]?.outBytes ?? 0), paper: p.cache ? paper.originOutMB.with : paper.originOutMB.without })),
    ...phases.flatMap((p) => networkNames.flatMap(([id, name]) => [
      ...(id === origin.isp ? [] : [{ quantity: `${name} in, ${label(p)}`, unit: 'MB', ours: mb(p.networks[id]?.inBytes ?? 0), paper: null }]),
      { quantity: `${name} ${id === origin.isp ? 'in' : 'out'}, ${label(p)}`, unit: 'MB', ours: mb((id === origin.isp ? p.networks[id]?.inBytes : p.networks[id]?.outBytes) ?? 0), paper: null },
    ])),
    ...clients.flatMap((c) => phases.map((p) => ({ quantity: `download time ${c.host}, ${label(p)}`, unit: 's', ours: p.clients[c.host]?.seconds ?? null, paper: paper.downloadS[c.host][p.cache ? 'with' : 'without'] }))),
    ...clients.map((c) => ({ quantity: `cache hits ${c.host}`, unit: 'requests', ours: withCache.clients[c.host]?.hits ?? 0, paper: null })),
  ];
  const x = { without: 0, with: 1 };
  const originOut = (p: Phase): number => mb(p.networks[origin.isp]?.outBytes ?? 0);
  const hits = clients.map((c) => withCache.clients[c.host]?.hits ?? 0);
  const requests = clients.map((c) => withCache.clients[c.host]?.requests ?? 0);
  const slower = clients.filter((c) => (withCache.clients[c.host]?.seconds ?? 0) >= (without.clients[c.host]?.seconds ?? Infinity)).map((c) => c.host);
  return {
    figures: [
      {
        id: 'cache-origin-bytes',
        chart: {
          title: 'Bytes out of the origin\'s network (Table 4)', xLabel: 'web cache at the access routers (0 without, 1 with)', xUnit: 'off/on', xTicks: [0, 1], yLabel: 'origin network out', yUnit: 'MB',
          series: [
            { name: 'ours', source: 'ours', points: phases.map((p) => ({ x: p.cache ? x.with : x.without, y: originOut(p) })) },
            { name: 'paper', source: 'paper', points: [{ x: x.without, y: paper.originOutMB.without }, { x: x.with, y: paper.originOutMB.with }] },
          ],
        },
      },
      {
        id: 'cache-download-time',
        chart: {
          title: 'Total download time per client', xLabel: 'web cache at the access routers (0 without, 1 with)', xUnit: 'off/on', xTicks: [0, 1], yLabel: 'download time', yUnit: 's',
          series: clients.flatMap((c) => [
            { name: `ours, ${c.host}`, source: 'ours' as const, points: phases.map((p) => ({ x: p.cache ? x.with : x.without, y: p.clients[c.host]?.seconds ?? NaN })) },
            { name: `paper, client ${c.host.slice(1)}`, source: 'paper' as const, points: [{ x: x.without, y: paper.downloadS[c.host].without }, { x: x.with, y: paper.downloadS[c.host].with }] },
          ]),
        },
      },
    ],
    table,
    why: `The paper's clients fetched real web objects over the Internet's paths for tens of minutes; ours fetch ${scale.requestsPerClient} files each from one origin across a lab of namespaces and Open vSwitch routers on one machine, whose links have the topology's capacities (the origin's uplink 100 Mb/s) and RTTs (by the lab's delay lines: ${clients.map((c) => `${c.host} to the origin ${originRtts.get(c.host)?.min.toFixed(1) ?? '?'} ms`).join(', ')}) and whose clients keep one persistent connection each, so our download times are minutes, not the paper's thousands of seconds. Bytes depend on which files the Zipf(2) draw asks for and their sizes (${scale.files} files, ${mb(totalSize).toFixed(1)} MB in all), so only the ratio with/without compares: the cache sends each file across the origin's uplink once per ISP (${clients.map((c) => `${c.host} asked for ${distinct(c.host)} distinct files`).join(', ')}), every repeat is a hit at the access router, a round trip of a fraction of a millisecond instead of the WAN's.${slower.length ? ` With the cache, ${slower.join(' and ')} took longer here, where the paper's took less: every request through the cache crosses the cloudlet's userspace data plane, a tap device and squid on the same ${ctx.host.cores} cores as everything else (load average ${ctx.host.loadAverage.toFixed(1)} at the start), which here costs more than the WAN round trips a hit saves.` : ''}`,
    notes: [
      `Topology resources/labs/cache.json: origin ${origin.host} behind ${origin.isp}, core router ${core}, clients ${clients.map((c) => `${c.host} behind ${c.isp} with cloudlet ${c.cloudletId}`).join(', ')}.`,
      `${scale.files} files, sizes log-uniform from ${sizeRange.min / 1000} kB to ${sizeRange.max / 1000} kB (seeded; ${mb(totalSize).toFixed(1)} MB in all, mean ${(totalSize / scale.files / 1000).toFixed(0)} kB); each client ${scale.requestsPerClient} requests with Zipf(${zipfExponent}) popularity (its own seed, the same sequence in both runs), one after another over one persistent HTTP/1.1 connection, both clients at once.`,
      'With the cache: one web-cache VI (squid, intercepting, memory cache) reserved through the scheduler at each client ISP\'s cloudlet, its rules TCP port 80 towards the origin\'s /24 and everything to its own address (.100 in its client\'s subnet, where squid fetches from).',
      "Bytes: Ethernet frames counted by the kernel on each network's router port towards the core (in = received from the core).",
      ...phases.map((p) => `${label(p)}: the origin served ${p.origin.requests} requests, ${mb(p.origin.bodyBytes).toFixed(1)} MB of files.`),
      `Cache hits (X-Cache: HIT): ${clients.map((c, k) => `${c.host} ${hits[k]} of ${requests[k]}`).join(', ')}.`,
    ],
    data: { labTag, scale, sizeRange, zipfExponent, originRttMs: Object.fromEntries(originRtts), files: { count: sizes.length, totalBytes: totalSize }, distinctRequested: Object.fromEntries(clients.map((c) => [c.host, distinct(c.host)])), without, withCache, quick: ctx.quick },
  };
}
