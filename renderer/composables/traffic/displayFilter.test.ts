import { describe, expect, test } from 'vitest';
import { compileFilter, filterable, type SampleMeta } from './displayFilter.ts';
import { decodePacket } from './packetDecode.ts';
import { conversationFilter } from './trafficEstimate.ts';
import { eth, icmpEcho, ipv4, tcp, udp } from '../../../test/support/sampleFrames.ts';

const meta: SampleMeta = { viId: 'vi-r-12', ruleId: 'rule-1', direction: 'to_vi', verdict: 'to_vi', vni: 100, wireLength: 60, samplingRate: 10 };

function packet(bytes: number[], m: Partial<SampleMeta> = {}) {
  return filterable({ ...meta, ...m }, () => Uint8Array.from(bytes));
}

const web = packet(eth(0x0800, ipv4('10.1.2.3', '198.18.0.5', 6, tcp(40000, 80))));
const dns = packet(eth(0x0800, ipv4('198.18.0.9', '10.2.0.1', 17, udp(5353, 53))), { direction: 'from_vi', verdict: 'drop', viId: 'vi-r-13' });
const ping = packet(eth(0x0800, ipv4('10.1.9.9', '198.18.0.5', 1, icmpEcho), 42), { verdict: 'spoofing' });
// VXLAN around an inner TCP packet: ip.src occurs twice.
const tunnelled = packet(eth(0x0800, ipv4('198.18.1.1', '198.18.1.2', 17, udp(50000, 4789, [0x08, 0, 0, 0, 0, 0, 7, 0, ...eth(0x0800, ipv4('172.16.0.1', '172.16.0.2', 6, tcp(1234, 443)))]))));
const all = { web, dns, ping, tunnelled };

function matching(text: string): string[] {
  const f = compileFilter(text);
  if (!f.ok) throw new Error(`${text}: ${f.message} at ${f.at}`);
  return Object.entries(all)
    .filter(([, p]) => f.matches(p))
    .map(([name]) => name);
}

