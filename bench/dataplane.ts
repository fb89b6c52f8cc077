// Data-plane benchmark, as root, in network namespaces on this
// machine (main/console/dataplaneLab.ts). The front-end router's role is played
// by a native VXLAN load generator (native/dataplaneLoad.ts, a child process,
// so its CPU time is not counted as ours) in the router namespace; it sends
// h1 -> h2 frames to the cloudlet and counts what comes back. Paths:
//   kernel: the anchor, the kernel's own vxlan decapsulate + IP forward +
//           vxlan encapsulate in the cloudlet namespace;
//   legacy: our data plane sending everything back;
//   ring:   through a ring VI running forward (a worker thread);
//   tap:    through a tap VI (bump in the wire: a Linux bridge in0 -> out0),
//           blocking and busy-poll like the others.
// MLFFR: binary search on the offered rate, zero loss over 2 s, at 64, 512
// and 1500-byte frames. Per-hop delay (send until the processed packet is
// back, as the router sees it) at 100 and 1500 bytes, 2000 packets/s for
// 1 s, with our threads blocking and busy-polling. Cycles per packet: CPU
// time of this process (data-plane and VI threads) during the trial at the
// MLFFR, times the nominal clock, over the packets; none for the kernel path
// (its work is softirq time). Three repetitions, interleaved (each runs every
// path once), and the median of the three is printed: these 2-vCPU machines
// are shared, so expect noise.
// Then issue 13's services (bench/tunnelGoodput.ts, bench/serviceRows.ts): the
// ipsec tunnel end to end against the plain path and strongswan, aes-encrypt
// and the IDS. `--services` runs only those, keeping the data-plane rows of
// the last full run.
// Prints tables and writes bench/results/dataplane.json.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { DataPlane, FlowTable } from '../native/index.ts';
import type { LoadResult } from '../native/index.ts';
import { CLOUDLET, DataPlaneLab, ROUTER_VTEP, VNI, isRoot } from '../main/console/dataplaneLab.ts';
import { GENERATOR_PORT, findMlffr, frameOf, runLoad } from '../native/dataplaneMeasure.ts';
import { median } from '../main/console/experiments/sampleStatistics.ts';
import { measureAesEncrypt, measureIds, type ServiceRow } from './serviceRows.ts';
import { measureTunnelGoodput, type TunnelRow } from './tunnelGoodput.ts';

const SIZES = [64, 512, 1500];
const DELAY_SIZES = [100, 1500];
const TRIAL_SECONDS = 2;
const PAPER_DELAY_US: Record<number, number> = { 100: 1430, 1500: 6370 };

type Path = 'kernel' | 'legacy' | 'ring' | 'tap';
type Mode = 'blocking' | 'busy-poll';

interface Row {
  path: Path;
  bytes: number;
  mode: Mode;
  mlffrMpps: number | null;
  mlffrGbps: number | null;
  ratioToKernel: number | null;
  delayP50Us: number | null;
  delayP99Us: number | null;
  cyclesPerPacket: number | null;
}

const here = fileURLToPath(new URL('.', import.meta.url));
const cpuHz = (() => {
  const m = /cpu MHz\s*:\s*([\d.]+)/.exec(readFileSync('/proc/cpuinfo', 'utf8'));
  return m ? Number(m[1]) * 1e6 : 2.5e9;
})();

const load = (lab: DataPlaneLab, frame: Uint8Array, pps: number, seconds: number): Promise<LoadResult> => runLoad(lab, frame, pps, seconds);

async function mlffr(lab: DataPlaneLab, bytes: number, measureCpu: boolean): Promise<{ pps: number; cycles: number | null }> {
  const frame = frameOf(lab, bytes);
  const { pps, best } = await findMlffr(async (rate) => {
    const cpu = process.cpuUsage();
    const r = await load(lab, frame, rate, TRIAL_SECONDS);
    const used = process.cpuUsage(cpu);
    return { ...r, cycles: measureCpu && r.sent > 0 ? (((used.user + used.system) / 1e6) * cpuHz) / r.sent : null };
  });
  return { pps, cycles: best?.cycles ?? null };
}

