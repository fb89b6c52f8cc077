// Lab link benchmark, as root: what the lab's delay line (pcloud-delayline,
// issue 14) costs and does, against a plain veth link, in the same run
// (test/support/linkPairLab.ts builds both). Rows:
//   veth:            host a and host b joined by one veth pair;
//   delayline 0 ms:  through the wire namespace and the delay line with no
//                    delay: the relay's own cost (two more veth hops and a
//                    userspace copy each way);
//   delayline 0.4 ms and 20 ms: a DeterLab R1-R2 link and a regional WAN link.
// For each: ping RTT (min and average of 50 echo requests at 20 ms intervals)
// and TCP goodput (iperf3, 3 s, one stream), with the delay line's drop
// counters. No capacity shaping here (the lab adds HTB before the delay line):
// the goodput is what the relay itself can carry on this shared 2-vCPU
// machine, so compare rows of one run, never absolute figures.
// Prints a table and writes bench/results/labLink.json.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { delayLineLink, readDelayLineStats, startDelayLine, stopDelayLine, type DelayLineSpec } from '../main/console/labDelayLine.ts';
import { findTool } from '../main/console/labNetwork.ts';
import { LINK_PAIR_ADDRESS, LinkPairLab } from '../test/support/linkPairLab.ts';

const PINGS = 50;
const IPERF_SECONDS = 3;
const here = fileURLToPath(new URL('.', import.meta.url));

interface Row {
  link: string;
  rttMs: number | null;
  pingMinMs: number;
  pingAvgMs: number;
  goodputMbps: number;
  retransmits: number;
  delayLineDrops: { loss: number; queue: number; send: number; socket: number } | null;
}

async function goodput(lab: LinkPairLab): Promise<{ mbps: number; retransmits: number }> {
  const server = spawn('ip', ['netns', 'exec', lab.ns.b, 'iperf3', '--server', '--one-off', '--bind', LINK_PAIR_ADDRESS.b], { stdio: 'ignore' });
  try {
    await new Promise((r) => setTimeout(r, 500));
    const out = lab.exec(lab.ns.a, 'timeout', String(IPERF_SECONDS + 20), 'iperf3', '--client', LINK_PAIR_ADDRESS.b, '--time', String(IPERF_SECONDS), '--json', '--connect-timeout', '5000');
    const result = JSON.parse(out) as { end: { sum_received: { bits_per_second: number }; sum_sent: { retransmits?: number } } };
    return { mbps: result.end.sum_received.bits_per_second / 1e6, retransmits: result.end.sum_sent.retransmits ?? 0 };
  } finally {
    server.kill('SIGKILL');
  }
}

async function measure(lab: LinkPairLab, name: string, rttMs: number | null, spec?: DelayLineSpec): Promise<Row> {
  const ping = lab.ping('a', '-c', String(PINGS), '-i', '0.02', '-W', '2');
  const tcp = await goodput(lab);
  const stats = spec ? readDelayLineStats(spec)?.links[0] : undefined;
  const sum = (k: 'lossDrops' | 'queueDrops' | 'sendErrors' | 'socketDrops'): number => (stats ? stats.aToB[k] + stats.bToA[k] : 0);
  return {
    link: name,
    rttMs,
    pingMinMs: ping.minMs,
    pingAvgMs: ping.avgMs,
    goodputMbps: tcp.mbps,
    retransmits: tcp.retransmits,
    delayLineDrops: stats ? { loss: sum('lossDrops'), queue: sum('queueDrops'), send: sum('sendErrors'), socket: sum('socketDrops') } : null,
  };
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) {
    console.error('bench:lab-link needs root (network namespaces, veth, AF_PACKET)');
    process.exit(2);
  }
  const rows: Row[] = [];
  const plain = new LinkPairLab('veth', 'blk').create();
  try {
    rows.push(await measure(plain, 'veth', null));
  } finally {
    plain.remove();
  }
  const wired = new LinkPairLab('wire', 'blk').create();
  const dir = mkdtempSync(join(tmpdir(), 'pcloud-lablink-'));
  const spec: DelayLineSpec = { ns: wired.ns.wire, stats: join(dir, 'delayline.json'), log: join(dir, 'delayline.log'), seed: 1 };
  try {
    for (const rttMs of [0, 0.4, 20]) {
      // The queue the lab would give a 1 Gb/s link of this RTT.
      await startDelayLine(spec, [delayLineLink('wa', 'wb', { rttMs, capacityMbps: 1000, lossPercent: 0 })], { ip: findTool('ip') });
      try {
        rows.push(await measure(wired, `delayline ${rttMs} ms`, rttMs, spec));
      } finally {
        await stopDelayLine(spec);
      }
    }
  } finally {
    wired.remove();
    rmSync(dir, { recursive: true, force: true });
  }

  console.log('link               RTT set   ping min   ping avg   TCP goodput   retrans   delay-line drops (loss/queue/send/socket)');
  for (const r of rows) {
    const drops = r.delayLineDrops ? `${r.delayLineDrops.loss}/${r.delayLineDrops.queue}/${r.delayLineDrops.send}/${r.delayLineDrops.socket}` : '-';
    console.log(
      `${r.link.padEnd(18)} ${(r.rttMs === null ? '-' : `${r.rttMs} ms`).padStart(7)}   ${r.pingMinMs.toFixed(3).padStart(8)}   ${r.pingAvgMs.toFixed(3).padStart(8)}   ${r.goodputMbps.toFixed(0).padStart(8)} Mb/s   ${String(r.retransmits).padStart(7)}   ${drops}`,
    );
  }
  const veth = rows[0];
  const relay = rows[1];
  if (veth && relay) console.log(`delay line at 0 ms against a plain veth: ${(relay.goodputMbps / veth.goodputMbps).toFixed(2)}x the goodput, +${(relay.pingMinMs - veth.pingMinMs).toFixed(3)} ms min RTT`);
  const out = join(here, 'results');
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'labLink.json'), `${JSON.stringify({ at: new Date().toISOString(), pings: PINGS, iperfSeconds: IPERF_SECONDS, rows }, null, 2)}\n`);
}

await main();
