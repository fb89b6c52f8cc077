import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, openSync, readFileSync, closeSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { epochText, packetSample, runWiresharkTool, toolAvailable } from '../../test/support/packetSamples.ts';
import { parseControllerConfig } from './config.ts';
import { EVIDENCE_SLOT_BYTES, EvidenceRings, type EvidenceBounds } from './evidenceRing.ts';
import type { PacketSample } from './packetSample.ts';

const root = mkdtempSync(join(tmpdir(), 'pcloud-evidence-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const haveTshark = toolAvailable('tshark');
const haveCapinfos = toolAvailable('capinfos', '-v');
let dirs = 0;
const freshDir = (): string => join(root, `state-${(dirs += 1)}`, 'evidence');

const t0 = Date.UTC(2030, 0, 1, 12);
/** n samples of a VI, 1 ms apart, ns distinct, alternating directions. */
function samplesOf(viId: string, n: number, from = 0): PacketSample[] {
  return Array.from({ length: n }, (_, k) => {
    const i = from + k;
    return packetSample(viId, t0 + i, { ns: (i * 7919) % 1_000_000, direction: i % 2 ? 'from_vi' : 'to_vi', verdict: i % 2 ? 'forward' : 'to_vi', samplePool: 64 * (i + 1) });
  });
}

/** What tshark reads from a pcapng: one "interface|epoch" line per packet. */
function tsharkPackets(file: string): string[] {
  const { stdout } = runWiresharkTool('tshark', ['-n', '-r', file, '-T', 'fields', '-E', 'separator=|', '-e', 'frame.interface_name', '-e', 'frame.time_epoch'], 'tshark');
  return stdout.trim() === '' ? [] : stdout.trim().split('\n');
}
const expectedLines = (samples: PacketSample[]): string[] => samples.map((s) => `${s.viId}/${s.direction}|${epochText(s)}`);

const roomy: EvidenceBounds = { maxBytes: 1 << 20, maxSamples: 1000 };

describe('evidence ring bounds', () => {
  test('the count bound keeps the newest samples and counts the oldest as dropped', () => {
    const rings = new EvidenceRings(freshDir(), { maxBytes: 1 << 20, maxSamples: 50 });
    const all = samplesOf('vi-a', 120);
    // In uneven batches, as the data plane's drain loop delivers them.
    for (const batch of [all.slice(0, 7), all.slice(7, 70), all.slice(70, 71), all.slice(71)]) expect(rings.append(batch).written).toBe(batch.length);
    expect(rings.status('vi-a')).toMatchObject({ samples: 50, dropped: 70, capacity: 50 });
    const file = join(root, `state-${dirs}`, 'evidence', 'vi-a.ring');
    expect(statSync(file).size).toBeLessThanOrEqual(1 << 20);
    const out = join(root, 'count.pcapng');
    writeFileSync(out, rings.exportPcapng('vi-a'));
    if (haveTshark) expect(tsharkPackets(out)).toEqual(expectedLines(all.slice(70)));
    rings.close();
  });

  test('the byte bound holds on disk: the ring file never exceeds maxBytes', () => {
    const maxBytes = EVIDENCE_SLOT_BYTES * 21 + 100;
    const dir = freshDir();
    const rings = new EvidenceRings(dir, { maxBytes, maxSamples: 1000 });
    rings.append(samplesOf('vi-b', 35));
    expect(rings.status('vi-b')).toMatchObject({ samples: 20, dropped: 15, capacity: 20 });
    expect(statSync(join(dir, 'vi-b.ring')).size).toBeLessThanOrEqual(maxBytes);
    rings.append(samplesOf('vi-b', 500, 35));
    expect(statSync(join(dir, 'vi-b.ring')).size).toBeLessThanOrEqual(maxBytes);
    expect(rings.status('vi-b')).toMatchObject({ samples: 20, dropped: 515 });
    rings.close();
  });

  test("one VI filling its ring never evicts another VI's samples", () => {
    const rings = new EvidenceRings(freshDir(), { maxBytes: 1 << 20, maxSamples: 10 });
    const quiet = samplesOf('vi-quiet', 5);
    rings.append(quiet);
    for (let round = 0; round < 20; round += 1) rings.append(samplesOf('vi-loud', 100, round * 100));
    expect(rings.status('vi-loud')).toMatchObject({ samples: 10, dropped: 1990 });
    expect(rings.status('vi-quiet')).toMatchObject({ samples: 5, dropped: 0 });
    expect(rings.vis()).toEqual(['vi-loud', 'vi-quiet']);
    rings.close();
  });

  test('samples without a VI or with fields out of range are counted, not written, and do not stop the batch', () => {
    const rings = new EvidenceRings(freshDir(), roomy);
    const good = samplesOf('vi-c', 3);
    const result = rings.append([good[0]!, { ...good[1]!, viId: '' }, { ...good[1]!, vni: 1 << 24 }, { ...good[1]!, viId: '../etc' }, good[2]!]);
    expect(result).toEqual({ written: 2, unattributed: 1, refused: 2, firstRefusal: 'vni 16777216 is not a 24-bit VXLAN network identifier' });
    expect(() => rings.status('../etc')).toThrow(/"..\/etc" is not a VI id/);
    rings.close();
  });
});

describe('evidence ring across restarts', () => {
  test.skipIf(!haveTshark)('a restarted controller finds each ring as it was, keeps appending after it, and exports the same packets', () => {
    const dir = freshDir();
    const bounds = { maxBytes: 1 << 20, maxSamples: 40 };
    const first = new EvidenceRings(dir, bounds);
    const all = samplesOf('vi-d', 55);
    first.append(all);
    const before = first.exportPcapng('vi-d', t0);
    first.close();

    const second = new EvidenceRings(dir, bounds);
    expect(second.vis()).toEqual(['vi-d']);
    expect(second.status('vi-d')).toMatchObject({ samples: 40, dropped: 15 });
    expect(second.exportPcapng('vi-d', t0).equals(before)).toBe(true);
    const more = samplesOf('vi-d', 10, 55);
    second.append(more);
    expect(second.status('vi-d')).toMatchObject({ samples: 40, dropped: 25 });
    const out = join(root, 'restart.pcapng');
    writeFileSync(out, second.exportPcapng('vi-d'));
    expect(tsharkPackets(out)).toEqual(expectedLines([...all, ...more].slice(-40)));
    second.close();
  });

  test('a slot torn by a crash is skipped and counted as dropped; the rest reads back', () => {
    const dir = freshDir();
    const first = new EvidenceRings(dir, roomy);
    first.append(samplesOf('vi-e', 10));
    first.close();
    // Half-written slot 3 (sample 3): bytes in the middle overwritten.
    const fd = openSync(join(dir, 'vi-e.ring'), 'r+');
    writeSync(fd, Buffer.alloc(40, 0xee), 0, 40, EVIDENCE_SLOT_BYTES * 4 + 100);
    closeSync(fd);
    const second = new EvidenceRings(dir, roomy);
    expect(second.status('vi-e')).toMatchObject({ samples: 9, dropped: 1 });
    second.close();
  });

  test('smaller bounds after a restart keep the newest samples that fit', () => {
    const dir = freshDir();
    const first = new EvidenceRings(dir, { maxBytes: 1 << 20, maxSamples: 100 });
    first.append(samplesOf('vi-f', 60));
    first.close();
    const second = new EvidenceRings(dir, { maxBytes: 1 << 20, maxSamples: 25 });
    expect(second.status('vi-f')).toMatchObject({ samples: 25, dropped: 35, capacity: 25 });
    expect(statSync(join(dir, 'vi-f.ring')).size).toBe(EVIDENCE_SLOT_BYTES * 26);
    second.close();
  });
});

describe('sealing evidence at terminate', () => {
  test.skipIf(!haveTshark || !haveCapinfos)('seal writes the ring as a pcapng file, returns its path and SHA-256, and removes the ring', () => {
    const dir = freshDir();
    const rings = new EvidenceRings(dir, { maxBytes: 1 << 20, maxSamples: 30 });
    const all = samplesOf('vi-g', 45);
    rings.append(all);
    const sealed = rings.seal('vi-g', t0 + 3_600_000);
    expect(sealed).toMatchObject({ viId: 'vi-g', samples: 30, dropped: 15 });
    expect(sealed.path.startsWith(join(dir, 'sealed'))).toBe(true);
    const data = readFileSync(sealed.path);
    expect(createHash('sha256').update(data).digest('hex')).toBe(sealed.sha256);
    expect(data.length).toBe(sealed.bytes);
    expect(tsharkPackets(sealed.path)).toEqual(expectedLines(all.slice(15)));
    const { stdout } = runWiresharkTool('capinfos', [sealed.path], 'wireshark-common');
    expect(stdout).toMatch(/Capture comment:\s+Evidence of VI vi-g, sealed at 2030-01-01T13:00:00.000Z: 30 sampled packets \(15 older ones dropped/);
    expect(stdout).toMatch(/Number of interfaces in file: 2\n/);
    expect(existsSync(join(dir, 'vi-g.ring'))).toBe(false);
    expect(rings.vis()).toEqual([]);
    // Sealing twice at the same instant would overwrite evidence: refused.
    rings.append(samplesOf('vi-g', 1));
    expect(() => rings.seal('vi-g', t0 + 3_600_000)).toThrow(/already exists: refusing to overwrite it/);
    rings.close();
  });
});

describe('evidence config', () => {
  const base = {
    cloudletId: 'c1',
    scheduler: { url: 'ws://127.0.0.1:1', token: 'controller-token-0123456789' },
    nodes: [{ id: 'n1', capacity: { cpu: 1, memMiB: 512, diskGiB: 1, netMbps: 100 } }],
    stateDir: '/tmp/unused',
  };

  test('defaults bound each ring to 16 MiB and 20000 samples', () => {
    expect(parseControllerConfig(base).evidence).toEqual({ maxBytesPerVi: 16 * 2 ** 20, maxSamplesPerVi: 20_000 });
  });

  test('bounds too small are refused with the field and the reason', () => {
    expect(() => parseControllerConfig({ ...base, evidence: { maxBytesPerVi: 100 } })).toThrow(/config\.evidence\.maxBytesPerVi: at least 4096 bytes per VI/);
    expect(() => parseControllerConfig({ ...base, evidence: { maxSamplesPerVi: 0 } })).toThrow(/config\.evidence\.maxSamplesPerVi/);
    expect(() => new EvidenceRings(freshDir(), { maxBytes: 600, maxSamples: 5 })).toThrow(/leave no room: a ring needs maxBytes >= 1024/);
  });
});
