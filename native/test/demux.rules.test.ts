// Flow-table semantics against the naive oracle: priorities and ties,
// OpenFlow port semantics for fragments and ICMP, VXLAN VNI, in_port and
// eth_type matches, IPv6 rule sets, rule validation, and random add / modify
// / delete sequences interleaved with classification (with and without base
// rebuilds), on every leaf-scan implementation this CPU has.
import { afterAll, describe, expect, it } from 'vitest';
import { ActionCode, ClassifyResult, FlowTable, demuxPath, demuxPaths, encodeRules, ruleLayout, setDemuxPath } from '../demux.ts';
import type { FlowRule } from '../demux.ts';
import { NaiveMatcher } from './naiveMatcher.ts';
import type { PacketHeader } from './naiveMatcher.ts';
import { buildFrame, ipv4Header, packFrames, seededRandom } from './frameBuilder.ts';
import type { FrameOptions } from './frameBuilder.ts';

const initialPath = demuxPath();
afterAll(() => {
  setDemuxPath(initialPath);
});

interface Probe {
  header: PacketHeader;
  options?: FrameOptions;
}

function classifyProbes(table: FlowTable, probes: readonly Probe[], inPort = 0): { ids: Uint32Array; actions: Uint8Array } {
  const batch = packFrames(probes.map((p) => buildFrame(p.header, p.options)));
  const ids = new Uint32Array(probes.length);
  const actions = new Uint8Array(probes.length);
  const result = new ClassifyResult(256);
  for (let s = 0; s < probes.length; s += 256) {
    const e = Math.min(s + 256, probes.length);
    table.classify(batch.buffer, batch.offsets.subarray(s, e), batch.lengths.subarray(s, e), result, { inPort });
    ids.set(result.ruleIds.subarray(0, e - s), s);
    actions.set(result.actions.subarray(0, e - s), s);
  }
  return { ids, actions };
}

/** The header the oracle must see for a probe: fragments after the first carry no ports. */
function oracleView(p: Probe): PacketHeader {
  return p.options?.fragment === 'later' ? { ...p.header, sport: undefined, dport: undefined } : p.header;
}

function v6(words: number[]): Uint8Array {
  const out = new Uint8Array(16);
  words.forEach((w, i) => {
    out[2 * i] = (w >> 8) & 0xff;
    out[2 * i + 1] = w & 0xff;
  });
  return out;
}

