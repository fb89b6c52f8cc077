// The console's pcapng (renderer/composables/traffic/samplePcapng.ts) against
// the controller's (main/controller/pcapng.ts) and tshark: the console reads
// back the controller's evidence export sample for sample, and what the
// console writes opens in tshark with every packet, its comment and no
// complaint.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { samplesToPcapng } from '../../main/controller/pcapng.ts';
import type { PacketSample } from '../../main/controller/packetSample.ts';
import { readSamplesPcapng, samplesPcapng } from '../../renderer/composables/traffic/samplePcapng.ts';
import { eth, icmpEcho, ipv4, udp } from '../support/sampleFrames.ts';

const dir = mkdtempSync(join(tmpdir(), 'pcloud-console15-pcapng-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const frames = [eth(0x0800, ipv4('198.19.1.1', '198.18.30.7', 17, udp(40000, 5001, new Array<number>(64).fill(7)))), eth(0x0800, ipv4('198.18.30.7', '198.19.66.66', 1, icmpEcho))];
const samples: PacketSample[] = [
  { at: 1_780_000_000_123, ns: 456_789, viId: 'vi-r-1', ruleId: 'vi-r-1#0', direction: 'to_vi', verdict: 'to_vi', vni: 5115, wireLength: 1500, samplingRate: 10, samplePool: 10, drops: 0, bytes: Uint8Array.from(frames[0] ?? []) },
  // A spoofed packet as the controller keeps it: no rule, verdict spoofing.
  { at: 1_780_000_000_124, ns: 1, viId: 'vi-r-1', ruleId: '', direction: 'from_vi', verdict: 'spoofing', vni: 0, wireLength: 42, samplingRate: 1, samplePool: 0, drops: 0, bytes: Uint8Array.from(frames[1] ?? []) },
];

describe('pcapng of samples', () => {
  test("the console reads the controller's evidence export back, sample for sample", () => {
    const read = readSamplesPcapng(samplesToPcapng(samples, { comment: 'evidence of vi-r-1' }));
    expect(read).toEqual(samples.map(({ samplePool: _p, drops: _d, ...s }) => s));
  });

  test("what the console writes reads back the same, and tshark opens it with every packet and comment", () => {
    const file = join(dir, 'console.pcapng');
    const written = samplesPcapng(samples, 'PacketCloud Console test');
    writeFileSync(file, written);
    expect(readSamplesPcapng(written)).toEqual(samples.map(({ samplePool: _p, drops: _d, ...s }) => s));
    const out = execFileSync('tshark', ['-r', file, '-T', 'fields', '-E', 'separator=|', '-e', 'frame.len', '-e', 'frame.cap_len', '-e', 'frame.time_epoch', '-e', 'frame.comment', '-e', 'frame.interface_name'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    const rows = out.trim().split('\n').map((l) => l.split('|'));
    expect(rows).toHaveLength(2);
    expect(rows[0]?.slice(0, 2)).toEqual(['1500', String(frames[0]?.length)]);
    expect(rows[0]?.[2]).toMatch(/^1780000000\.123456789/);
    expect(rows[0]?.[3]).toBe('VI vi-r-1, rule vi-r-1#0, verdict to_vi, VNI 5115, sampled 1-in-10');
    expect(rows[1]?.[4]).toBe('vi-r-1/from_vi');
  });

  test('a file that is not pcapng is refused, saying so', () => {
    expect(() => readSamplesPcapng(Uint8Array.from([0xd4, 0xc3, 0xb2, 0xa1, 0, 0, 0, 0, 0, 0, 0, 0]))).toThrow('not a little-endian pcapng file (no section header at the start)');
  });
});
