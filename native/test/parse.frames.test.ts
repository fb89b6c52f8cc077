// Parser edge cases on crafted frames: every truncation of valid frames is
// rejected with a reason (never a crash, never a read past the end),
// IPv4 options, IPv6 extension chains, VLAN depth, VXLAN flags, TCP/UDP
// length fields, padding and 802.3 frames.
import { describe, expect, it } from 'vitest';
import { FrameField, NO_PORT, NO_VNI, parseErrorNames, parseFrames } from '../demux.ts';
import type { PacketHeader } from './naiveMatcher.ts';
import { buildFrame, ipv4Header, packFrames } from './frameBuilder.ts';

const names = parseErrorNames();

function parseOne(frame: Uint8Array, linkType: 1 | 12 = 1): Record<keyof typeof FrameField, number> & { reasonName: string } {
  const b = packFrames([frame]);
  const f = parseFrames(b.buffer, b.offsets, b.lengths, { linkType });
  const out = Object.fromEntries(Object.entries(FrameField).map(([k, i]) => [k, f[i] ?? -1])) as Record<keyof typeof FrameField, number>;
  return { ...out, reasonName: names[out.reason] ?? '?' };
}

const v6: PacketHeader = {
  family: 6, ethType: 0x86dd, src: new Uint8Array(16).fill(0x20), dst: new Uint8Array(16).fill(0x30), proto: 17, sport: 5353, dport: 53, inPort: 0, vni: undefined,
};

describe('frame parser', () => {
  const valid: [string, Uint8Array, number][] = [
    ['TCP/IPv4', buildFrame(ipv4Header(1, 2, 3, 4, 6)), 54],
    ['UDP/IPv4 in Q-in-Q', buildFrame(ipv4Header(1, 2, 3, 4, 17), { vlans: [5, 6] }), 50],
    ['UDP/IPv6 first fragment', buildFrame(v6, { fragment: 'first' }), 70],
    ['VXLAN carrying TCP', buildFrame(ipv4Header(1, 2, 3, 4, 6, { vni: 42 })), 104],
    ['ICMP', buildFrame(ipv4Header(1, 2, 0, 0, 1)), 38],
  ];

  it.each(valid)('rejects every truncation of %s and accepts the whole frame', (_, frame, headerBytes) => {
    expect(parseOne(frame).reasonName).toBe('none');
    expect(frame.length).toBeGreaterThanOrEqual(headerBytes);
    for (let len = 0; len < headerBytes; len++) {
      // Copy into an exact-size buffer so any over-read would leave the allocation.
      const cut = parseOne(frame.slice(0, len));
      expect(cut.reasonName, `length ${len}`).not.toBe('none');
    }
  });

  it('reads ports after IPv4 options and after an IPv6 extension-header chain', () => {
    const frame = buildFrame(ipv4Header(1, 2, 1111, 2222, 6));
    // Rebuild with IHL 6 (4 bytes of options: NOP NOP NOP EOL).
    const withOptions = new Uint8Array(frame.length + 4);
    withOptions.set(frame.subarray(0, 34));
    withOptions.set([1, 1, 1, 0], 34);
    withOptions.set(frame.subarray(34), 38);
    withOptions[14] = 0x46;
    withOptions[17] = (withOptions[17] ?? 0) + 4;
    expect(parseOne(withOptions)).toMatchObject({ reasonName: 'none', srcPort: 1111, dstPort: 2222, l4Offset: 38 });

    const base = buildFrame(v6);
    const ext = new Uint8Array([17, 0, 1, 4, 0, 0, 0, 0, /* dest opts -> UDP */]);
    const hop = new Uint8Array([60, 0, 1, 4, 0, 0, 0, 0 /* hop-by-hop -> dest opts */]);
    const chained = new Uint8Array(base.length + 16);
    chained.set(base.subarray(0, 54));
    chained[20] = 0; // next header: hop-by-hop
    chained[19] = (chained[19] ?? 0) + 16; // payload length
    chained.set(hop, 54);
    chained.set(ext, 62);
    chained.set(base.subarray(54), 70);
    expect(parseOne(chained)).toMatchObject({ reasonName: 'none', ipProto: 17, srcPort: 5353, dstPort: 53 });
    const looped = chained.slice();
    looped[62] = 60; // destination options pointing at destination options, eight times over
    expect(parseOne(looped).reasonName).not.toBe('none');
  });

  it('gives reasons for broken headers', () => {
    const tcp = buildFrame(ipv4Header(1, 2, 3, 4, 6));
    const badOffset = tcp.slice();
    badOffset[46] = 0x40;
    expect(parseOne(badOffset).reasonName).toBe('bad_tcp_data_offset');
    const udp = buildFrame(ipv4Header(1, 2, 3, 4, 17));
    const shortUdp = udp.slice();
    shortUdp[39] = 4;
    expect(parseOne(shortUdp).reasonName).toBe('bad_udp_length');
    const ihl = tcp.slice();
    ihl[14] = 0x44;
    expect(parseOne(ihl).reasonName).toBe('bad_ipv4_header_length');
    const deep = buildFrame(ipv4Header(1, 2, 3, 4, 6), { vlans: [1, 2, 3, 4, 5] });
    expect(parseOne(deep).reasonName).toBe('vlan_too_deep');
    const vxlan = buildFrame(ipv4Header(1, 2, 3, 4, 6, { vni: 42 }));
    const noI = vxlan.slice();
    noI[42] = 0x00;
    expect(parseOne(noI).reasonName).toBe('vxlan_flag_not_set');
    const reserved = vxlan.slice();
    reserved[42] = 0xff;
    reserved[49] = 0xff;
    expect(parseOne(reserved)).toMatchObject({ reasonName: 'none', vni: 42, dstPort: 4, ipProto: 6 });
    expect(parseOne(new Uint8Array([0x50, 0, 0, 0]), 12).reasonName).toBe('bad_ip_version');
  });

  it('accepts Ethernet padding, 802.3 length frames and non-IP frames', () => {
    const padded = new Uint8Array(80);
    padded.set(buildFrame(ipv4Header(1, 2, 3, 4, 1)));
    expect(parseOne(padded)).toMatchObject({ reasonName: 'none', ipProto: 1, srcPort: NO_PORT, vni: NO_VNI });
    const llc = new Uint8Array(60);
    llc[12] = 0;
    llc[13] = 46;
    expect(parseOne(llc)).toMatchObject({ reasonName: 'none', ethType: 0x05ff, family: 0 });
  });
});
