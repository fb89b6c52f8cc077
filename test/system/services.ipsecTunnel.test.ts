/**
 * ipsec-tunnel between two cloudlets through their real data planes (needs
 * root): two sites, each with the Linux kernel as its front-end router and a
 * cloudlet controller of its own (test/support/tunnelLab.ts); an ipsec-tunnel
 * VI in each cloudlet. Checked: ping and a TCP transfer from A to B (and the
 * replies back) go through sealing at one cloudlet and opening at the other,
 * the bytes arrive identical; a capture on the wan between the cloudlets holds
 * only ESP and none of the plaintext; tshark given the keys (its esp_sa
 * table) decrypts it to the inner packets, and without them shows none;
 * replayed and modified ESP packets are rejected and counted by reason; the
 * keys appear in no API answer, and are gone from the VI directory and the
 * hold's record when the VI ends.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { isRoot } from '../../main/console/dataplaneLab.ts';
import { sendTcp, serviceCounters, startPairedEnd, stopEnds, TunnelLab, type Site, type SiteCloudlet } from '../support/tunnelLab.ts';

const operatorToken = 'operator-token-ipsec-tunnel-0123456789';
const SPI_AB = 0x1001;
const SPI_BA = 0x1002;
const keys = { encAB: randomBytes(32), authAB: randomBytes(32), encBA: randomBytes(32), authBA: randomBytes(32) };
const hex = (b: Buffer): string => b.toString('hex');
const viId = 'vi-tun1';

type Cloudlet = SiteCloudlet;

/** Packets of a classic pcap file (as tshark -F pcap writes it, little-endian). */
function pcapPackets(file: string): { header: Buffer; packets: Buffer[] } {
  const data = readFileSync(file);
  const packets: Buffer[] = [];
  for (let at = 24; at + 16 <= data.length; ) {
    const length = data.readUInt32LE(at + 8);
    packets.push(data.subarray(at, at + 16 + length));
    at += 16 + length;
  }
  return { header: data.subarray(0, 24), packets };
}

