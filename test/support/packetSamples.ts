/**
 * Packet samples as the data plane would hand them over (real Ethernet/IPv4/UDP
 * frames between 198.18.0.0/15 hosts), and the Wireshark tools that read
 * what the consumers write. The tools are Debian packages (tshark,
 * wireshark-common, pmacct): tests that need one skip without it locally,
 * and run (and fail, saying which package) in CI, which installs them.
 */
import { spawnSync } from 'node:child_process';
import type { PacketSample } from '../../main/controller/packetSample.ts';

/** True when `tool` runs; in CI a missing tool is not a reason to skip. */
export function toolAvailable(tool: string, versionFlag = '--version'): boolean {
  if (process.env.CI) return true;
  const r = spawnSync(tool, [versionFlag], { stdio: 'ignore' });
  return r.error === undefined;
}

export interface ToolRun {
  stdout: string;
  stderr: string;
}

// tshark says this on every run as root (CI runs as root); it is about tshark, not the file it reads.
const rootNotice = /^Running as user "root" and group "root"\. This could be dangerous\.$/;

/** Runs a Wireshark tool; throws with its stderr when it fails or warns about anything. */
export function runWiresharkTool(tool: string, args: string[], debianPackage: string): ToolRun {
  const r = spawnSync(tool, args, { encoding: 'utf8', maxBuffer: 256 * 2 ** 20 });
  if (r.error) throw new Error(`${tool} did not run (Debian package ${debianPackage}): ${r.error.message}`);
  const warnings = r.stderr.split('\n').filter((l) => l.trim() !== '' && !rootNotice.test(l.trim()));
  if (r.status !== 0 || warnings.length > 0) {
    throw new Error(`${tool} ${args.join(' ')} exited ${r.status} with:\n${warnings.join('\n')}`);
  }
  return { stdout: r.stdout, stderr: r.stderr };
}

function ipv4Checksum(header: Buffer): number {
  let sum = 0;
  for (let i = 0; i < header.length; i += 2) sum += header.readUInt16BE(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/**
 * The first `captured` bytes of an Ethernet/IPv4/UDP frame of `wireLength`
 * bytes from 198.18.<host>.1 to 198.19.<host>.2, payload bytes counting up.
 */
export function udpFrame(host: number, wireLength: number, captured = Math.min(wireLength, 256)): Uint8Array {
  const frame = Buffer.alloc(Math.max(wireLength, 42));
  Buffer.from([0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00]).copy(frame, 0);
  const ip = frame.subarray(14, 34);
  ip.writeUInt8(0x45, 0);
  ip.writeUInt16BE(wireLength - 14, 2);
  ip.writeUInt8(64, 8);
  ip.writeUInt8(17, 9);
  Buffer.from([198, 18, host & 0xff, 1]).copy(ip, 12);
  Buffer.from([198, 19, host & 0xff, 2]).copy(ip, 16);
  ip.writeUInt16BE(ipv4Checksum(ip), 10);
  frame.writeUInt16BE(40000 + (host & 0xff), 34);
  frame.writeUInt16BE(9, 36);
  frame.writeUInt16BE(wireLength - 34, 38);
  for (let i = 42; i < frame.length; i += 1) frame[i] = i & 0xff;
  return new Uint8Array(frame.subarray(0, captured));
}

/** A sample of VI `viId` at ms `at`; everything else overridable. */
export function packetSample(viId: string, at: number, over: Partial<PacketSample> = {}): PacketSample {
  const wireLength = over.wireLength ?? 600;
  return {
    at,
    ns: 0,
    viId,
    ruleId: `${viId}#0`,
    direction: 'to_vi',
    verdict: 'to_vi',
    vni: 4242,
    wireLength,
    samplingRate: 64,
    samplePool: 64,
    drops: 0,
    bytes: udpFrame(at % 250, wireLength),
    ...over,
  };
}

/** tshark's frame.time_epoch for a sample: seconds, a dot, nine digits of nanoseconds. */
export function epochText(s: Pick<PacketSample, 'at' | 'ns'>): string {
  const ns = BigInt(s.at) * 1_000_000n + BigInt(s.ns);
  return `${ns / 1_000_000_000n}.${(ns % 1_000_000_000n).toString().padStart(9, '0')}`;
}
