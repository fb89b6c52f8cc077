// Checksums a service rewrites, judged by a real tool: frames (TCP, UDP and
// ICMP over IPv4, TCP and UDP over IPv6, one with Ethernet padding) get
// random payloads and zeroed checksums, setTransportChecksum and
// setIpv4HeaderChecksum fix them, and tshark, validating checksums, calls
// every one good.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { writePcapFrames } from '../../console/labTrafficSource.ts';
import { toolAvailable } from '../../../test/support/packetSamples.ts';
import { frameLayout, setIpv4HeaderChecksum, setTransportChecksum } from './packetHeaders.ts';

function frame(version: 4 | 6, protocol: number, payload: number, pad = 0): Uint8Array {
  const l4 = protocol === 6 ? 20 : 8;
  const ipLength = (version === 4 ? 20 : 40) + l4 + payload;
  const f = Buffer.alloc(14 + ipLength + pad);
  f.writeUInt16BE(version === 4 ? 0x0800 : 0x86dd, 12);
  if (version === 4) {
    f[14] = 0x45;
    f.writeUInt16BE(ipLength, 16);
    f[22] = 64;
    f[23] = protocol;
    Buffer.from([198, 18, 10, 1, 198, 18, 20, 1]).copy(f, 26);
  } else {
    f[14] = 0x60;
    f.writeUInt16BE(ipLength - 40, 18);
    f[20] = protocol;
    f[21] = 64;
    Buffer.from('2001000200000000000000000000000120010002000000000000000000000002', 'hex').copy(f, 22);
  }
  const t = version === 4 ? 34 : 54;
  if (protocol === 6) f[t + 12] = 0x50;
  else if (protocol === 17) f.writeUInt16BE(8 + payload, t + 4);
  else f[t] = 8; // ICMP echo request
  randomBytes(payload).copy(f, t + l4);
  return new Uint8Array(f);
}

describe.skipIf(!toolAvailable('tshark'))('checksums after a payload changed', () => {
  test('tshark finds every transport and IPv4 header checksum good', () => {
    const frames = [frame(4, 6, 1000), frame(4, 17, 333), frame(4, 1, 56), frame(6, 6, 777), frame(6, 17, 21), frame(4, 6, 5, 12)];
    for (const f of frames) {
      const l = frameLayout(f);
      expect(l).not.toBeNull();
      if (!l) continue;
      if (l.version === 4) setIpv4HeaderChecksum(f, l.ip);
      setTransportChecksum(f, l);
    }
    const dir = mkdtempSync(join(tmpdir(), 'pcloud-checksums-'));
    try {
      const file = join(dir, 'frames.pcap');
      writePcapFrames(file, frames);
      const out = execFileSync('tshark', ['-r', file, '-o', 'tcp.check_checksum:TRUE', '-o', 'udp.check_checksum:TRUE', '-o', 'ip.check_checksum:TRUE', '-T', 'fields', '-e', 'ip.checksum.status', '-e', 'tcp.checksum.status', '-e', 'udp.checksum.status', '-e', 'icmp.checksum_bad'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
      const rows = out.replace(/\n$/, '').split('\n').map((l) => l.split('\t'));
      expect(rows).toHaveLength(frames.length);
      // Status 1 is "good"; IPv4 UDP carries no checksum (3, "not present", which RFC 768 allows).
      expect(rows.map((r) => r.slice(0, 3).join(','))).toEqual(['1,1,', '1,,3', '1,,', ',1,', ',,1', '1,1,']);
      expect(rows[2]?.[3]).not.toBe('1');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
