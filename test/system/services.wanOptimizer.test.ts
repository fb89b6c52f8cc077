/**
 * wan-optimizer between two cloudlets through their real data planes (needs
 * root; the two-site lab of test/support/tunnelLab.ts): a transfer of
 * repetitive data from A to B crosses the wan compressed (what the
 * compressing end sent is well under what it got, and the wan capture is
 * smaller than the data) and arrives identical; pings pass both ways.
 */
import { execFile, execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { isRoot } from '../../main/console/dataplaneLab.ts';
import { IPPROTO_WAN_OPTIMIZER } from '../../main/services/wan-optimizer.ts';
import { sendTcp, serviceCounters, startPairedEnd, stopEnds, TunnelLab, type SiteCloudlet } from '../support/tunnelLab.ts';

const operatorToken = 'operator-token-wan-optimizer-0123456789';
const viId = 'vi-wan1';

describe.skipIf(!isRoot())('wan-optimizer between two cloudlets (root)', () => {
  let lab: TunnelLab;
  let dir: string;
  const ends: SiteCloudlet[] = [];

  beforeAll(async () => {
    lab = new TunnelLab().create();
    dir = mkdtempSync(join(tmpdir(), 'pcloud-svc13-wan-'));
    chmodSync(dir, 0o711);
    for (const [site, far, cloudletId] of [[lab.a, lab.b, 'wanA'], [lab.b, lab.a, 'wanB']] as const) {
      ends.push(await startPairedEnd({ lab, site, far, cloudletId, stateDir: join(dir, cloudletId), token: operatorToken, reservationId: 'wan1', program: 'wan-optimizer', protocol: IPPROTO_WAN_OPTIMIZER, args: { local: site.tunnelAddress, remote: far.tunnelAddress } }));
    }
  });

  afterAll(async () => {
    await stopEnds(ends);
    lab?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const pings = (count: number): boolean => lab.pingsAtoB(count);
  const counters = (e: SiteCloudlet): Promise<Record<string, number>> => serviceCounters(e, viId);

  test('pings pass through both ends both ways', async () => {
    await expect.poll(() => pings(1), { timeout: 40_000, interval: 300 }).toBe(true);
    expect(pings(3)).toBe(true);
  });

  test('a transfer of repetitive data crosses the wan compressed and arrives identical', async () => {
    const line = 'GET /catalogue/item?id=0000 HTTP/1.1\r\nHost: shop.example\r\nAccept: text/html\r\n\r\n';
    const data = Buffer.from(Array.from({ length: 6000 }, (_, i) => line.replace('0000', String(i % 10_000).padStart(4, '0'))).join(''));
    const received = join(dir, 'received.bin');
    const wan = join(dir, 'wan.pcap');
    const tshark = spawn('ip', ['netns', 'exec', lab.a.router, 'tshark', '-q', '-i', 'wan', '-f', `ip proto ${IPPROTO_WAN_OPTIMIZER}`, '-F', 'pcap', '-w', wan], { stdio: ['ignore', 'ignore', 'pipe'] });
    const captured = new Promise<void>((resolve) => tshark.once('exit', () => resolve()));
    try {
      await new Promise<void>((resolve) => tshark.stderr.on('data', (d: Buffer) => d.toString().includes('Capturing on') && setTimeout(resolve, 500)));
      const server = promisify(execFile)('ip', ['netns', 'exec', lab.b.host, 'timeout', '60', 'socat', '-u', 'TCP4-LISTEN:5002,reuseaddr', `CREATE:${received}`], { timeout: 70_000 });
      await expect.poll(() => lab.exec(lab.b.host, 'ss', '-tln'), { timeout: 10_000 }).toContain(':5002');
      await sendTcp(lab, lab.a.host, lab.b.hostAddress, 5002, data);
      await server;
      // dumpcap writes in blocks: let the capture reach the file before stopping it.
      await expect.poll(() => statSync(wan, { throwIfNoEntry: false })?.size ?? 0, { timeout: 5000 }).toBeGreaterThan(1000).catch(() => undefined);
    } finally {
      tshark.kill('SIGINT');
      await captured;
    }
    const got = readFileSync(received);
    expect(got.length).toBe(data.length);
    expect(createHash('sha256').update(got).digest('hex')).toBe(createHash('sha256').update(data).digest('hex'));
    // A service writes its counters every so often, not per packet: wait for the transfer's.
    await expect.poll(async () => (await counters(ends[0] as SiteCloudlet)).bytesIn ?? 0, { timeout: 10_000 }).toBeGreaterThan(data.length);
    const sent = await counters(ends[0] as SiteCloudlet);
    expect(sent.ratio).toBeLessThan(0.5);
    await expect.poll(async () => (await counters(ends[1] as SiteCloudlet)).restoredBytes ?? 0, { timeout: 10_000 }).toBeGreaterThan(data.length);
    // Everything that crossed, headers and all, is smaller than the data alone (and did cross: a
    // capture of the optimizer's protocol with packets in it, not an empty file).
    const crossed = execFileSync('tshark', ['-r', wan, '-T', 'fields', '-e', 'frame.len'], { encoding: 'utf8' }).split('\n').filter(Boolean).map(Number);
    expect(crossed.length).toBeGreaterThan(10);
    expect(crossed.reduce((a, b) => a + b, 0)).toBeLessThan(data.length);
    console.log(`wan-optimizer: ${data.length} bytes of data, ${sent.bytesIn} bytes of packets in, ${sent.bytesOut} out (ratio ${sent.ratio}); wan capture ${statSync(wan).size} bytes`);
  });
});
