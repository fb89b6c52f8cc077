import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { epochText, packetSample, runWiresharkTool, toolAvailable, udpFrame } from '../../test/support/packetSamples.ts';
import type { PacketSample } from './packetSample.ts';
import { sampleComment, samplesToPcapng } from './pcapng.ts';

const dir = mkdtempSync(join(tmpdir(), 'pcloud-pcapng-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const haveTshark = toolAvailable('tshark');
const haveCapinfos = toolAvailable('capinfos', '-v');

function write(name: string, data: Buffer): string {
  const file = join(dir, name);
  writeFileSync(file, data);
  return file;
}

/** Two VIs, both directions, two rules on one interface, every verdict, ns at both ends of their range. */
function mixedSamples(): PacketSample[] {
  const t0 = Date.UTC(2030, 0, 1, 12);
  return [
    packetSample('vi-r-12', t0, { ns: 0, wireLength: 60 }),
    packetSample('vi-r-12', t0 + 1, { ns: 999_999, direction: 'from_vi', verdict: 'forward', wireLength: 1514, samplePool: 128, drops: 1 }),
    packetSample('vi-r-13', t0 + 2, { ns: 123_456, verdict: 'legacy', vni: 7, samplingRate: 1 }),
    packetSample('vi-r-12', t0 + 3, { ns: 1, direction: 'from_vi', verdict: 'spoofing', ruleId: 'vi-r-12#1', samplePool: 50, drops: 2 }),
    packetSample('vi-r-13', t0 + 4, { ns: 500_000, verdict: 'drop', wireLength: 9000 }),
    packetSample('vi-r-13', t0 + 5, { ns: 42, direction: 'from_vi', verdict: 'policed', wireLength: 256 }),
    packetSample('vi-r-12', t0 + 6, { ns: 7, direction: 'from_vi', verdict: 'forward', wireLength: 1514, samplePool: 192, drops: 3 }),
  ];
}

interface Statistics {
  interfaceId: number;
  options: Map<number, Buffer>;
}

// An independent reader of the Interface Statistics Blocks (tshark shows only how many there are).
function statisticsBlocks(file: Buffer): Statistics[] {
  const found: Statistics[] = [];
  for (let at = 0; at < file.length; ) {
    const type = file.readUInt32LE(at);
    const length = file.readUInt32LE(at + 4);
    expect(file.readUInt32LE(at + length - 4), `trailing length of the block at ${at}`).toBe(length);
    if (type === 5) {
      const options = new Map<number, Buffer>();
      for (let o = at + 20; o < at + length - 4; ) {
        const code = file.readUInt16LE(o);
        const len = file.readUInt16LE(o + 2);
        if (code === 0) break;
        options.set(code, file.subarray(o + 4, o + 4 + len));
        o += 4 + ((len + 3) & ~3);
      }
      found.push({ interfaceId: file.readUInt32LE(at + 8), options });
    }
    at += length;
  }
  return found;
}

const timestampOf = (b: Buffer | undefined): bigint => (b ? (BigInt(b.readUInt32LE(0)) << 32n) | BigInt(b.readUInt32LE(4)) : -1n);

describe('pcapng of packet samples', () => {
  test.skipIf(!haveTshark)('tshark reads every sample back with its interface, nanosecond timestamp, lengths and comment, without a warning', () => {
    const samples = mixedSamples();
    const file = write('mixed.pcapng', samplesToPcapng(samples));
    const { stdout } = runWiresharkTool(
      'tshark',
      ['-n', '-r', file, '-T', 'fields', '-E', 'separator=|', '-e', 'frame.interface_name', '-e', 'frame.time_epoch', '-e', 'frame.len', '-e', 'frame.cap_len', '-e', 'frame.comment', '-e', 'ip.src'],
      'tshark',
    );
    const rows = stdout.trim().split('\n').map((l) => l.split('|'));
    expect(rows).toHaveLength(samples.length);
    rows.forEach((row, i) => {
      const s = samples[i]!;
      expect(row).toEqual([
        `${s.viId}/${s.direction}`,
        epochText(s),
        String(s.wireLength),
        String(Math.min(s.bytes.length, s.wireLength)),
        sampleComment(s),
        `198.18.${s.at % 250}.1`,
      ]);
    });
    expect(rows[1]![4]).toBe('VI vi-r-12, rule vi-r-12#0, verdict forward, VNI 4242, sampled 1-in-64');
  });

  test.skipIf(!haveCapinfos)('capinfos reports one Ethernet interface per VI and direction, nanosecond resolution, snaplen 256, and no error', () => {
    const file = write('capinfos.pcapng', samplesToPcapng(mixedSamples(), { vis: ['vi-r-14'], comment: 'evidence test' }));
    const { stdout } = runWiresharkTool('capinfos', [file], 'wireshark-common');
    expect(stdout).toMatch(/Number of packets:\s+7\n/);
    expect(stdout).toMatch(/Number of interfaces in file: 6\n/);
    expect(stdout).toMatch(/Capture comment:\s+evidence test/);
    const interfaces = stdout.split(/Interface #\d+ info:\n/).slice(1);
    expect(interfaces.map((i) => /Name = (\S+)/.exec(i)?.[1])).toEqual(['vi-r-14/to_vi', 'vi-r-14/from_vi', 'vi-r-12/to_vi', 'vi-r-12/from_vi', 'vi-r-13/to_vi', 'vi-r-13/from_vi']);
    expect(interfaces.map((i) => /Number of packets = (\d+)/.exec(i)?.[1])).toEqual(['0', '0', '1', '3', '2', '1']);
    for (const i of interfaces) {
      expect(i).toMatch(/Encapsulation = Ethernet \(1 - ether\)/);
      expect(i).toMatch(/Capture length = 256/);
      expect(i).toMatch(/Time precision = nanoseconds \(9\)/);
      expect(i).toMatch(/Number of stat entries = 1/);
    }
  });

  test('an interface statistics block ends each interface: first and last sample, summed latest sample pool and drops of its rules', () => {
    const samples = mixedSamples();
    const exportedAt = Date.UTC(2030, 0, 2);
    const blocks = statisticsBlocks(samplesToPcapng(samples, { exportedAt }));
    expect(blocks.map((b) => b.interfaceId)).toEqual([0, 1, 2, 3]);
    // vi-r-12/from_vi (interface 1): rule #0 last at pool 192 / drops 3, rule #1 at pool 50 / drops 2.
    const fromVi = blocks[1]!.options;
    expect(fromVi.get(4)!.readBigUInt64LE()).toBe(192n + 50n);
    expect(fromVi.get(5)!.readBigUInt64LE()).toBe(3n + 2n);
    const ns = (s: PacketSample): bigint => BigInt(s.at) * 1_000_000n + BigInt(s.ns);
    expect(timestampOf(fromVi.get(2))).toBe(ns(samples[1]!));
    expect(timestampOf(fromVi.get(3))).toBe(ns(samples[6]!));
    // An interface without samples still reports, with zero counts and no start or end.
    const empty = statisticsBlocks(samplesToPcapng([], { vis: ['vi-r-9'], exportedAt }));
    expect(empty).toHaveLength(2);
    expect(empty[0]!.options.get(4)!.readBigUInt64LE()).toBe(0n);
    expect(empty[0]!.options.has(2)).toBe(false);
  });

  test('a capture longer than the frame on the wire is cut to the wire length; more than 256 bytes is refused by name', () => {
    const long = packetSample('vi-r-12', Date.UTC(2030, 0, 1), { wireLength: 64, bytes: udpFrame(1, 200) });
    const file = samplesToPcapng([long]);
    // The EPB after the SHB and two IDBs: captured length at +20, original length at +24.
    const shb = file.readUInt32LE(4);
    const idbs = file.readUInt32LE(shb + 4) + file.readUInt32LE(shb + file.readUInt32LE(shb + 4) + 4);
    const epb = shb + idbs;
    expect(file.readUInt32LE(epb)).toBe(6);
    expect([file.readUInt32LE(epb + 20), file.readUInt32LE(epb + 24)]).toEqual([64, 64]);
    const tooLong = packetSample('vi-r-12', Date.UTC(2030, 0, 1), { wireLength: 1500, bytes: new Uint8Array(257) });
    expect(() => samplesToPcapng([tooLong])).toThrow(/sample 0: bytes holds 257 bytes, more than the 256 captured per sample/);
    expect(() => samplesToPcapng([{ ...tooLong, bytes: new Uint8Array(10), ns: 1_000_000 }])).toThrow(/sample 0: ns 1000000 is not 0..999999/);
  });
});
