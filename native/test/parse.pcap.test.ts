// Every shared capture (../shared/testdata/pcap, read in place) parses and
// classifies without a crash; known facts about the captures hold (VXLAN
// VNIs, fragments, VLAN tags, raw-IP link type); and where tshark is
// installed, the frames it reports as malformed in a layer we parse are
// exactly the frames we count as malformed.
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ClassifyResult, FlowTable, FrameField, NO_PORT, parseErrorNames, parseFrames } from '../demux.ts';
import { testdataDir } from './classbench.ts';
import { packFrames } from './frameBuilder.ts';
import { readCapture } from './pcapReader.ts';
import type { CapturedFrame } from './pcapReader.ts';

const pcapDir = `${testdataDir}pcap/`;
const captures = readdirSync(pcapDir).filter((f) => /\.pcap(ng)?$/.test(f)).sort();

/** Link types we parse: Ethernet, and raw IP (12, or 101 as some writers spell it). */
function ourLinkType(frame: CapturedFrame): 1 | 12 | undefined {
  if (frame.linkType === 1) return 1;
  if (frame.linkType === 12 || frame.linkType === 101) return 12;
  return undefined;
}

interface Parsed {
  frames: CapturedFrame[];
  fields: Uint32Array[]; // per frame, undefined link types get an empty array
}

function parseCapture(name: string): Parsed {
  const frames = readCapture(pcapDir + name);
  const fields = frames.map((f) => {
    const linkType = ourLinkType(f);
    if (linkType === undefined) return new Uint32Array(0);
    const b = packFrames([f.data]);
    return parseFrames(b.buffer, b.offsets, b.lengths, { linkType });
  });
  return { frames, fields };
}

const field = (f: Uint32Array | undefined, k: keyof typeof FrameField): number => f?.[FrameField[k]] ?? -1;

