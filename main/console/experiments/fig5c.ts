/**
 * fig5c-mtu: the paper's Fig. 5c on the lab of the DeterLab topology (hosts A
 * and B, routers R1 and R2, cloudlet C1 at R1 and C2 at R2), as root, through
 * a lab session (labSession.ts): the lab's namespaces, Open vSwitch routers,
 * scheduler and controllers, with every VI reserved through the scheduler as
 * a provider does. TCP goodput from A to B (iperf3) for host MTUs 500 to 1500,
 * and the ping RTT from A to B, in four cases:
 *   default forwarding: no VI, the routers forward by destination;
 *   IDS on C1 and C2:   an ids VI (Suricata inline, a small rule set: the
 *                       paper's lightweight IDS) at each cloudlet, each
 *                       capturing what goes to B's subnet;
 *   IPsec tunnel:       an ipsec-tunnel VI at C1 and C2, AES-128-CBC and then
 *                       AES-256-CBC (HMAC-SHA-256-128 both): C1 seals what goes
 *                       to B's subnet and opens ESP to its tunnel address, C2
 *                       the reverse. The tunnel addresses are unused addresses
 *                       of A's and B's subnets, so the routers' own
 *                       forwarding carries the ESP between the cloudlets.
 * A sealed full-sized packet is about 75 bytes longer than the host's MTU: the
 * lab's links between routers and its uplinks have that room (labNetwork.ts).
 */
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { chooseLabMode, coreLinkMtu, uplinkMtu } from '../labNetwork.ts';
import type { LabPingRtt, LabSession, LabViRequest } from '../labSession.ts';
import type { Experiment, ExperimentContext, ExperimentResult, HostFacts } from './experiment.ts';
import { missingServices } from './serviceNeeds.ts';

const PAPER_GOODPUT_MBPS = { plain: 942, ids: 941, 'ipsec-aes-128-cbc': 891, 'ipsec-aes-256-cbc': 891 } as const;
const PAPER_RTT_MS = { plain: 0.7, ids: 1.1, 'ipsec-aes-128-cbc': 1.69, 'ipsec-aes-256-cbc': 1.69 } as const;
type CaseId = keyof typeof PAPER_GOODPUT_MBPS;
const CASES: { id: CaseId; label: string }[] = [
  { id: 'plain', label: 'default forwarding' },
  { id: 'ids', label: 'IDS on C1 and C2' },
  { id: 'ipsec-aes-128-cbc', label: 'IPsec tunnel, AES-128-CBC' },
  { id: 'ipsec-aes-256-cbc', label: 'IPsec tunnel, AES-256-CBC' },
];
const IPERF_PORT = 5201;