/** The anchor: the kernel decapsulates, forwards and encapsulates in the cloudlet namespace. */
function kernelHairpin(lab: DataPlaneLab): () => void {
  const c = (...a: string[]) => lab.exec(lab.ns.c, ...a);
  c('ip', 'link', 'add', 'kx0', 'type', 'vxlan', 'id', String(VNI), 'remote', ROUTER_VTEP, 'local', CLOUDLET, 'dstport', '4789', 'dev', 'uplink', 'nolearning');
  c('ip', 'link', 'add', 'kx1', 'type', 'vxlan', 'id', String(VNI), 'remote', ROUTER_VTEP, 'local', CLOUDLET, 'dstport', String(GENERATOR_PORT), 'dev', 'uplink', 'nolearning');
  c('ip', 'link', 'set', 'kx0', 'address', lab.routerMac); // the MAC the frames are addressed to
  c('ip', 'addr', 'add', '198.18.60.1/24', 'dev', 'kx1');
  for (const d of ['kx0', 'kx1']) c('ip', 'link', 'set', d, 'up');
  c('ip', 'neigh', 'add', '198.18.60.2', 'lladdr', '02:00:00:00:00:02', 'dev', 'kx1', 'nud', 'permanent');
  c('ip', 'rule', 'add', 'iif', 'kx0', 'lookup', '100');
  c('ip', 'route', 'add', 'default', 'via', '198.18.60.2', 'dev', 'kx1', 'table', '100');
  for (const s of ['net.ipv4.ip_forward=1', 'net.ipv4.conf.all.rp_filter=0', 'net.ipv4.conf.kx0.rp_filter=0', 'net.ipv4.conf.all.send_redirects=0']) c('sysctl', '-qw', s);
  return () => {
    c('ip', 'rule', 'del', 'iif', 'kx0', 'lookup', '100');
    for (const d of ['kx0', 'kx1']) c('ip', 'link', 'del', d);
  };
}

const REPETITIONS = 3;
/** A row's median, null (printed '-', JSON null) where a path produced no measurement. */
const medianOrNull = (values: readonly number[]): number | null => (values.length ? median(values) : null);