function tsharkAvailable(): boolean {
  try {
    execFileSync('tshark', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

// Layers we parse, as tshark names them in "[Malformed Packet: X]".
const OUR_LAYERS = /Malformed Packet: (Ethernet|802\.1Q|IEEE 802\.1ad|IPv4|IP|IPv6|TCP|UDP|ICMP|ICMPv6|VXLAN)\]/;
// Header errors tshark reports as expert errors rather than exceptions.
const HEADER_ERRORS = /Bogus IP(v4)? (length|version|header length)|Bogus IPv6 version|IPv6 payload length .*exceeds/i;

describe('shared captures', () => {
  it.each(captures)('%s parses and classifies without a crash', (name) => {
    const { frames, fields } = parseCapture(name);
    expect(frames.length).toBeGreaterThan(0);
    const ethernet = frames.filter((f) => f.linkType === 1);
    const malformed = fields.filter((f, i) => frames[i]?.linkType === 1 && field(f, 'reason') !== 0).length;
    if (ethernet.length === 0) return;
    const table = new FlowTable();
    const [any] = table.add([{ priority: 1, match: {}, action: 'legacy' }]);
    const b = packFrames(ethernet.map((f) => f.data));
    const result = new ClassifyResult(ethernet.length);
    table.classify(b.buffer, b.offsets, b.lengths, result);
    const stats = table.stats();
    expect(stats.malformed).toBe(malformed);
    expect(table.counters(any ?? 0).packets).toBe(ethernet.length - malformed);
  });

  it('decapsulates VXLAN, ignoring reserved flag bits, and reads the VNI', () => {
    const one = parseCapture('pcapplusplus_Vxlan1.pcap').fields[0];
    expect([field(one, 'reason'), field(one, 'vni'), field(one, 'ipProto'), field(one, 'icmpType')]).toEqual([0, 3000001, 1, 8]);
    const zeek = parseCapture('zeek_vxlan.pcap').fields;
    expect(zeek.every((f) => field(f, 'vni') === 123)).toBe(true);
    expect(zeek.filter((f) => field(f, 'ethType') === 0x0806)).toHaveLength(2);
    const http = parseCapture('zeek_vxlan-encapsulated-http.pcap').fields;
    expect(http.every((f) => field(f, 'vni') === 1 && field(f, 'ipProto') === 6)).toBe(true);
    expect(http.every((f) => field(f, 'srcPort') === 80 || field(f, 'dstPort') === 80)).toBe(true);
  });

  it('gives non-first IPv4 and IPv6 fragments no ports', () => {
    // Counts of frames with a non-zero fragment offset, as `tshark -e ip.frag_offset`
    // (ipv6.fraghdr.offset) reports them; SOURCE.md's "44" for the IPv4 file
    // counts frames Wireshark reassembles, which is a different question.
    for (const [name, later] of [['pcapplusplus_ip4_fragments.pcap', 41], ['pcapplusplus_ip6_fragments.pcap', 32], ['zeek_ipv6-fragmented-dns.pcap', 3]] as const) {
      const fields = parseCapture(name).fields;
      const laterFragments = fields.filter((f) => field(f, 'fragment') === 2);
      expect(laterFragments, name).toHaveLength(later);
      expect(laterFragments.every((f) => field(f, 'srcPort') === NO_PORT && field(f, 'dstPort') === NO_PORT)).toBe(true);
    }
  });

  it('reads VLAN tags, Q-in-Q, and raw-IP captures', () => {
    const masscan = parseCapture('esnet_masscan_tcp_0_1000_20190821.pcap').fields;
    expect(masscan.every((f) => field(f, 'vlanCount') === 1)).toBe(true);
    expect(new Set(masscan.filter((f) => field(f, 'ipProto') === 6).map((f) => field(f, 'dstPort'))).size).toBeGreaterThanOrEqual(1001);
    const qinq = parseCapture('pcapplusplus_many-protocols.pcap').fields.filter((f) => field(f, 'vlanCount') === 2);
    expect(qinq).toHaveLength(20);
    expect(qinq.every((f) => field(f, 'ipProto') === 1)).toBe(true);
    const raw = parseCapture('pcapplusplus_four_ipv6_http_streams.pcap').fields;
    expect(raw.every((f) => field(f, 'reason') === 0 && field(f, 'family') === 6 && field(f, 'ipProto') === 6)).toBe(true);
  });

  it('counts the malformed examples by reason', () => {
    const names = parseErrorNames();
    const reasons = (name: string) => parseCapture(name).fields.map((f) => names[field(f, 'reason')]);
    expect(reasons('pcapplusplus_ipv4-malformed.pcap')).toEqual(['bad_ipv4_total_length', 'bad_ipv4_version']);
    expect(reasons('pcapplusplus_tcp-malformed.pcap')).toEqual(['truncated_tcp', 'truncated_tcp']);
    expect(reasons('zeek_ip4-trunc.pcap')).toEqual(['truncated_ipv4']);
  });

  const haveTshark = tsharkAvailable();
  if (!haveTshark) console.warn('tshark is not installed: skipping the comparison with tshark\'s malformed-frame reports (Debian package tshark)');
  it.skipIf(!haveTshark).each(captures)('%s: we count as malformed exactly what tshark reports malformed in L2-L4', (name) => {
    const { frames, fields } = parseCapture(name);
    const out = execFileSync('tshark', ['-n', '-r', pcapDir + name, '-T', 'fields', '-E', 'separator=\t', '-e', 'frame.number', '-e', '_ws.malformed', '-e', '_ws.expert.message'], {
      encoding: 'utf8', maxBuffer: 256 << 20, stdio: ['ignore', 'pipe', 'ignore'],
    });
    const theirs = new Set<number>();
    for (const line of out.split('\n')) {
      const [num, malformed = '', messages = ''] = line.split('\t');
      if (OUR_LAYERS.test(malformed) || HEADER_ERRORS.test(messages)) theirs.add(Number(num));
    }
    // Frames cut short by the capture's snap length are incomplete records,
    // not malformed packets; we count them (the data plane sees them as
    // truncated) and tshark does not, so they are left out on both sides.
    const comparable = (i: number): boolean => {
      const f = frames[i];
      return f !== undefined && f.data.length === f.wireLength && ourLinkType(f) !== undefined;
    };
    const ours = new Set<number>();
    fields.forEach((f, i) => {
      if (comparable(i) && field(f, 'reason') !== 0) ours.add(i + 1);
    });
    const theirsComparable = new Set([...theirs].filter((n) => comparable(n - 1)));
    expect([...ours].sort((a, b) => a - b)).toEqual([...theirsComparable].sort((a, b) => a - b));
  });
});
