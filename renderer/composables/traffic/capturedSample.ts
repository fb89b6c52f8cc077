/**
 * A sample as the traffic view holds it: the controller's PacketSampleView
 * plus the cloudlet it came from, with its bytes (base64 on the wire) and
 * its decoding made on first need and kept. The list decodes only the rows
 * it shows; a display filter decodes each held sample once.
 */
import type { PacketSampleView } from '../../../main/protocol/controllerApi.ts';
import type { FilterablePacket, SampleMeta } from './displayFilter.ts';
import { base64Bytes, decodePacket, type DecodedPacket, type FieldValue } from './packetDecode.ts';
import type { PcapngSample } from './samplePcapng.ts';

export class CapturedSample implements FilterablePacket, PcapngSample {
  readonly meta: SampleMeta;
  readonly at: number;
  readonly ns: number;
  private readonly base64: string;
  private raw: Uint8Array | undefined;
  private decoded: DecodedPacket | undefined;

  constructor(view: PacketSampleView, cloudletId: string) {
    this.at = view.at;
    this.ns = view.ns;
    this.base64 = view.bytes;
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
  get verdict(): string {
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
    return (this.raw ??= base64Bytes(this.base64));
  }

  decode(): DecodedPacket {
    return (this.decoded ??= decodePacket(this.bytes));
  }

  fields(): Map<string, FieldValue[]> {
    return this.decode().fields;
  }
}