/** The data plane's own paths (kernel, legacy, ring, tap): prints their table and returns their rows. */
async function measureDataPlane(): Promise<Row[]> {
  const lab = new DataPlaneLab().create();
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      lab.close();
      process.exit(130);
    });
  }
  const dir = mkdtempSync(join(tmpdir(), 'dp-bench-'));
  const rows: Row[] = [];
  // Every repetition's result, by path and size (MLFFR) or path, mode and size (delay).
  const found: Partial<Record<Path, Record<number, { pps: number; cycles: number | null }[]>>> = {};
  const delays: Partial<Record<string, LoadResult[]>> = {};
  const measure = async (path: Path, mode: Mode, withMlffr: boolean) => {
    if (withMlffr) {
      const byPath = (found[path] ??= {});
      for (const b of SIZES) (byPath[b] ??= []).push(await mlffr(lab, b, path !== 'kernel'));
    }
    for (const b of DELAY_SIZES) (delays[`${path}/${mode}/${b}`] ??= []).push(await load(lab, frameOf(lab, b), 2000, 1));
  };
  try {
    // Interleaved: each repetition runs every path once, so drift in the machine's load spreads over all of them.
    for (let rep = 1; rep <= REPETITIONS; rep++) {
      const undo = kernelHairpin(lab);
      await measure('kernel', 'blocking', true);
      undo();
      for (const mode of ['blocking', 'busy-poll'] as const) {
        const table = new FlowTable();
        const plane = new DataPlane({ table, netns: lab.nsPath(lab.ns.c), bind: CLOUDLET, port: 4789, routerPort: GENERATOR_PORT,
          routers: [ROUTER_VTEP], vnis: [VNI], busyPoll: mode === 'busy-poll' });
        try {
          await measure('legacy', mode, mode === 'blocking');
          const socketPath = join(dir, `vi-${rep}-${mode}.sock`);
          plane.addRingPort(1, { socketPath });
          const stop = new Int32Array(new SharedArrayBuffer(4));
          const worker = new Worker(new URL('../native/test/dataplaneViWorker.ts', import.meta.url), { workerData: { socketPath, mode: 'forward', stop } });
          await new Promise((r) => worker.once('message', r));
          let ids = table.add([{ priority: 1, match: {}, action: 'to_vi', viId: 1 }]);
          await measure('ring', mode, mode === 'blocking');
          table.remove(ids);
          Atomics.store(stop, 0, 1);
          await new Promise((r) => worker.once('message', r));
          await worker.terminate();
          plane.closePort(1);
          const vi = lab.addNamespace(`v${rep}${mode === 'blocking' ? 'b' : 'p'}`);
          plane.addTapPort(2, { layout: 'bump', netns: lab.nsPath(vi) });
          lab.bridgeVi(vi, 'in0', 'out0');
          ids = table.add([{ priority: 1, match: {}, action: 'to_vi', viId: 2 }]);
          await measure('tap', mode, mode === 'blocking');
          table.remove(ids);
          plane.closePort(2);
        } finally {
          plane.close();
        }
      }
      console.error(`repetition ${rep} of ${REPETITIONS} done`);
    }
  } finally {
    lab.close();
    rmSync(dir, { recursive: true, force: true });
  }

  const kernelPps = (b: number) => medianOrNull((found.kernel?.[b] ?? []).map((m) => m.pps)) ?? 0;
  for (const path of ['kernel', 'legacy', 'ring', 'tap'] as const) {
    for (const b of SIZES) {
      const runs = found[path]?.[b] ?? [];
      const pps = medianOrNull(runs.map((m) => m.pps));
      const cycles = medianOrNull(runs.flatMap((m) => (m.cycles === null ? [] : [m.cycles])));
      const k = kernelPps(b);
      rows.push({ path, bytes: b, mode: 'blocking', mlffrMpps: pps === null ? null : pps / 1e6, mlffrGbps: pps === null ? null : (pps * b * 8) / 1e9,
        ratioToKernel: pps !== null && k > 0 ? pps / k : null, delayP50Us: null, delayP99Us: null, cyclesPerPacket: cycles });
    }
    for (const mode of ['blocking', 'busy-poll'] as const) {
      for (const b of DELAY_SIZES) {
        const d = delays[`${path}/${mode}/${b}`] ?? [];
        if (d.length) rows.push({ path, bytes: b, mode, mlffrMpps: null, mlffrGbps: null, ratioToKernel: null, delayP50Us: medianOrNull(d.map((x) => x.p50Us)), delayP99Us: medianOrNull(d.map((x) => x.p99Us)), cyclesPerPacket: null });
      }
    }
  }
  const f = (v: number | null | undefined, digits = 3) => (v === null || v === undefined || Number.isNaN(v) ? '-' : v.toFixed(digits));
  console.log('path    bytes mode       MLFFR Mpps   Gb/s  x kernel    p50 us    p99 us  cycles/pkt  (paper delay)');
  for (const r of rows) {
    const paper = r.delayP50Us !== null ? ` ${PAPER_DELAY_US[r.bytes] ?? '-'} us` : '';
    console.log(`${r.path.padEnd(7)} ${String(r.bytes).padStart(5)} ${r.mode.padEnd(10)} ${f(r.mlffrMpps, 4).padStart(10)} ${f(r.mlffrGbps).padStart(6)} ${f(r.ratioToKernel, 2).padStart(9)} ${f(r.delayP50Us, 1).padStart(9)} ${f(r.delayP99Us, 1).padStart(9)} ${f(r.cyclesPerPacket, 0).padStart(11)}${paper}`);
  }
  console.log(`Medians of ${REPETITIONS} interleaved repetitions per path, on a shared 2-vCPU machine (load average ${loadAverage()} at the end).`);
  return rows;
}