export interface MtuPoint {
  mtu: number;
  goodputMbps: number;
  retransmits: number;
}
export interface CaseResult {
  id: CaseId;
  label: string;
  points: MtuPoint[];
  rttMs: LabPingRtt;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function needs(host: HostFacts): string | null {
  const lab = host.root ? chooseLabMode('auto') : undefined;
  const missing = [
    ...(host.root ? [] : ["root (the lab's hosts, routers and cloudlets in network namespaces)"]),
    ...(lab && lab.kind !== 'namespaces' ? [`the lab in network namespaces (${lab.reason})`] : []),
    ...missingServices(['ids', 'ipsec-tunnel'], host),
  ];
  return missing.length ? missing.join(', and ') : null;
}

/** An unused address of a host's /24 that stands for its cloudlet's tunnel end. */
const tunnelAddressBeside = (s: LabSession, host: string): string => s.addressOf(host).replace(/\.\d+$/, '.250');

/** Reserves the VIs at once (each waits for its slot and its service's start); if one fails, the others are ended. */
async function reserveAll(s: LabSession, requests: LabViRequest[]): Promise<string[]> {
  const settled = await Promise.allSettled(requests.map((r) => s.reserveVi(r)));
  const made = settled.flatMap((r) => (r.status === 'fulfilled' ? [r.value.reservationId] : []));
  const failed = settled.flatMap((r, i) => (r.status === 'rejected' ? [`${requests[i]?.program} at ${requests[i]?.cloudletId}: ${(r.reason as Error).message}`] : []));
  if (failed.length) {
    for (const id of made) await s.endVi(id);
    throw new Error(failed.join('; '));
  }
  return made;
}

/** The VIs of a case, reserved through the scheduler; returns their reservations. */
async function startCase(s: LabSession, id: CaseId, rulesDir: string): Promise<string[]> {
  const toB = { priority: 10, match: { ethType: 0x0800, dstPrefix: s.subnetOf('B') }, action: 'to_vi' as const, samplingRate: 0 };
  if (id === 'plain') return [];
  if (id === 'ids') {
    return reserveAll(s, ['C1', 'C2'].map((cloudletId) => ({ cloudletId, program: 'ids', name: `fig5c-ids-${cloudletId}-${randomBytes(3).toString('hex')}`, args: { rules: rulesDir, 'home-net': `[${s.subnetOf('B')}]` }, rules: [toB], timeoutMs: 90_000 })));
  }
  const cipher = id === 'ipsec-aes-128-cbc' ? 'aes-128-cbc' : 'aes-256-cbc';
  const keyBytes = cipher === 'aes-128-cbc' ? 16 : 32;
  const sa = (spi: number) => ({ spi: String(spi), key: randomBytes(keyBytes).toString('hex'), auth: randomBytes(32).toString('hex') });
  const ab = sa(0x5c01);
  const ba = sa(0x5c02);
  const ends = [
    { cloudletId: 'C1', local: tunnelAddressBeside(s, 'A'), remote: tunnelAddressBeside(s, 'B'), far: 'B', out: ab, inbound: ba },
    { cloudletId: 'C2', local: tunnelAddressBeside(s, 'B'), remote: tunnelAddressBeside(s, 'A'), far: 'A', out: ba, inbound: ab },
  ];
  return reserveAll(s, ends.map((e): LabViRequest => ({
    cloudletId: e.cloudletId,
    program: 'ipsec-tunnel',
    name: `fig5c-${cipher}-${e.cloudletId}-${randomBytes(3).toString('hex')}`,
    args: { local: e.local, remote: e.remote, cipher, 'spi-out': e.out.spi, 'key-out': e.out.key, 'auth-out': e.out.auth, 'spi-in': e.inbound.spi, 'key-in': e.inbound.key, 'auth-in': e.inbound.auth },
    rules: [
      { priority: 10, match: { ethType: 0x0800, dstPrefix: s.subnetOf(e.far) }, action: 'to_vi', samplingRate: 0 },
      { priority: 20, match: { ethType: 0x0800, ipProto: 50, dstPrefix: `${e.local}/32` }, action: 'to_vi', samplingRate: 0 },
    ],
  })));
}

async function setHostMtu(s: LabSession, mtu: number): Promise<void> {
  for (const host of ['A', 'B']) await s.exec(host, ['ip', 'link', 'set', 'eth0', 'mtu', String(mtu)]);
}

/** Pings A -> B until one is answered (a VI's service takes a moment to start forwarding after it serves), bounded. */
async function untilReachable(s: LabSession, what: string): Promise<void> {
  for (let i = 0; i < 60; i++) {
    const r = await s.exec('A', ['ping', '-c', '1', '-W', '1', s.addressOf('B')], { allowFailure: true });
    if (r.code === 0) return;
    await sleep(500);
  }
  throw new Error(`${what}: no ping from A reached B within 60 tries`);
}

/** iperf3 TCP from A to B for `seconds`: what B received, in Mb/s. */
async function goodput(s: LabSession, seconds: number): Promise<{ goodputMbps: number; retransmits: number }> {
  const server = s.spawn('B', ['iperf3', '-s', '-1', '-p', String(IPERF_PORT)]);
  try {
    for (let i = 0; i < 50; i++) {
      const ss = await s.exec('B', ['ss', '-tln']);
      if (ss.stdout.includes(`:${IPERF_PORT}`)) break;
      await sleep(100);
    }
    const r = await s.exec('A', ['iperf3', '-c', s.addressOf('B'), '-p', String(IPERF_PORT), '-t', String(seconds), '-J'], { timeoutMs: (seconds + 20) * 1000 });
    const report = JSON.parse(r.stdout) as { end?: { sum_received?: { bits_per_second?: number }; sum_sent?: { retransmits?: number } } };
    const bps = report.end?.sum_received?.bits_per_second;
    if (bps === undefined) throw new Error(`iperf3 from A to B reported no received sum: ${r.stdout.slice(0, 300)}`);
    return { goodputMbps: bps / 1e6, retransmits: report.end?.sum_sent?.retransmits ?? 0 };
  } finally {
    if (server.exitCode === null && server.signalCode === null) server.kill('SIGKILL');
  }
}

/** The lightweight IDS's rules: a few cheap header rules (the ids service adds its own flood thresholds). Readable by the VI's user. */
function lightweightRules(tmpDir: string): string {
  const dir = join(tmpDir, 'ids-rules');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'lightweight.rules'), [
    'alert tcp any any -> $HOME_NET 23 (msg:"PCLOUD fig5c telnet to a protected host"; flags:S; sid:1395001; rev:1;)',
    'alert tcp any any -> $HOME_NET any (msg:"PCLOUD fig5c TCP NULL scan"; flags:0; sid:1395002; rev:1;)',
    'alert icmp any any -> $HOME_NET any (msg:"PCLOUD fig5c ICMP timestamp request"; itype:13; sid:1395003; rev:1;)',
    '',
  ].join('\n'));
  chmodSync(dir, 0o755);
  chmodSync(join(dir, 'lightweight.rules'), 0o644);
  return dir;
}

