/**
 * A sample as the traffic view holds it: the controller's PacketSampleView
 * plus the cloudlet it came from, with its bytes (base64 on the wire) and
 * its decoding made on first need. The list decodes only the rows it shows;
 * a display filter decodes each held sample once (the store keeps its
 * verdict); only the summary is kept here.
 */
import type { PacketSampleView } from '../../../main/protocol/controllerApi.ts';
import type { FilterablePacket, SampleMeta } from './displayFilter.ts';
import { base64Bytes, decodePacket, type DecodedPacket, type FieldValue, type PacketSummary } from './packetDecode.ts';
import type { PcapngSample } from './samplePcapng.ts';

import { sampleVerdicts, type SampleVerdict } from '../../../main/protocol/vocabulary.ts';

export { sampleVerdicts, type SampleVerdict };

export class CapturedSample implements FilterablePacket, PcapngSample {
  readonly meta: SampleMeta;
  readonly at: number;
  readonly ns: number;
  private readonly base64: string | undefined;
  private raw: Uint8Array | undefined;
  /**
   * The list's summary, kept; the tree and the filter fields are made again when needed: keeping
   * them for 100,000 samples cost ten times the decoding in garbage collection (measured).
   */
  private kept: PacketSummary | undefined;

  /** From the wire (bytes in base64) or from a pcapng file (bytes as they are). */
  constructor(view: Omit<PacketSampleView, 'bytes' | 'samplePool' | 'drops'> & { bytes: string | Uint8Array }, cloudletId: string) {
    this.at = view.at;
    this.ns = view.ns;
    if (typeof view.bytes === 'string') this.base64 = view.bytes;
    else this.raw = view.bytes;
    this.meta = {
      viId: view.viId,
      ruleId: view.ruleId,
      direction: view.direction,
      verdict: view.verdict,
      vni: view.vni,
      wireLength: view.wireLength,
      samplingRate: view.samplingRate,
      cloudletId,
    };
  }

  get viId(): string {
    return this.meta.viId;
  }
  get ruleId(): string {
    return this.meta.ruleId;
  }
  get direction(): 'to_vi' | 'from_vi' {
    return this.meta.direction;
  }
  get verdict(): SampleVerdict {
    return this.meta.verdict;
  }
  get vni(): number {
    return this.meta.vni;
  }
  get wireLength(): number {
    return this.meta.wireLength;
  }
  get samplingRate(): number {
    return this.meta.samplingRate;
  }
  get cloudletId(): string | undefined {
    return this.meta.cloudletId;
  }

  get bytes(): Uint8Array {
    return (this.raw ??= base64Bytes(this.base64 ?? ''));
  }

  /** The full decoding with its tree, for the opened packet (not kept: 100,000 trees would weigh on memory). */
  decode(): DecodedPacket {
    const d = decodePacket(this.bytes);
    this.kept ??= d.summary;
    return d;
  }

  summary(): PacketSummary {
    return (this.kept ??= decodePacket(this.bytes).summary);
  }

  fields(): Map<string, FieldValue[]> {
    return this.decode().fields;
  }
}