const loadAverage = (): string => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
const TUNNEL_REPETITIONS = 3;

/** Issue 13's services: the tunnel end to end, aes-encrypt and the IDS; prints their table beside the paper's numbers. */
async function measureServices(): Promise<(TunnelRow | ServiceRow)[]> {
  const progress = (line: string) => console.error(line);
  const tunnel = await measureTunnelGoodput(TUNNEL_REPETITIONS, progress);
  const aes = await measureAesEncrypt(progress);
  const ids = await measureIds(progress);
  const f = (v: number | null | undefined, digits = 1) => (v === null || v === undefined || Number.isNaN(v) ? '-' : v.toFixed(digits));
  const goodput = (p: TunnelRow['path']) => tunnel.find((t) => t.path === p)?.goodputMbps ?? NaN;
  const plain = goodput('plain');
  const paperTunnel: Record<TunnelRow['path'], string> = { 'ipsec-tunnel': '891 Mb/s (94.6% of plain)', plain: '942 Mb/s', 'strongswan-libipsec': '-' };
  console.log('\ntunnel, iperf3 TCP A->B    MTU  goodput Mb/s  x plain  x strongswan  (paper)');
  for (const t of tunnel) {
    console.log(`${t.path.padEnd(26)} ${String(t.mtu).padStart(4)} ${f(t.goodputMbps, 0).padStart(13)} ${f(t.goodputMbps / plain, 3).padStart(8)} ${f(t.goodputMbps / goodput('strongswan-libipsec'), 2).padStart(12)}  ${paperTunnel[t.path]}`);
  }
  console.log(`Goals: ipsec-tunnel at least 3x strongswan-libipsec and at least 95% of plain. Medians of ${TUNNEL_REPETITIONS} interleaved repetitions, ${tunnel.length} paths, 5 s each.`);
  console.log('\nservice      through           bytes  MLFFR kpps   Gb/s   p50 us   p99 us  (paper)');
  for (const r of [...aes, ...ids]) {
    const paper = r.path === 'aes-encrypt' ? (r.mlffrMpps !== null ? (r.bytes === 1500 ? '~1 Gb/s per node' : '-') : (PAPER_DELAY_US[r.bytes] ? `${PAPER_DELAY_US[r.bytes]} us` : '-')) : '-';
    console.log(`${r.path.padEnd(12)} ${(r.through ?? 'ring port').padEnd(16)} ${String(r.bytes).padStart(6)} ${f(r.mlffrMpps === null ? null : r.mlffrMpps * 1000).padStart(11)} ${f(r.mlffrGbps, 3).padStart(6)} ${f(r.delayP50Us, 0).padStart(8)} ${f(r.delayP99Us, 0).padStart(8)}  ${paper}`);
  }
  console.log(`aes-encrypt: one computation node (one data-plane thread, the service on a ring port), measured as fig5a/fig5b do; delay: one packet per second, 5 per size. ids: 2000 packets/s for the delay; "bridge-only" is the same bump tap VI with a Linux bridge in Suricata's place (the data plane's share). Load average ${loadAverage()} at the end.`);
  return [...tunnel, ...aes, ...ids];
}

async function main(): Promise<void> {
  if (!isRoot()) throw new Error('bench:dataplane needs root (network namespaces, taps)');
  // --services: only issue 13's rows, keeping the data-plane rows of the last full run.
  const servicesOnly = process.argv.includes('--services');
  const file = join(here, 'results', 'dataplane.json');
  const dataPlaneRows = servicesOnly
    ? (existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as { rows: { path: string }[] }).rows.filter((r) => ['kernel', 'legacy', 'ring', 'tap'].includes(r.path)) : [])
    : await measureDataPlane();
  const serviceRows = await measureServices();
  mkdirSync(join(here, 'results'), { recursive: true });
  writeFileSync(file, `${JSON.stringify({ rows: [...dataPlaneRows, ...serviceRows] }, null, 2)}\n`);
}

await main();
