import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, test } from 'vitest';
import { packetSample, runWiresharkTool, toolAvailable } from '../../test/support/packetSamples.ts';
import { parseControllerConfig } from './config.ts';
import type { PacketSample } from './packetSample.ts';
import { PcapngWriter } from './pcapng.ts';
import { SflowExporter, UPLINK_IFINDEX, viInterfaceIndex, type SflowExporterOptions, type ViPortCounters } from './sflowExporter.ts';

const dir = mkdtempSync(join(tmpdir(), 'pcloud-sflow-'));
const haveTshark = toolAvailable('tshark');
const haveSfacctd = toolAvailable('sfacctd', '-V');
const t0 = Date.UTC(2030, 0, 1, 12);

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Waits for a condition with a generous deadline (a wait, not a timing assertion). */
async function until(what: string, ok: () => boolean, deadlineMs = 20_000): Promise<void> {
  const end = Date.now() + deadlineMs;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`gave up waiting for ${what} after ${deadlineMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A plain UDP socket on loopback that keeps every datagram it receives. */
async function udpCollector(host = '127.0.0.1'): Promise<{ port: number; datagrams: Buffer[] }> {
  const socket: Socket = createSocket(host.includes(':') ? 'udp6' : 'udp4');
  await new Promise<void>((resolve) => socket.bind(0, host, () => resolve()));
  const datagrams: Buffer[] = [];
  socket.on('message', (m) => datagrams.push(m));
  cleanups.push(() => new Promise<void>((r) => socket.close(() => r())));
  return { port: socket.address().port, datagrams };
}

async function exporter(options: Omit<SflowExporterOptions, 'agentAddress'> & { agentAddress?: string }): Promise<SflowExporter> {
  const e = await SflowExporter.start({ agentAddress: '198.18.0.1', subAgentId: 3, ...options });
  cleanups.push(() => e.close());
  return e;
}

const LINKTYPE_IPV4 = 228;

/** The datagrams as IPv4/UDP packets to `port` in a pcapng file, for tshark's sFlow dissector. */
function captureFile(name: string, datagrams: Buffer[], port: number): string {
  const w = new PcapngWriter({ application: 'sflowExporter.test' });
  const lo = w.addInterface({ name: 'lo', linktype: LINKTYPE_IPV4, snaplen: 65535 });
  datagrams.forEach((d, i) => {
    const packet = Buffer.alloc(28 + d.length);
    packet.writeUInt8(0x45, 0);
    packet.writeUInt16BE(packet.length, 2);
    packet.writeUInt8(64, 8);
    packet.writeUInt8(17, 9);
    Buffer.from([127, 0, 0, 1, 127, 0, 0, 1]).copy(packet, 12);
    packet.writeUInt16BE(50000, 20);
    packet.writeUInt16BE(port, 22);
    packet.writeUInt16BE(8 + d.length, 24);
    d.copy(packet, 28);
    w.addPacket(lo, BigInt(t0 + i) * 1_000_000n, packet, packet.length);
  });
  const file = join(dir, name);
  writeFileSync(file, w.toBuffer());
  return file;
}

type Tree = Record<string, unknown>;

/** tshark's sFlow trees, one per datagram, with raw offsets (-x) and repeated keys merged into arrays. */
function dissect(file: string, port: number): { sflow: Tree; frame: Buffer }[] {
  const { stdout } = runWiresharkTool('tshark', ['-n', '-r', file, '-d', `udp.port==${port},sflow`, '-T', 'json', '-x', '--no-duplicate-keys'], 'tshark');
  return (JSON.parse(stdout) as { _source: { layers: Tree } }[]).map((p) => ({
    sflow: p._source.layers.sflow as Tree,
    frame: Buffer.from((p._source.layers.frame_raw as string[])[0]!, 'hex'),
  }));
}

const asList = <T,>(v: T | T[] | undefined): T[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);
const prefixed = (tree: Tree, prefix: string): Tree[] => Object.keys(tree).filter((k) => k.startsWith(prefix)).flatMap((k) => asList(tree[k] as Tree | Tree[]));

interface FlowSampleSeen {
  seq: number;
  source: number;
  rate: number;
  pool: number;
  drops: number;
  input: number;
  outputFormat: number;
  output: number;
  header: string;
  frameLength: number;
  stripped: number;
  tunnelRecord: number;
  vni: number;
}

function flowSamples(d: { sflow: Tree; frame: Buffer }): FlowSampleSeen[] {
  return prefixed(d.sflow, 'Expanded flow sample').map((s) => {
    const raw = s['Raw packet header'] as Tree;
    const tunnel = s['Unknown sample format'] as Tree;
    // tshark 4.0 names the VNI records by number only: read the value where tshark found the record.
    const lengthAt = (tunnel['sflow_5.flow_data_length_raw'] as [string, number])[1];
    return {
      seq: Number(s['sflow.flow_sample.sequence_number']),
      source: Number(s['sflow.flow_sample.source_id_index']),
      rate: Number(s['sflow.flow_sample.sampling_rate']),
      pool: Number(s['sflow.flow_sample.sample_pool']),
      drops: Number(s['sflow.flow_sample.dropped_packets']),
      input: Number(s['sflow.flow_sample.input_interface_value']),
      outputFormat: Number(s['sflow.flow_sample.output_interface.format']),
      output: Number(s['sflow.flow_sample.output_interface_value']),
      header: (raw['sflow_245.header'] as string).replaceAll(':', ''),
      frameLength: Number(raw['sflow_245.header.frame_length']),
      stripped: Number(raw['sflow_245.header.payload_stripped']),
      tunnelRecord: Number(tunnel['sflow_245.flow_record_format']),
      vni: d.frame.readUInt32BE(lengthAt + 4),
    };
  });
}

describe('sFlow v5 datagrams, read by tshark', () => {
  test.skipIf(!haveTshark)('flow samples carry rate, pool, drops, ports, the captured header and the VNI record, in sequence, in datagrams of at most 1400 bytes', async () => {
    const { port, datagrams } = await udpCollector();
    const e = await exporter({ collectors: [{ host: '127.0.0.1', port }] });
    const vis = ['vi-r-12', 'vi-r-13'];
    const samples: PacketSample[] = Array.from({ length: 40 }, (_, i) =>
      packetSample(vis[i % 2]!, t0 + i, {
        direction: i % 4 < 2 ? 'to_vi' : 'from_vi',
        verdict: (['to_vi', 'to_vi', 'forward', 'spoofing', 'to_vi', 'policed', 'forward', 'forward', 'legacy', 'drop'] as const)[i % 10]!,
        vni: 1000 + i,
        wireLength: i % 3 ? 1500 : 64,
        samplingRate: 32 + i,
        samplePool: 1000 * (i + 1),
        drops: i,
      }),
    );
    e.offer(samples.slice(0, 25));
    e.offer(samples.slice(25));
    await e.flush();
    await until('40 flow samples', () => datagrams.reduce((n, d) => n + d.readUInt32BE(24), 0) >= 40);

    for (const d of datagrams) expect(d.length).toBeLessThanOrEqual(1400);
    // Batched: several samples per datagram, not one each.
    expect(datagrams.length).toBeLessThan(20);
    const dissected = dissect(captureFile('flows.pcapng', datagrams, port), port);
    expect(dissected.map((d) => [d.sflow['sflow_245.version'], d.sflow['sflow_245.agent'], d.sflow['sflow_245.sub_agent_id']])).toEqual(datagrams.map(() => ['5', '198.18.0.1', '3']));
    expect(dissected.map((d) => Number(d.sflow['sflow_245.sequence_number']))).toEqual(datagrams.map((_, i) => i + 1));

    const seen = dissected.flatMap(flowSamples);
    expect(seen).toHaveLength(40);
    const seqBySource = new Map<number, number>();
    seen.forEach((f, i) => {
      const s = samples[i]!;
      const vi = viInterfaceIndex(s.viId);
      const expectedSeq = (seqBySource.get(vi) ?? 0) + 1;
      seqBySource.set(vi, expectedSeq);
      const discard = s.verdict === 'policed' ? 261 : s.verdict === 'drop' || s.verdict === 'spoofing' ? 258 : null;
      const out = discard ?? (s.verdict === 'legacy' ? UPLINK_IFINDEX : s.direction === 'to_vi' ? vi : UPLINK_IFINDEX);
      expect(f, `sample ${i}`).toEqual({
        seq: expectedSeq,
        source: vi,
        rate: s.samplingRate,
        pool: s.samplePool,
        drops: s.drops,
        input: s.direction === 'to_vi' ? UPLINK_IFINDEX : vi,
        outputFormat: discard ? 1 : 0,
        output: out,
        header: Buffer.from(s.bytes).toString('hex'),
        frameLength: s.wireLength,
        stripped: 0,
        tunnelRecord: s.direction === 'to_vi' ? 1030 : 1029,
        vni: s.vni,
      });
    });
  });

  test.skipIf(!haveTshark)('counters samples every counterIntervalMs: generic interface counters per VI port, in = from the VI, out = to the VI', async () => {
    const { port, datagrams } = await udpCollector();
    let polls = 0;
    const counters = (): ViPortCounters[] => {
      polls += 1;
      return [
        { viId: 'vi-r-12', toVi: { packets: 100 * polls, bytes: 150_000 * polls, drops: polls }, fromVi: { packets: 90 * polls, bytes: 2 ** 33 + polls, drops: 2 * polls }, speedBps: 100e6 },
        { viId: 'vi-r-13', toVi: { packets: 1, bytes: 64, drops: 0 }, fromVi: { packets: 2, bytes: 128, drops: 0 } },
      ];
    };
    await exporter({ collectors: [{ host: '127.0.0.1', port }], agentAddress: '2001:db8::1', counterIntervalMs: 100, counters });
    await until('three counter polls', () => datagrams.length >= 3);
    const dissected = dissect(captureFile('counters.pcapng', datagrams.slice(0, 3), port), port);
    expect(dissected[0]!.sflow['sflow_245.agent.v6']).toBe('2001:db8::1');
    dissected.forEach((d, i) => {
      const poll = i + 1;
      const records = prefixed(d.sflow, 'Expanded counters sample');
      expect(records.map((r) => [Number(r['sflow.counters_sample.sequence_number']), Number(r['sflow.counters_sample.source_id_index'])])).toEqual([
        [poll, viInterfaceIndex('vi-r-12')],
        [poll, viInterfaceIndex('vi-r-13')],
      ]);
      const generic = records[0]!['Generic interface counters'] as Tree;
      expect(generic).toMatchObject({
        'sflow_245.ifindex': String(viInterfaceIndex('vi-r-12')),
        'sflow_245.ifspeed': '100000000',
        'sflow_245.ifadmin_status': '1',
        'sflow_245.ifoper_status': '1',
        'sflow_245.ifinoct': String(2 ** 33 + poll),
        'sflow_245.ifinpkt': String(90 * poll),
        'sflow_245.ifindisc': String(2 * poll),
        'sflow_245.ifoutoct': String(150_000 * poll),
        'sflow_245.ifoutpkt': String(100 * poll),
        'sflow_245.ifoutdisc': String(poll),
      });
    });
  });

  test.skipIf(!haveTshark)('a full queue drops new samples without blocking, and collectors see the loss in the drops of their data source', async () => {
    const { port, datagrams } = await udpCollector();
    const e = await exporter({ collectors: [{ host: '127.0.0.1', port }], queueSamples: 16, maxDatagramBytes: 512 });
    e.offer(Array.from({ length: 100 }, (_, i) => packetSample('vi-r-12', t0 + i, { drops: 5 })));
    // offer() returned with everything still queued: nothing was sent during the call.
    expect(e.stats()).toMatchObject({ queued: 16, queueDrops: 84, flowSamplesSent: 0 });
    await e.flush();
    expect(e.stats()).toMatchObject({ queued: 0, flowSamplesSent: 16 });
    await until('16 datagrams', () => datagrams.length >= 16);
    // 512-byte datagrams hold one 600-byte-frame sample each.
    for (const d of datagrams) expect(d.length).toBeLessThanOrEqual(512);
    const seen = dissect(captureFile('queue.pcapng', datagrams, port), port).flatMap(flowSamples);
    expect(seen.map((f) => f.drops)).toEqual(Array.from({ length: 16 }, () => 5 + 84));
    expect(seen.map((f) => f.seq)).toEqual(Array.from({ length: 16 }, (_, i) => i + 1));
  });
});

/** sfacctd (pmacct) on loopback, printing what it aggregated as JSON lines into a file. */
async function startSfacctd(): Promise<{ port: number; output: string; log: () => string }> {
  for (let attempt = 0; ; attempt += 1) {
    // A free port, released for sfacctd to bind (it cannot be told to pick one).
    const probe = createSocket('udp4');
    await new Promise<void>((r) => probe.bind(0, '127.0.0.1', () => r()));
    const port = probe.address().port;
    await new Promise<void>((r) => probe.close(() => r()));
    const output = join(dir, `sfacctd-${port}.json`);
    const config = join(dir, `sfacctd-${port}.conf`);
    writeFileSync(
      config,
      [
        'daemonize: false',
        'sfacctd_ip: 127.0.0.1',
        `sfacctd_port: ${port}`,
        'plugins: print[out]',
        'aggregate[out]: src_host, dst_host, in_iface, out_iface, sampling_rate',
        'print_output[out]: json',
        `print_output_file[out]: ${output}`,
        'print_output_file_append[out]: true',
        'print_refresh_time[out]: 1',
        '',
      ].join('\n'),
    );
    // Its own process group, so that its plugin processes end with it.
    const child: ChildProcess = spawn('sfacctd', ['-f', config], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let log = '';
    child.stdout!.on('data', (b: Buffer) => (log += b.toString()));
    child.stderr!.on('data', (b: Buffer) => (log += b.toString()));
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    cleanups.push(async () => {
      // SIGKILL to the group we created: sfacctd's core waits for its print plugin on SIGTERM or SIGINT,
      // and the test has read what it needs.
      if (child.exitCode === null && child.signalCode === null) {
        process.kill(-child.pid!, 'SIGKILL');
        await exited;
      }
    });
    child.once('error', (e) => (log += `\nspawn failed (Debian package pmacct): ${e.message}`));
    // The core says it listens before its print plugin is ready, and what it reads until then is lost:
    // the plugin's first (empty) purge says the whole pipeline runs.
    const ready = (): boolean => log.includes(`waiting for sFlow data on 127.0.0.1:${port}`) && log.includes('Purging cache - END');
    await until(`sfacctd listening on ${port}`, () => ready() || child.exitCode !== null || log.includes('spawn failed'));
    if (ready()) return { port, output, log: () => log };
    if (attempt === 2) throw new Error(`sfacctd did not start:\n${log}`);
  }
}

interface SfacctdRow {
  ip_src: string;
  ip_dst: string;
  iface_in: number;
  iface_out: number;
  sampling_rate: number;
  packets: number;
  bytes: number;
}

describe('sFlow v5 to several collectors', () => {
  test('every collector, IPv4 or IPv6, gets the same datagrams', async () => {
    const v4 = await udpCollector();
    const v6 = await udpCollector('::1');
    const e = await exporter({ collectors: [{ host: '127.0.0.1', port: v4.port }, { host: '::1', port: v6.port }] });
    e.offer(Array.from({ length: 12 }, (_, i) => packetSample('vi-r-12', t0 + i)));
    await e.flush();
    await until('both collectors to receive every datagram', () => v4.datagrams.length === e.stats().datagramsSent && v6.datagrams.length === e.stats().datagramsSent);
    expect(e.stats()).toMatchObject({ flowSamplesSent: 12, sendErrors: 0 });
    expect(v6.datagrams.map((d) => d.toString('hex'))).toEqual(v4.datagrams.map((d) => d.toString('hex')));
  });

  test('a collector that is gone is counted as send errors; the others still get everything', async () => {
    const alive = await udpCollector();
    const gone = createSocket('udp4');
    await new Promise<void>((r) => gone.bind(0, '127.0.0.1', () => r()));
    const gonePort = gone.address().port;
    await new Promise<void>((r) => gone.close(() => r()));
    const e = await exporter({ collectors: [{ host: '127.0.0.1', port: gonePort }, { host: '127.0.0.1', port: alive.port }] });
    // The kernel reports the refusal (ICMP port unreachable) on a later send: keep sending until it has.
    for (let round = 0; e.stats().sendErrors === 0; round += 1) {
      if (round === 200) throw new Error('no send error reported for a closed collector port after 200 rounds');
      e.offer([packetSample('vi-r-12', t0 + round)]);
      await e.flush();
    }
    await until('the live collector to receive every datagram', () => alive.datagrams.length === e.stats().datagramsSent);
  });
});

describe('sFlow v5 to pmacct', () => {
  test.skipIf(!haveSfacctd)('sfacctd counts every sample by host pair, with the sampling rate and the VI ports', async () => {
    const collector = await startSfacctd();
    const e = await exporter({ collectors: [{ host: '127.0.0.1', port: collector.port }] });
    // Host pair h (198.18.h.1 -> 198.19.h.2) gets h samples to vi-r-12, 64 and 1500 bytes alternating.
    const samples: PacketSample[] = [];
    for (const h of [1, 2, 3, 4]) {
      for (let k = 0; k < h; k += 1) samples.push(packetSample('vi-r-12', t0 + 250 * k + h, { wireLength: k % 2 ? 1500 : 64, samplingRate: 128 }));
    }
    e.offer(samples);
    await e.flush();
    const rows = (): SfacctdRow[] =>
      existsSync(collector.output)
        ? readFileSync(collector.output, 'utf8')
            .split('\n')
            .filter((l) => l.trim())
            .map((l) => JSON.parse(l) as SfacctdRow)
        : [];
    await until('sfacctd to print 10 packets', () => rows().reduce((n, r) => n + r.packets, 0) >= samples.length).catch((e: Error) => {
      throw new Error(`${e.message}; sfacctd said:\n${collector.log()}`);
    });
    const byPair = new Map<string, { packets: number; bytes: number }>();
    for (const r of rows()) {
      expect([r.sampling_rate, r.iface_in, r.iface_out]).toEqual([128, UPLINK_IFINDEX, viInterfaceIndex('vi-r-12')]);
      const key = `${r.ip_src}>${r.ip_dst}`;
      const sum = byPair.get(key) ?? { packets: 0, bytes: 0 };
      byPair.set(key, { packets: sum.packets + r.packets, bytes: sum.bytes + r.bytes });
    }
    const expected = new Map<string, { packets: number; bytes: number }>();
    for (const s of samples) {
      const key = `198.18.${s.at % 250}.1>198.19.${s.at % 250}.2`;
      const sum = expected.get(key) ?? { packets: 0, bytes: 0 };
      expected.set(key, { packets: sum.packets + 1, bytes: sum.bytes + s.wireLength });
    }
    expect(Object.fromEntries(byPair)).toEqual(Object.fromEntries(expected));
    expect(collector.log()).not.toMatch(/ERROR/);
  });
});

describe('sFlow config', () => {
  const base = {
    cloudletId: 'c1',
    scheduler: { url: 'ws://127.0.0.1:1', token: 'controller-token-0123456789' },
    nodes: [{ id: 'n1', capacity: { cpu: 1, memMiB: 512, diskGiB: 1, netMbps: 100 } }],
    stateDir: '/tmp/unused',
  };

  test('collectors are host:port, [IPv6]:port or name:port; intervals and sizes have sFlow defaults', () => {
    const c = parseControllerConfig({ ...base, sflow: { collectors: ['127.0.0.1:6343', '[::1]:6343', 'collector.example:9999'], agentAddress: '198.18.0.1' } });
    expect(c.sflow).toEqual({
      collectors: [
        { host: '127.0.0.1', port: 6343 },
        { host: '::1', port: 6343 },
        { host: 'collector.example', port: 9999 },
      ],
      agentAddress: '198.18.0.1',
      subAgentId: 0,
      counterIntervalMs: 30_000,
      maxDatagramBytes: 1400,
      queueSamples: 8192,
    });
    expect(parseControllerConfig(base).sflow).toBeUndefined();
  });

  test.each([
    [{ collectors: ['127.0.0.1'], agentAddress: '198.18.0.1' }, /config\.sflow\.collectors\[0\]: collector "127\.0\.0\.1" is not host:port/],
    [{ collectors: ['127.0.0.1:70000'], agentAddress: '198.18.0.1' }, /collector "127\.0\.0\.1:70000" is not host:port with a port 1-65535/],
    [{ collectors: ['[fe80::zz]:6343'], agentAddress: '198.18.0.1' }, /"fe80::zz" in brackets is not an IPv6 address/],
    [{ collectors: [], agentAddress: '198.18.0.1' }, /config\.sflow\.collectors: name at least one collector/],
    [{ collectors: ['127.0.0.1:6343'], agentAddress: 'controller' }, /config\.sflow\.agentAddress: the agent address is an IPv4 or IPv6 address/],
    [{ collectors: ['127.0.0.1:6343'], agentAddress: '198.18.0.1', maxDatagramBytes: 9000 }, /config\.sflow\.maxDatagramBytes/],
    [{ collectors: ['127.0.0.1:6343'], agentAddress: '198.18.0.1', counterIntervalMs: 10 }, /config\.sflow\.counterIntervalMs/],
  ])('%j is refused: %s', (sflow, message) => {
    expect(() => parseControllerConfig({ ...base, sflow })).toThrow(message);
  });

  test('an unresolvable collector name is refused at start, naming it', async () => {
    await expect(SflowExporter.start({ collectors: [{ host: 'no-such-collector.invalid', port: 6343 }], agentAddress: '198.18.0.1' })).rejects.toThrow(
      /sFlow collector no-such-collector\.invalid:6343: cannot resolve "no-such-collector\.invalid"/,
    );
  });
});