export const fig5cMtu: Experiment = {
  name: 'fig5c-mtu',
  title: 'TCP goodput and RTT A to B for MTU 500 to 1500: default forwarding, the IDS on C1 and C2, the IPsec tunnel (AES-128/256-CBC)',
  paper: 'Fig. 5c: 942, 941, 891 and 891 Mb/s at MTU 1500; RTT 0.70 ms plain, 1.10 ms with the IDS, 1.69 ms with the tunnel.',
  needs,
  estimateSeconds: { quick: 120, full: 320 },
  async run(ctx: ExperimentContext): Promise<ExperimentResult> {
    const mtus = ctx.quick ? [500, 1500] : [500, 700, 900, 1100, 1300, 1500];
    const seconds = ctx.quick ? 2 : 8;
    const pings = ctx.quick ? 5 : 20;
    const total = 1 + CASES.length * (mtus.length + 2);
    let done = 0;
    const { startLabSession } = await import('../labSession.ts');
    ctx.progress('starting the deterlab lab (hosts, routers, scheduler, controllers)', done, total);
    const session = await startLabSession({ topology: 'deterlab', dataDir: join(ctx.tmpDir, 'lab'), onStep: (step) => ctx.progress(`lab: ${step}`, done, total) });
    ctx.cleanup('the deterlab lab', () => session.stop());
    const rulesDir = lightweightRules(ctx.tmpDir);
    done++;
    const results: CaseResult[] = [];
    for (const c of CASES) {
      ctx.progress(`${c.label}: reserving its VIs through the scheduler`, done, total);
      const reservations = await startCase(session, c.id, rulesDir);
      try {
        await setHostMtu(session, 1500);
        await untilReachable(session, c.label);
        done++;
        const points: MtuPoint[] = [];
        for (const mtu of mtus) {
          ctx.progress(`${c.label}: iperf3 A to B at MTU ${mtu}`, done, total);
          await setHostMtu(session, mtu);
          points.push({ mtu, ...(await goodput(session, seconds)) });
          done++;
        }
        await setHostMtu(session, 1500);
        ctx.progress(`${c.label}: ping A to B`, done, total);
        results.push({ id: c.id, label: c.label, points, rttMs: await session.ping('A', 'B', pings) });
        done++;
      } finally {
        for (const r of reservations) await session.endVi(r);
      }
    }
    const at1500 = (id: CaseId) => results.find((r) => r.id === id)?.points.find((p) => p.mtu === 1500)?.goodputMbps ?? null;
    const rtt = (id: CaseId) => results.find((r) => r.id === id)?.rttMs.avg ?? null;
    const plain = at1500('plain');
    return {
      figures: [
        {
          id: 'fig5c-mtu',
          chart: {
            title: 'TCP goodput A to B by MTU (Fig. 5c)', xLabel: 'MTU', xUnit: 'bytes', yLabel: 'TCP goodput', yUnit: 'Mb/s', xTicks: mtus,
            series: [
              ...results.map((r) => ({ name: `ours, ${r.label}`, source: 'ours' as const, points: r.points.map((p) => ({ x: p.mtu, y: p.goodputMbps })) })),
              ...CASES.map((c) => ({ name: `paper, ${c.label}`, source: 'paper' as const, points: [{ x: 1500, y: PAPER_GOODPUT_MBPS[c.id] }] })),
            ],
          },
        },
        {
          id: 'fig5c-rtt',
          chart: {
            title: 'Ping RTT A to B per case (1 default, 2 IDS, 3 AES-128 tunnel, 4 AES-256 tunnel)', xLabel: 'case', xUnit: 'number', yLabel: 'RTT', yUnit: 'ms', xTicks: CASES.map((_, i) => i + 1),
            series: [
              { name: 'ours, mean', source: 'ours', points: results.map((r) => ({ x: CASES.findIndex((c) => c.id === r.id) + 1, y: r.rttMs.avg })) },
              { name: 'paper', source: 'paper', points: CASES.map((c, i) => ({ x: i + 1, y: PAPER_RTT_MS[c.id] })) },
            ],
          },
        },
      ],
      table: [
        ...CASES.map((c) => ({ quantity: `goodput at MTU 1500, ${c.label}`, unit: 'Mb/s', ours: at1500(c.id), paper: PAPER_GOODPUT_MBPS[c.id] })),
        ...CASES.map((c) => ({ quantity: `share of default forwarding, ${c.label}`, unit: '%', ours: plain && at1500(c.id) !== null ? (100 * (at1500(c.id) ?? 0)) / plain : null, paper: (100 * PAPER_GOODPUT_MBPS[c.id]) / PAPER_GOODPUT_MBPS.plain })),
        ...CASES.map((c) => ({ quantity: `ping RTT, ${c.label}`, unit: 'ms', ours: rtt(c.id), paper: PAPER_RTT_MS[c.id] })),
      ],
      why: `The paper's hosts, routers and cloudlet nodes were separate DeterLab machines joined by 1 Gb/s Ethernet, so its goodput is the wire's; here every host, Open vSwitch router (userspace datapath: each packet is copied by a process), controller data plane and VI shares this machine's ${ctx.host.cores} cores, so the routers and the VIs' CPU time, not the links, bound our goodput, and each extra hop (a VI is two more crossings of a router and the data plane) costs throughput and RTT in scheduling rather than wire time. The share of default forwarding is the comparable number.${ctx.host.loadAverage > ctx.host.cores ? ` The load average was ${ctx.host.loadAverage.toFixed(1)} on ${ctx.host.cores} cores at the start: other work took much of the cores our path needed.` : ''}`,
      notes: [
        `Lab of the deterlab topology (${session.plan.tag}): A and B's host MTU set to ${mtus.join(', ')} bytes in turn; iperf3 TCP A to B for ${seconds} s at each; ping A to B ${pings} times at 0.2 s in each case (MTU 1500).`,
        `VIs reserved through the lab's scheduler as its provider and ended after their case: ids at C1 and C2 (Suricata inline, ${rulesDir} plus the service's flood thresholds, home net B's subnet); ipsec-tunnel at C1 and C2 (tunnel ends ${tunnelAddressBeside(session, 'A')} and ${tunnelAddressBeside(session, 'B')}).`,
        `The lab's links between routers have MTU ${coreLinkMtu} and the cloudlets' uplinks ${uplinkMtu}, so that a sealed 1500-byte packet crosses whole.`,
        ...results.map((r) => `${r.label}: ${r.points.map((p) => `MTU ${p.mtu} ${p.goodputMbps.toFixed(0)} Mb/s (${p.retransmits} retransmits)`).join(', ')}; RTT ${r.rttMs.min}/${r.rttMs.avg}/${r.rttMs.max} ms min/avg/max, ${r.rttMs.lost} lost.`),
      ],
      data: { labTag: session.plan.tag, mtus, seconds, cases: results },
    };
  },
};
