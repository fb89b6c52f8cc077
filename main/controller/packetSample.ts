/**
 * A packet sample as the data plane hands it to JavaScript (sFlow semantics:
 * random 1-in-N per demux rule, with the rule's sample pool and drops), and
 * the one check of its fields that every consumer (the evidence ring, the
 * pcapng writer, the sFlow exporter) relies on. The native binding produces
 * these in batches; a malformed one is a bug in the binding, so the check
 * names the field and the value instead of letting a consumer write a broken
 * file or datagram.
 */

import type { PacketSample } from '../../native/dataplane.ts';

export type SampleDirection = PacketSample['direction'];
export type SampleVerdict = PacketSample['verdict'];

export const SAMPLE_DIRECTIONS: readonly SampleDirection[] = ['to_vi', 'from_vi'];
export const SAMPLE_VERDICTS: readonly SampleVerdict[] = ['to_vi', 'legacy', 'drop', 'forward', 'spoofing', 'policed'];

/** At most this many bytes of the inner Ethernet frame travel with a sample (the pcapng snaplen). */
export const MAX_CAPTURED_BYTES = 256;

/**
 * The sample itself is declared once, by the data plane that produces it
 * (native/dataplane.ts); the controller names its VI and rule ids
 * (dataPath.ts) before any consumer sees it.
 */
export type { PacketSample };

const isUint = (n: unknown, max: number): n is number => typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= max;

/** Why a sample is unusable, or null when every field is in range. */
export function sampleProblem(s: PacketSample): string | null {
  if (!isUint(s.at, Number.MAX_SAFE_INTEGER)) return `at ${String(s.at)} is not a time in integer ms`;
  if (!isUint(s.ns, 999_999)) return `ns ${String(s.ns)} is not 0..999999`;
  if (typeof s.viId !== 'string' || s.viId.length > 128) return 'viId is not a string of at most 128 characters';
  if (typeof s.ruleId !== 'string' || s.ruleId.length > 128) return 'ruleId is not a string of at most 128 characters';
  if (!SAMPLE_DIRECTIONS.includes(s.direction)) return `direction "${String(s.direction)}" is not to_vi or from_vi`;
  if (!SAMPLE_VERDICTS.includes(s.verdict)) return `verdict "${String(s.verdict)}" is not one of ${SAMPLE_VERDICTS.join(', ')}`;
  if (!isUint(s.vni, 0xffffff)) return `vni ${String(s.vni)} is not a 24-bit VXLAN network identifier`;
  if (!isUint(s.wireLength, 0xffff_ffff)) return `wireLength ${String(s.wireLength)} is not a frame length`;
  if (!isUint(s.samplingRate, 0xffff_ffff) || s.samplingRate < 1) return `samplingRate ${String(s.samplingRate)} is not 1-in-N with N >= 1`;
  if (!isUint(s.samplePool, Number.MAX_SAFE_INTEGER)) return `samplePool ${String(s.samplePool)} is not a counter`;
  if (!isUint(s.drops, Number.MAX_SAFE_INTEGER)) return `drops ${String(s.drops)} is not a counter`;
  if (!(s.bytes instanceof Uint8Array)) return 'bytes is not a Uint8Array';
  if (s.bytes.length > MAX_CAPTURED_BYTES) return `bytes holds ${s.bytes.length} bytes, more than the ${MAX_CAPTURED_BYTES} captured per sample`;
  return null;
}

export class SampleError extends Error {
  override name = 'SampleError';
}

export function checkPacketSample(s: PacketSample, where: string): void {
  const problem = sampleProblem(s);
  if (problem) throw new SampleError(`${where}: ${problem}`);
}

/** The captured bytes a consumer may record: never more than the frame had on the wire. */
export function capturedBytes(s: PacketSample): Uint8Array {
  return s.bytes.length > s.wireLength ? s.bytes.subarray(0, s.wireLength) : s.bytes;
}

/** Nanoseconds since the epoch, exact (a double cannot hold them). */
export function sampleTimeNs(s: Pick<PacketSample, 'at' | 'ns'>): bigint {
  return BigInt(s.at) * 1_000_000n + BigInt(s.ns);
}
