/**
 * pcapng of samples the traffic view holds (the selection or the filtered
 * view), written in the browser: the same layout as the controller's evidence
 * export (main/controller/pcapng.ts, which the renderer may not import: it
 * is built on Node's Buffer). One Ethernet interface per VI and direction
 * ("vi-r-12/to_vi", if_tsresol 9 for the samples' nanoseconds, snaplen 256),
 * one Enhanced Packet Block per sample with a comment naming VI, rule,
 * verdict, VNI and sampling rate. Little-endian, one section.
 */
import { sampleVerdicts, type SampleVerdict } from './capturedSample.ts';

export interface PcapngSample {
  at: number;
  ns: number;
  viId: string;
  ruleId: string;
  direction: 'to_vi' | 'from_vi';
  verdict: SampleVerdict;
  vni: number;
  wireLength: number;
  samplingRate: number;
  cloudletId?: string;
  bytes: Uint8Array;
}

const SNAPLEN = 256;
const encoder = new TextEncoder();
const pad4 = (n: number): number => (n + 3) & ~3;

interface Option {
  code: number;
  value: Uint8Array;
}

class BlockWriter {
  private readonly chunks: Uint8Array[] = [];

  block(type: number, body: Uint8Array, options: readonly Option[]): void {
    const optionsLength = options.length === 0 ? 0 : options.reduce((n, o) => n + 4 + pad4(o.value.length), 4);
    const total = 8 + pad4(body.length) + optionsLength + 4;
    const out = new Uint8Array(total);
    const view = new DataView(out.buffer);
    view.setUint32(0, type, true);
    view.setUint32(4, total, true);
    out.set(body, 8);
    let at = 8 + pad4(body.length);
    for (const o of options) {
      if (o.value.length > 0xffff) throw new RangeError(`pcapng option ${o.code} holds ${o.value.length} bytes, more than 65535`);
      view.setUint16(at, o.code, true);
      view.setUint16(at + 2, o.value.length, true);
      out.set(o.value, at + 4);
      at += 4 + pad4(o.value.length);
    }
    // The end-of-options word is already zero.
    view.setUint32(total - 4, total, true);
    this.chunks.push(out);
  }