describe('display filters', () => {
  test.each([
    ['', ['web', 'dns', 'ping', 'tunnelled']],
    ['ip.src == 10.1.0.0/16 && tcp.port == 80', ['web']],
    ['icmp', ['ping']],
    ['vi == "vi-r-12"', ['web', 'ping', 'tunnelled']],
    ['vi == vi-r-13', ['dns']],
    ['verdict == "drop"', ['dns']],
    ['dir == "from_vi"', ['dns']],
    ['!icmp and not udp', ['web']],
    ['udp.port == 53 || tcp.dstport == 80', ['web', 'dns']],
    ['ip.addr == 198.18.0.5', ['web', 'ping']],
    ['ip.dst != 198.18.0.5', ['dns', 'tunnelled']],
    ['ip.src == 172.16.0.1', ['tunnelled']],
    ['vxlan.vni == 7 && tcp.port == 443', ['tunnelled']],
    ['vlan.id == 42', ['ping']],
    ['frame.len > 59 && frame.len <= 60', ['web', 'dns', 'ping', 'tunnelled']],
    ['port >= 5000 && (udp || tcp.flags == 0x02) ', ['web', 'dns', 'tunnelled']],
    ['port >= 5000 && udp.port == 53', ['dns']],
    ['vi contains "r-1"', ['web', 'dns', 'ping', 'tunnelled']],
    ['ip.src == 0.0.0.0/0', ['web', 'dns', 'ping', 'tunnelled']],
    ['ipv6', []],
  ])('%s', (text, expected) => {
    expect(matching(text)).toEqual(expected);
  });

  test.each([
    ['ip.src = 10.0.0.1', '"=" alone is not an operator: compare with "=="', 7],
    ['tcp.port == 80 &', '"&" alone is not an operator: write "&&"', 15],
    ['ip.source == 1.2.3.4', 'unknown field "ip.source"', 0],
    ['tcp.prt == 80', 'unknown field "tcp.prt" (did you mean "tcp.port"?)', 0],
    ['ip.src == 10.1.0.0/33', '"/33" is not a prefix length (0 to 32) (field "ip.src")', 10],
    ['ip.src == 10.1.300.1', '"10.1.300.1" is not an IPv4 address (field "ip.src")', 10],
    ['ip.src > 10.0.0.1', 'addresses compare with "==" or "!=" (a prefix such as 10.1.0.0/16 matches every address in it), not ">"', 9],
    ['tcp.port == http', '"tcp.port" is a number: "http" is not one', 12],
    ['verdict == "dropped"', '"dropped" is not a verdict: one of "to_vi", "legacy", "drop", "forward", "spoofing", "policed"', 11],
    ['dir == "out"', '"out" is not a dir: one of "to_vi", "from_vi"', 7],
    ['vi == "vi-r-12', 'the string is not closed: add a closing "', 6],
    ['(icmp || udp', 'missing ")"', 12],
    ['icmp)', 'a ")" without its "("', 4],
    ['icmp udp', 'expected "&&" or "||" before "udp"', 5],
    ['tcp.port ==', 'expected a value after "=="', 11],
    ['icmp &&', 'the expression ends too soon: something must follow', 7],
    ['tcp == 1', '"tcp" is a protocol: use it alone (e.g. "tcp") or compare one of its fields', 4],
    ['vi < "a"', '"vi" is text: compare with "==", "!=" or "contains", not "<"', 5],
    ['80', 'expected a field name (e.g. ip.src, tcp.port, vi), not "80"', 0],
    ['ip.src == 10.0.0.1 ; x', 'unexpected ";"', 19],
  ])('%s is refused: %s', (text, message, at) => {
    expect(compileFilter(text)).toEqual({ ok: false, message, at });
  });

  test('IPv6 prefixes and addresses', () => {
    const v6 = [0x60, 0, 0, 0, 0, 8, 17, 64, 0x20, 0x01, 0x0d, 0xb8, ...new Array<number>(11).fill(0), 1, 0x20, 0x01, 0x0d, 0xb9, ...new Array<number>(11).fill(0), 2, ...udp(1000, 2000)];
    const p = packet(eth(0x86dd, v6));
    const check = (text: string) => {
      const f = compileFilter(text);
      if (!f.ok) throw new Error(f.message);
      return f.matches(p);
    };
    expect(check('ipv6.src == 2001:db8::/32')).toBe(true);
    expect(check('ipv6.addr == 2001:db9::2')).toBe(true);
    expect(check('ipv6.dst == 2001:db8::/32')).toBe(false);
    expect(check('ip.src == 10.0.0.0/8')).toBe(false);
    expect(decodePacket(Uint8Array.from(eth(0x86dd, v6))).summary).toMatchObject({ src: '2001:db8::1', dst: '2001:db9::2', protocol: 'UDP' });
    expect(compileFilter('ipv6.src == 2001:db8:::1')).toMatchObject({ ok: false, message: '"2001:db8:::1" is not an IPv6 address (field "ipv6.src")' });
  });

  test('following a conversation matches both of its directions and nothing else', () => {
    const flow = decodePacket(Uint8Array.from(eth(0x0800, ipv4('10.1.2.3', '198.18.0.5', 6, tcp(40000, 80))))).summary.flow;
    if (!flow) throw new Error('no flow');
    const filter = compileFilter(conversationFilter(flow));
    if (!filter.ok) throw new Error(filter.message);
    const reply = packet(eth(0x0800, ipv4('198.18.0.5', '10.1.2.3', 6, tcp(80, 40000, 0x12))));
    const otherPort = packet(eth(0x0800, ipv4('198.18.0.5', '10.1.2.3', 6, tcp(81, 40000, 0x12))));
    expect([web, reply, otherPort, dns].map((p) => filter.matches(p))).toEqual([true, true, false, false]);
  });

  test('a packet cut short by the capture keeps the layers it has and says where it was cut', () => {
    const full = eth(0x0800, ipv4('10.1.2.3', '198.18.0.5', 6, tcp(40000, 80)));
    const d = decodePacket(Uint8Array.from(full.slice(0, 40)));
    expect(d.layers.map((l) => l.label)).toEqual([
      'Ethernet II, 02:00:00:00:00:01 → 02:00:00:00:00:02',
      'Internet Protocol Version 4, Src: 10.1.2.3, Dst: 198.18.0.5',
      'Transmission Control Protocol [cut short: the sample holds 6 byte(s) of it]',
    ]);
    // A filter on the missing port does not match, and does not throw.
    const f = compileFilter('tcp.port == 80');
    expect(f.ok && f.matches(packet(full.slice(0, 40)))).toBe(false);
  });

  test('every field node covers the bytes it was read from', () => {
    const bytes = Uint8Array.from(eth(0x0800, ipv4('10.1.2.3', '198.18.0.5', 6, tcp(40000, 80)), 7));
    const d = decodePacket(bytes);
    const nodes = d.layers.flatMap((l) => l.children ?? []);
    const src = nodes.find((n) => n.field === 'ip.src');
    expect(src && [...bytes.subarray(src.start, src.start + src.length)]).toEqual([10, 1, 2, 3]);
    const port = nodes.find((n) => n.field === 'tcp.dstport');
    expect(port && [...bytes.subarray(port.start, port.start + port.length)]).toEqual([0, 80]);
    const vlan = nodes.find((n) => n.field === 'vlan.id');
    expect(vlan?.label).toBe('ID: 7');
  });
});