function v6Text(bytes: Uint8Array): string {
  const words: string[] = [];
  for (let i = 0; i < 16; i += 2) words.push((((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0)).toString(16));
  return words.join(':');
}

function maskTo(bytes: Uint8Array, len: number): Uint8Array {
  const out = new Uint8Array(16);
  for (let bit = 0; bit < len; bit++) if ((bytes[bit >> 3] ?? 0) & (0x80 >> (bit & 7))) out[bit >> 3] = (out[bit >> 3] ?? 0) | (0x80 >> (bit & 7));
  return out;
}

const ipv4Text = (n: number): string => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');

describe.each(demuxPaths())('flow table semantics (%s)', (path) => {
  it('prefers higher priority and, on ties, the rule installed first (also after a modify)', () => {
    expect(setDemuxPath(path)).toBe(true);
    const t = new FlowTable();
    const [a, b, c] = t.add([
      { priority: 5, match: { dst: '10.0.0.0/8' }, action: 'to_vi', viId: 1 },
      { priority: 5, match: { dst: '10.1.0.0/16' }, action: 'to_vi', viId: 2 },
      { priority: 4, match: { dst: '10.1.2.0/24' }, action: 'drop' },
    ]);
    const probe = { header: ipv4Header(0x01020304, 0x0a010203, 1, 2, 6) };
    expect(classifyProbes(t, [probe]).ids[0]).toBe(a);
    t.modify(a ?? 0, { priority: 5, match: { dst: '10.0.0.0/8' }, action: 'legacy' });
    expect(classifyProbes(t, [probe]).ids[0]).toBe(a);
    t.modify(c ?? 0, { priority: 6, match: { dst: '10.1.2.0/24' }, action: 'drop' });
    const r = classifyProbes(t, [probe]);
    expect([r.ids[0], r.actions[0]]).toEqual([c, ActionCode.drop]);
    t.remove([c ?? 0, a ?? 0]);
    expect(classifyProbes(t, [probe]).ids[0]).toBe(b);
  });

  it('lets non-first fragments, ICMP and non-IP frames match only rules that wildcard what they lack', () => {
    expect(setDemuxPath(path)).toBe(true);
    const t = new FlowTable();
    const [ports, proto, any, arp] = t.add([
      { priority: 30, match: { dst: '10.0.0.0/8', dstPort: { from: 0, to: 65534 } }, action: 'to_vi', viId: 1 },
      { priority: 20, match: { dst: '10.0.0.0/8', ipProto: 17 }, action: 'to_vi', viId: 2 },
      { priority: 10, match: { dst: '10.0.0.0/8' }, action: 'legacy' },
      { priority: 5, match: { ethType: 0x0806 }, action: 'drop' },
    ]);
    const udp = ipv4Header(1, 0x0a000001, 53, 53, 17);
    const r = classifyProbes(t, [
      { header: udp },
      { header: udp, options: { fragment: 'first' } },
      { header: udp, options: { fragment: 'later' } },
      { header: ipv4Header(1, 0x0a000001, 0, 0, 1) },
      { header: { ...udp, family: 0, ethType: 0x0806, proto: undefined, sport: undefined, dport: undefined } },
    ]);
    expect(Array.from(r.ids)).toEqual([ports, ports, proto, any, arp]);
  });

  it('leaves rules no packet can match (ports on a protocol without ports) out of the index, and still matches the rest', () => {
    expect(setDemuxPath(path)).toBe(true);
    const t = new FlowTable();
    // Enough rules that the base index (not the small overlay) holds them.
    const filler: FlowRule[] = Array.from({ length: 200 }, (_, i) => ({
      priority: 1, match: { src: `198.18.${i}.0/24`, ipProto: 6, dstPort: { from: 1000 + i, to: 1000 + i } }, action: 'drop',
    }));
    const [icmpPort, greRange, icmpAny, anyProtoPort, udpPort, ...fillerIds] = t.add([
      { priority: 50, match: { dst: '10.0.0.0/8', ipProto: 1, dstPort: { from: 80, to: 80 } }, action: 'to_vi', viId: 1 },
      { priority: 40, match: { dst: '10.0.0.0/8', ipProto: 47, srcPort: { from: 0, to: 1023 } }, action: 'to_vi', viId: 2 },
      { priority: 30, match: { dst: '10.0.0.0/8', ipProto: 1 }, action: 'to_vi', viId: 3 },
      { priority: 20, match: { dst: '10.0.0.0/8', dstPort: { from: 80, to: 80 } }, action: 'to_vi', viId: 4 },
      { priority: 10, match: { dst: '10.0.0.0/8', ipProto: 17 }, action: 'legacy' },
      ...filler,
    ]);
    expect(fillerIds).toHaveLength(filler.length);
    expect(t.stats().index.unmatchable).toBe(2);
    const r = classifyProbes(t, [
      { header: ipv4Header(1, 0x0a000001, 0, 0, 1) },     // ICMP: only the ICMP rule without ports
      { header: ipv4Header(1, 0x0a000001, 0, 0, 47) },    // GRE: nothing but the port-less rules could match; none does
      { header: ipv4Header(1, 0x0a000001, 5, 80, 6) },    // TCP to port 80: the any-protocol rule
      { header: ipv4Header(1, 0x0a000001, 5, 80, 17) },   // UDP to port 80: the any-protocol rule
      { header: ipv4Header(1, 0x0a000001, 5, 81, 17) },   // UDP elsewhere: the UDP rule
    ]);
    expect(Array.from(r.ids)).toEqual([icmpAny, 0, anyProtoPort, anyProtoPort, udpPort]);
    // They stay installed rules: ids, counters (zero), and removable.
    const counts = new Float64Array(6);
    t.readCounters(Uint32Array.of(icmpPort ?? 0, greRange ?? 0), counts);
    expect(Array.from(counts)).toEqual([0, 0, 0, 0, 0, 0]);
    t.remove([icmpPort ?? 0, greRange ?? 0]);
    expect(t.stats().rules).toBe(3 + filler.length);
  });

  it('matches VXLAN VNI, ingress port and IPv6 fragments like the oracle', () => {
    expect(setDemuxPath(path)).toBe(true);
    const rules: FlowRule[] = [
      { priority: 9, match: { vni: 3000001, dst: '192.168.0.0/16' }, action: 'to_vi', viId: 7 },
      { priority: 8, match: { inPort: 3, ipProto: 6 }, action: 'drop' },
      { priority: 7, match: { src: '2001:db8::/32', dstPort: 443 }, action: 'to_vi', viId: 8 },
      { priority: 6, match: { src: '2001:db8:0:1::/64' }, action: 'to_vi', viId: 9 },
      { priority: 1, match: {}, action: 'legacy' },
    ];
    const t = new FlowTable();
    const ids = t.add(rules);
    const oracle = new NaiveMatcher();
    rules.forEach((r, i) => oracle.add(ids[i] ?? 0, r));
    const v6h = (src: number[], dport: number): PacketHeader => ({
      family: 6, ethType: 0x86dd, src: v6(src), dst: v6([0x2001, 0xdb8, 9]), proto: 6, sport: 1000, dport, inPort: 0, vni: undefined,
    });
    const probes: Probe[] = [
      { header: ipv4Header(1, 0xc0a80101, 1, 2, 17, { vni: 3000001 }) },
      { header: ipv4Header(1, 0xc0a80101, 1, 2, 17, { vni: 3000002 }) },
      { header: ipv4Header(1, 0xc0a80101, 1, 2, 17) },
      { header: v6h([0x2001, 0xdb8, 0, 1, 0, 0, 0, 5], 443) },
      { header: v6h([0x2001, 0xdb8, 0, 1, 0, 0, 0, 5], 80) },
      { header: v6h([0x2001, 0xdb8, 0, 2], 80) },
      { header: v6h([0x2001, 0xdb8, 0, 1], 443), options: { fragment: 'later' } },
      { header: v6h([0x2001, 0xdb8, 0, 1], 443), options: { fragment: 'first' } },
      { header: v6h([0x2001, 0xdb8, 0, 1], 443), options: { vlans: [10, 20] } },
    ];
    const want = probes.map((p) => oracle.match(oracleView(p)));
    expect(Array.from(classifyProbes(t, probes).ids)).toEqual(want);
    const onPort3 = probes.map((p) => oracle.match({ ...oracleView(p), inPort: 3 }));
    expect(Array.from(classifyProbes(t, probes, 3).ids)).toEqual(onPort3);
  });

  it('agrees with the oracle on random IPv6 and mixed rule sets with random headers', () => {
    expect(setDemuxPath(path)).toBe(true);
    const random = seededRandom(42);
    const int = (n: number): number => Math.floor(random() * n);
    // A small address pool makes prefixes overlap and headers hit them.
    const pool = Array.from({ length: 12 }, () => v6([0x2001, 0xdb8, int(4), int(4), int(65536), int(65536), int(65536), int(65536)]));
    const pick = (): Uint8Array => pool[int(pool.length)] ?? pool[0] ?? new Uint8Array(16);
    const lens = [0, 16, 32, 33, 48, 56, 64, 96, 127, 128];
    const rules: FlowRule[] = Array.from({ length: 600 }, (_, i) => {
      const sl = lens[int(lens.length)] ?? 0, dl = lens[int(lens.length)] ?? 0;
      const lo = int(65536);
      const match: FlowRule['match'] = {};
      if (random() < 0.8) match.src = `${v6Text(maskTo(pick(), sl))}/${sl}`;
      if (random() < 0.5) match.dst = `${v6Text(maskTo(pick(), dl))}/${dl}`;
      if (random() < 0.4) match.dstPort = random() < 0.5 ? lo : { from: lo, to: Math.min(65535, lo + int(2000)) };
      if (random() < 0.3) match.ipProto = random() < 0.5 ? 6 : 17;
      if (random() < 0.05) match.inPort = int(3);
      return { priority: int(50), match, action: i % 3 === 0 ? 'drop' : 'to_vi', ...(i % 3 === 0 ? {} : { viId: i }) };
    });
    const t = new FlowTable();
    const ids = t.add(rules);
    const oracle = new NaiveMatcher();
    rules.forEach((r, i) => oracle.add(ids[i] ?? 0, r));
    const probes: Probe[] = Array.from({ length: 4000 }, () => {
      const src = pick().slice(), dst = pick().slice();
      if (random() < 0.5) src[15] = int(256);
      if (random() < 0.3) src[int(16)] = int(256);
      const proto = [6, 17, 58][int(3)] ?? 6;
      const header: PacketHeader = {
        family: 6, ethType: 0x86dd, src, dst, proto, sport: proto === 58 ? undefined : int(65536),
        dport: proto === 58 ? undefined : int(65536), inPort: 0, vni: undefined,
      };
      const fragment = random() < 0.1 ? 'later' : 'none';
      return { header, options: { fragment } };
    });
    for (const inPort of [0, 1]) {
      const got = classifyProbes(t, probes, inPort).ids;
      const want = probes.map((p) => oracle.match({ ...oracleView(p), inPort }));
      let wrong = 0;
      want.forEach((w, i) => {
        if (w !== got[i]) wrong++;
      });
      expect(wrong).toBe(0);
    }
  });

  it.each([2, 64])('agrees with the oracle through random add / modify / delete sequences (overlay limit %i)', (overlayLimit) => {
    expect(setDemuxPath(path)).toBe(true);
    const random = seededRandom(overlayLimit * 7 + 1);
    const int = (n: number): number => Math.floor(random() * n);
    const base = 0x0a000000;
    const randomRule = (): FlowRule => {
      const sl = [0, 8, 16, 24, 28, 32][int(6)] ?? 0, dl = [0, 8, 16, 24, 32][int(5)] ?? 0;
      const src = (base + int(1 << 12)) & (sl === 0 ? 0 : ~((2 ** (32 - sl)) - 1));
      const dst = (base + int(1 << 12)) & (dl === 0 ? 0 : ~((2 ** (32 - dl)) - 1));
      const lo = int(1024);
      return {
        priority: int(20), action: 'to_vi', viId: 1 + int(1000),
        match: {
          src: `${ipv4Text(src >>> 0)}/${sl}`, dst: `${ipv4Text(dst >>> 0)}/${dl}`,
          ...(random() < 0.5 ? { dstPort: { from: lo, to: lo + int(512) } } : {}),
          ...(random() < 0.3 ? { ipProto: random() < 0.5 ? 6 : 17 } : {}),
        },
      };
    };
    const t = new FlowTable({ overlayLimit });
    const oracle = new NaiveMatcher();
    const live: number[] = [];
    const probes: Probe[] = Array.from({ length: 300 }, () =>
      ({ header: ipv4Header((base + int(1 << 12)) >>> 0, (base + int(1 << 12)) >>> 0, int(2048), int(2048), [6, 17, 1][int(3)] ?? 6) }));
    for (let step = 0; step < 150; step++) {
      const adds = Array.from({ length: 1 + int(step < 20 ? 30 : 4) }, randomRule);
      const removes = live.filter(() => random() < 0.05);
      const modifies = live.filter((id) => !removes.includes(id) && random() < 0.03).map((id) => ({ id, rule: randomRule() }));
      const ids = t.apply({ add: adds, remove: removes, modify: modifies });
      removes.forEach((id) => {
        oracle.remove(id);
        live.splice(live.indexOf(id), 1);
      });
      modifies.forEach((m) => oracle.modify(m.id, m.rule));
      adds.forEach((r, i) => {
        oracle.add(ids[i] ?? 0, r);
        live.push(ids[i] ?? 0);
      });
      const got = classifyProbes(t, probes).ids;
      const want = probes.map((p) => oracle.match(p.header));
      expect(Array.from(got), `step ${step}`).toEqual(want);
    }
    expect(t.stats().rules).toBe(oracle.size);
    if (overlayLimit === 2) expect(t.stats().rebuilds).toBeGreaterThan(10);
  });
});

describe('rule validation', () => {
  it.each<[string, FlowRule, RegExp]>([
    ['host bits', { priority: 1, match: { src: '10.0.0.1/8' }, action: 'drop' }, /rule 1: source "10.0.0.1\/8" has host bits set: did you mean 10.0.0.0\/8/],
    ['a bare address', { priority: 1, match: { dst: '10.0.0.1' }, action: 'drop' }, /rule 1: destination "10.0.0.1" is not a prefix: write address\/length/],
    ['reversed port range', { priority: 1, match: { dstPort: { from: 9, to: 3 } }, action: 'drop' }, /reversed/],
    ['VNI over 24 bits', { priority: 1, match: { vni: 1 << 24 }, action: 'drop' }, /24 bits/],
    ['eth_type against family', { priority: 1, match: { src: '10.0.0.0/8', ethType: 0x86dd }, action: 'drop' }, /contradicts/],
  ])('refuses a rule with %s and changes nothing', (_, rule, message) => {
    const t = new FlowTable();
    t.add([{ priority: 1, match: {}, action: 'legacy' }]);
    expect(() => t.add([{ priority: 2, match: {}, action: 'drop' }, rule])).toThrow(message);
    expect(t.stats().rules).toBe(1);
  });

  it('refuses encoded records with host bits set, past the TypeScript encoder', () => {
    // The addon judges records on its own: the fuzz drivers and addEncoded() hand it bytes nobody parsed.
    const t = new FlowTable();
    const record = encodeRules([{ priority: 1, match: { src: '10.0.0.0/8' }, action: 'drop' }]);
    record[ruleLayout().src + 3] = 1;
    expect(() => t.addEncoded(record)).toThrow(/bits set beyond its \/8/);
    expect(t.stats().rules).toBe(0);
  });

  it('refuses unknown ids and a rule named twice in one change', () => {
    const t = new FlowTable();
    const [id] = t.add([{ priority: 1, match: {}, action: 'legacy' }]);
    expect(() => t.remove([999])).toThrow(/no rule with id 999/);
    expect(() => t.apply({ remove: [id ?? 0], modify: [{ id: id ?? 0, rule: { priority: 1, match: {}, action: 'drop' } }] })).toThrow(/twice/);
    expect(() => t.add([{ priority: 1, match: {}, action: 'to_vi' }])).toThrow(/needs a viId/);
  });

  it('refuses 5-tuples it cannot look up, saying which and why', () => {
    const t = new FlowTable();
    const ids = new Uint32Array(2);
    expect(() => t.lookupTuples(Uint32Array.of(1, 2, 3), ids)).toThrow('tuples must hold 5 numbers per packet (source, destination, source port, destination port, protocol); got 3');
    expect(() => t.lookupTuples(Uint32Array.of(1, 2, 3, 4, 6, 1, 2, 3, 70000, 6), ids)).toThrow('tuple 1: port 70000 is above 65535');
    expect(() => t.lookupTuples(Uint32Array.of(1, 2, 3, 4, 256), ids)).toThrow('tuple 0: protocol 256 is above 255');
    expect(() => t.lookupTuples(Uint32Array.of(1, 2, 3, 4, 6, 1, 2, 3, 4, 6), new Uint32Array(1))).toThrow('ruleIds holds fewer than 2 entries');
    expect(t.lookupTuples(Uint32Array.of(1, 2, 3, 4, 6), ids)).toBe(1);
    expect(ids[0]).toBe(0);
  });

  it('rejects frame descriptors that point outside the buffer', () => {
    const t = new FlowTable();
    const result = new ClassifyResult(4);
    expect(() => t.classify(new Uint8Array(60), Uint32Array.of(10), Uint32Array.of(60), result)).toThrow('frame 0 at offset 10 needs 60 bytes of buffer (up to byte 70) but buffer has 60');
    expect(() => t.classify(new Uint8Array(60), Uint32Array.of(0, 0), Uint32Array.of(60), result)).toThrow(/exceeds offsets/);
  });

  it('reads every batch array at its view offset and names an argument of the wrong type', () => {
    const t = new FlowTable();
    const [udp, tcp] = t.add([
      { priority: 2, action: 'to_vi', viId: 7, match: { ipProto: 17 } },
      { priority: 1, action: 'drop', match: { ipProto: 6 } },
    ]);
    const frames = packFrames([
      buildFrame(ipv4Header(0xc6120001, 0xc6120002, 1000, 53, 17)),
      buildFrame(ipv4Header(0xc6120001, 0xc6120002, 1000, 80, 6)),
    ]);
    // Every array a view into a larger one, starting past its first element.
    const buffer = new Uint8Array(frames.buffer.length + 3);
    buffer.set(frames.buffer, 3);
    const offsets = Uint32Array.of(99, ...frames.offsets).subarray(1);
    const lengths = Uint32Array.of(99, ...frames.lengths).subarray(1);
    const actions = new Uint8Array(4), ruleIds = new Uint32Array(4), viIds = new Uint32Array(4), reasons = new Uint8Array(4);
    const result = { actions: actions.subarray(1), ruleIds: ruleIds.subarray(1), viIds: viIds.subarray(1), reasons: reasons.subarray(1) };
    expect(t.classify(buffer.subarray(3), offsets, lengths, result as ClassifyResult)).toBe(2);
    expect([...actions]).toEqual([0, ActionCode.to_vi, ActionCode.drop, 0]);
    expect([...ruleIds]).toEqual([0, udp, tcp, 0]);
    expect([...viIds]).toEqual([0, 7, 0, 0]);

    const good = new ClassifyResult(2);
    expect(() => t.classify(buffer, Float64Array.from(offsets) as unknown as Uint32Array, lengths, good)).toThrow(
      new TypeError('argument 2 (offsets) must be a Uint32Array, got another typed array'),
    );
    expect(() => t.classify(buffer, offsets, [60, 60] as unknown as Uint32Array, good)).toThrow(
      new TypeError('argument 3 (lengths) must be a Uint32Array, got an object'),
    );
    expect(() => t.classify(7 as unknown as Uint8Array, offsets, lengths, good)).toThrow(
      new TypeError('argument 1 (buffer) must be a Uint8Array (or Buffer), got a number'),
    );
  });
});