  bytes(): Uint8Array {
    const total = this.chunks.reduce((n, c) => n + c.length, 0);
    const out = new Uint8Array(total);
    let at = 0;
    for (const c of this.chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  }
}

export function sampleComment(s: PcapngSample): string {
  return `VI ${s.viId}, rule ${s.ruleId}, verdict ${s.verdict}, VNI ${s.vni}, sampled 1-in-${s.samplingRate}${s.cloudletId ? `, cloudlet ${s.cloudletId}` : ''}`;
}

export function samplesPcapng(samples: readonly PcapngSample[], application: string): Uint8Array {
  const w = new BlockWriter();
  const shb = new Uint8Array(16);
  const shbView = new DataView(shb.buffer);
  shbView.setUint32(0, 0x1a2b3c4d, true);
  shbView.setUint16(4, 1, true);
  shbView.setUint16(6, 0, true);
  // Section length unknown (-1): readers walk the blocks.
  shbView.setBigInt64(8, -1n, true);
  w.block(0x0a0d0d0a, shb, [{ code: 4, value: encoder.encode(application) }]);
  const interfaces = new Map<string, number>();
  for (const s of samples) {
    const name = `${s.viId}/${s.direction}`;
    let id = interfaces.get(name);
    if (id === undefined) {
      id = interfaces.size;
      interfaces.set(name, id);
      const idb = new Uint8Array(8);
      const v = new DataView(idb.buffer);
      v.setUint16(0, 1, true); // LINKTYPE_ETHERNET
      v.setUint32(4, SNAPLEN, true);
      w.block(0x00000001, idb, [
        { code: 2, value: encoder.encode(name) },
        { code: 9, value: Uint8Array.of(9) },
      ]);
    }
    const data = s.bytes.subarray(0, SNAPLEN);
    const epb = new Uint8Array(20 + data.length);
    const v = new DataView(epb.buffer);
    const ns = BigInt(s.at) * 1_000_000n + BigInt(s.ns);
    v.setUint32(0, id, true);
    v.setUint32(4, Number(ns >> 32n), true);
    v.setUint32(8, Number(ns & 0xffff_ffffn), true);
    v.setUint32(12, data.length, true);
    v.setUint32(16, Math.max(s.wireLength, data.length), true);
    epb.set(data, 20);
    w.block(0x00000006, epb, [{ code: 1, value: encoder.encode(sampleComment(s)) }]);
  }
  return w.bytes();
}

/**
 * Reads back samples from pcapng written as above or by the controller's
 * evidence export (the same layout): interface names give VI and direction,
 * packet comments give rule, verdict, VNI and sampling rate. Blocks of other
 * types are skipped; a file this did not write is refused with the reason.
 */
export function readSamplesPcapng(bytes: Uint8Array): PcapngSample[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const decoder = new TextDecoder();
  if (bytes.length < 12 || view.getUint32(0, true) !== 0x0a0d0d0a || view.getUint32(8, true) !== 0x1a2b3c4d) {
    throw new Error('not a little-endian pcapng file (no section header at the start)');
  }
  const interfaces: { viId: string; direction: 'to_vi' | 'from_vi' }[] = [];
  const out: PcapngSample[] = [];
  for (let at = 0; at + 12 <= bytes.length; ) {
    const type = view.getUint32(at, true);
    const length = view.getUint32(at + 4, true);
    if (length < 12 || at + length > bytes.length) throw new Error(`pcapng block at byte ${at} claims ${length} bytes, past the end of the file`);
    const options = (from: number): Map<number, Uint8Array> => {
      const found = new Map<number, Uint8Array>();
      for (let o = from; o + 4 <= at + length - 4; ) {
        const code = view.getUint16(o, true);
        const len = view.getUint16(o + 2, true);
        if (code === 0) break;
        found.set(code, bytes.subarray(o + 4, o + 4 + len));
        o += 4 + pad4(len);
      }
      return found;
    };
    if (type === 0x00000001) {
      const name = decoder.decode(options(at + 16).get(2) ?? new Uint8Array());
      const slash = name.lastIndexOf('/');
      const direction = name.slice(slash + 1);
      interfaces.push({ viId: name.slice(0, slash), direction: direction === 'from_vi' ? 'from_vi' : 'to_vi' });
    } else if (type === 0x00000006) {
      const iface = interfaces[view.getUint32(at + 8, true)];
      if (!iface) throw new Error(`pcapng packet at byte ${at} names an interface that was not declared`);
      const ns = (BigInt(view.getUint32(at + 12, true)) << 32n) | BigInt(view.getUint32(at + 16, true));
      const caplen = view.getUint32(at + 20, true);
      const comment = decoder.decode(options(at + 28 + pad4(caplen)).get(1) ?? new Uint8Array());
      const m = /rule (\S*), verdict (\S+), VNI (\d+), sampled 1-in-(\d+)/.exec(comment);
      out.push({
        at: Number(ns / 1_000_000n),
        ns: Number(ns % 1_000_000n),
        viId: iface.viId,
        direction: iface.direction,
        ruleId: m?.[1] ?? '',
        verdict: sampleVerdicts.find((v) => v === m?.[2]) ?? 'to_vi',
        vni: Number(m?.[3] ?? 0),
        samplingRate: Number(m?.[4] ?? 1),
        wireLength: view.getUint32(at + 24, true),
        // A copy, and a plain Uint8Array even when the file came as a Node Buffer.
        bytes: new Uint8Array(bytes.subarray(at + 28, at + 28 + caplen)),
      });
    }
    at += length;
  }
  return out;
}