describe.skipIf(!isRoot())('ipsec-tunnel between two cloudlets (root)', () => {
  let lab: TunnelLab;
  let dir: string;
  const sites: Cloudlet[] = [];

  const cloudlet = (site: Site, far: Site, cloudletId: string, out: { spi: number; enc: Buffer; auth: Buffer }, inbound: { spi: number; enc: Buffer; auth: Buffer }): Promise<SiteCloudlet> =>
    startPairedEnd({
      lab,
      site,
      far,
      cloudletId,
      stateDir: join(dir, cloudletId),
      token: operatorToken,
      reservationId: 'tun1',
      program: 'ipsec-tunnel',
      protocol: 50,
      args: {
        local: site.tunnelAddress,
        remote: far.tunnelAddress,
        cipher: 'aes-256-cbc',
        'spi-out': String(out.spi),
        'key-out': hex(out.enc),
        'auth-out': hex(out.auth),
        'spi-in': String(inbound.spi),
        'key-in': hex(inbound.enc),
        'auth-in': hex(inbound.auth),
      },
    });

  beforeAll(async () => {
    lab = new TunnelLab().create();
    dir = mkdtempSync(join(tmpdir(), 'pcloud-svc13-tunnel-'));
    chmodSync(dir, 0o711);
    sites.push(await cloudlet(lab.a, lab.b, 'tunA', { spi: SPI_AB, enc: keys.encAB, auth: keys.authAB }, { spi: SPI_BA, enc: keys.encBA, auth: keys.authBA }));
    sites.push(await cloudlet(lab.b, lab.a, 'tunB', { spi: SPI_BA, enc: keys.encBA, auth: keys.authBA }, { spi: SPI_AB, enc: keys.encAB, auth: keys.authAB }));
  });

  afterAll(async () => {
    await stopEnds(sites);
    lab?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const pings = (count: number): boolean => lab.pingsAtoB(count);
  const counters = (s: Cloudlet): Promise<Record<string, number>> => serviceCounters(s, viId);

  /** A capture on the wan between the two cloudlets, as classic pcap. */
  async function capture(file: string, during: () => Promise<void>, ns = lab.a.router, iface = 'wan'): Promise<void> {
    const tshark: ChildProcess = spawn('ip', ['netns', 'exec', ns, 'tshark', '-q', '-i', iface, '-F', 'pcap', '-w', file], { stdio: ['ignore', 'ignore', 'pipe'] });
    const exited = new Promise<void>((resolve) => tshark.once('exit', () => resolve()));
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('tshark did not start capturing on the wan within 20 s')), 20_000);
        tshark.stderr?.on('data', (d: Buffer) => {
          if (d.toString().includes('Capturing on')) {
            clearTimeout(timer);
            // dumpcap says so as it opens the interface: give it a moment before the traffic.
            setTimeout(resolve, 500);
          }
        });
      });
      await during();
    } finally {
      tshark.kill('SIGINT');
      await exited;
    }
  }

  test('pings from A to B go through the tunnel both ways, and both ends count what they sealed and opened', async () => {
    // Frames wait in the rings while the services (Node processes) start.
    await expect.poll(() => pings(1), { timeout: 40_000, interval: 300 }).toBe(true);
    expect(pings(3)).toBe(true);
    for (const s of sites) {
      await expect.poll(async () => (await counters(s)).sealed ?? 0, { timeout: 10_000 }).toBeGreaterThanOrEqual(3);
      expect((await counters(s)).opened).toBeGreaterThanOrEqual(3);
    }
  });

  test('a TCP transfer arrives byte for byte; the wan carries only ESP and no plaintext; tshark decrypts it with the keys and not without', async () => {
    const marker = Buffer.from('PLAINTEXT-MARKER-svc13-tunnel-');
    const data = Buffer.concat([...Array.from({ length: 64 }, () => Buffer.concat([marker, randomBytes(16_000)]))]);
    const file = join(dir, 'wan.pcap');
    const receivedFile = join(dir, 'received.bin');
    await capture(file, async () => {
      const server = promisify(execFile)('ip', ['netns', 'exec', lab.b.host, 'timeout', '60', 'socat', '-u', 'TCP4-LISTEN:5001,reuseaddr', `CREATE:${receivedFile}`], { timeout: 70_000 });
      await expect.poll(() => lab.exec(lab.b.host, 'ss', '-tln'), { timeout: 10_000 }).toContain(':5001');
      // Not execFileSync: the controllers run in this process, and their event loops must keep running.
      await sendTcp(lab, lab.a.host, lab.b.hostAddress, 5001, data);
      await server;
      expect(pings(2)).toBe(true);
    });
    const received = readFileSync(receivedFile);
    expect(received.length).toBe(data.length);
    expect(createHash('sha256').update(received).digest('hex')).toBe(createHash('sha256').update(data).digest('hex'));

    const pcap = readFileSync(file);
    expect(pcap.includes(marker)).toBe(false);
    const protocols = execFileSync('tshark', ['-r', file, '-Y', 'ip', '-T', 'fields', '-e', 'ip.proto'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim().split('\n');
    expect(protocols.length).toBeGreaterThan(100);
    expect(new Set(protocols)).toEqual(new Set(['50']));

    const sa = (src: string, dst: string, spi: number, enc: Buffer, auth: Buffer) => `"IPv4","${src}","${dst}","0x${spi.toString(16).padStart(8, '0')}","AES-CBC [RFC3602]","0x${hex(enc)}","HMAC-SHA-256-128 [RFC4868]","0x${hex(auth)}"`;
    const tshark = (...extra: string[]) => execFileSync('tshark', ['-r', file, ...extra, '-Y', 'tcp || icmp', '-T', 'fields', '-e', 'ip.src'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    expect(tshark()).toBe('');
    const decrypted = tshark(
      '-o', 'esp.enable_encryption_decode:TRUE',
      '-o', `uat:esp_sa:${sa(lab.a.tunnelAddress, lab.b.tunnelAddress, SPI_AB, keys.encAB, keys.authAB)}`,
      '-o', `uat:esp_sa:${sa(lab.b.tunnelAddress, lab.a.tunnelAddress, SPI_BA, keys.encBA, keys.authBA)}`,
    ).split('\n');
    // Inner packets both ways: data from A, acknowledgements and echo replies from B.
    expect(decrypted.filter((l) => l.includes(lab.a.hostAddress)).length).toBeGreaterThan(50);
    expect(decrypted.filter((l) => l.includes(lab.b.hostAddress)).length).toBeGreaterThan(10);
  });

  test('replayed ESP and modified ESP are rejected and counted by reason; the tunnel keeps working', async () => {
    const file = join(dir, 'replay-source.pcap');
    await capture(file, async () => {
      expect(pings(5)).toBe(true);
    });
    const { header, packets } = pcapPackets(file);
    // ESP from A's tunnel address to B's: 14 bytes of Ethernet, then IPv4 (proto at 23, destination at 30).
    const toB = packets.filter((p) => p[16 + 23] === 50 && p.subarray(16 + 30, 16 + 34).join('.') === lab.b.tunnelAddress);
    expect(toB.length).toBeGreaterThanOrEqual(3);
    const replayed = toB.slice(0, 3);
    const modified = toB.slice(0, 2).map((p) => {
      const copy = Buffer.from(p);
      // A sequence number well above the window (so the window alone would take it) and one ciphertext byte flipped.
      copy.writeUInt32BE(0x7fff_0000 + copy.readUInt32BE(16 + 34 + 4), 16 + 34 + 4);
      copy[16 + 34 + 8 + 16 + 3] = (copy[16 + 34 + 8 + 16 + 3] ?? 0) ^ 0x40;
      return copy;
    });
    const before = await counters(sites[1] as Cloudlet);
    for (const [name, list] of [['replayed', replayed], ['modified', modified]] as const) {
      const out = join(dir, `${name}.pcap`);
      writeFileSync(out, Buffer.concat([header, ...list]));
      lab.exec(lab.a.router, 'tcpreplay', '-q', '-i', 'wan', out);
    }
    await expect.poll(async () => ((await counters(sites[1] as Cloudlet)).espReplayed ?? 0) - (before.espReplayed ?? 0), { timeout: 10_000 }).toBe(3);
    await expect.poll(async () => ((await counters(sites[1] as Cloudlet)).espAuthFailed ?? 0) - (before.espAuthFailed ?? 0), { timeout: 10_000 }).toBe(2);
    // The refused packets moved no window: new traffic is still accepted.
    expect(pings(2)).toBe(true);
  });

  test('iperf3 TCP from A to B runs through the tunnel (goodput reported, no bound asserted)', async () => {
    const server = promisify(execFile)('ip', ['netns', 'exec', lab.b.host, 'timeout', '30', 'iperf3', '-s', '-1'], { timeout: 40_000 });
    await expect.poll(() => lab.exec(lab.b.host, 'ss', '-tln'), { timeout: 10_000 }).toContain(':5201');
    const { stdout } = await promisify(execFile)('ip', ['netns', 'exec', lab.a.host, 'iperf3', '-c', lab.b.hostAddress, '-t', '2', '-J'], { timeout: 30_000, maxBuffer: 16 * 2 ** 20 });
    await server;
    const received = (JSON.parse(stdout) as { end: { sum_received: { bytes: number; bits_per_second: number } } }).end.sum_received;
    expect(received.bytes).toBeGreaterThan(0);
    console.log(`ipsec-tunnel: iperf3 TCP A->B goodput ${(received.bits_per_second / 1e6).toFixed(1)} Mb/s (host MTU 1400)`);
  });

  test('the keys appear in no API answer; when the VI ends they are gone from its directory and from the hold', async () => {
    const secrets = Object.values(keys).map(hex);
    const s = sites[0] as Cloudlet;
    const answers = [await s.client.call('vi.get', { viId }), await s.client.call('vi.list', {}), await s.client.call('rule.list', {}), await s.client.call('audit.list', {})];
    for (const a of answers) for (const k of secrets) expect(JSON.stringify(a)).not.toContain(k);
    const vi = await s.client.call('vi.terminate', { viId, reason: 'end of the tunnel test' });
    expect(vi.state).toBe('terminated');
    expect(readdirSync(join(dir, 'tunA', 'vis', viId))).not.toContain('secret-args.json');
    const hold = s.daemon.store.hold('tun1');
    expect(hold?.state).toBe('ended');
    for (const k of secrets) expect(JSON.stringify(hold)).not.toContain(k);
    expect(hold?.service.args['key-out']).toBe('(redacted)');
  });
});
