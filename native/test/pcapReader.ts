// Test-only reader for libpcap and pcapng capture files (the formats in
// ../shared/testdata/pcap). The magic number decides the format, never the
// file name: one ".pcap" there is really pcapng.
import { readFileSync } from 'node:fs';

export interface CapturedFrame {
  linkType: number;
  data: Uint8Array; // the captured bytes
  wireLength: number;
}

function readPcap(buf: Uint8Array, view: DataView): CapturedFrame[] {
  const magic = view.getUint32(0, true);
  const le = magic === 0xa1b2c3d4 || magic === 0xa1b23c4d;
  const linkType = view.getUint32(20, le) & 0xffff;
  const frames: CapturedFrame[] = [];
  for (let o = 24; o + 16 <= buf.length; ) {
    const cap = view.getUint32(o + 8, le);
    const wire = view.getUint32(o + 12, le);
    if (o + 16 + cap > buf.length) throw new Error(`pcap record at ${o} runs past the file`);
    frames.push({ linkType, data: buf.subarray(o + 16, o + 16 + cap), wireLength: wire });
    o += 16 + cap;
  }
  return frames;
}

function readPcapng(buf: Uint8Array, view: DataView): CapturedFrame[] {
  const frames: CapturedFrame[] = [];
  let le = true;
  let links: number[] = [];
  for (let o = 0; o + 12 <= buf.length; ) {
    let type = view.getUint32(o, le);
    if (type === 0x0a0d0d0a) {
      le = view.getUint32(o + 8, true) === 0x1a2b3c4d;
      type = 0x0a0d0d0a;
      links = [];
    }
    const len = view.getUint32(o + 4, le);
    if (len < 12 || o + len > buf.length) throw new Error(`pcapng block at ${o} has bad length ${len}`);
    if (type === 1) links.push(view.getUint16(o + 8, le));
    if (type === 6) {
      const iface = view.getUint32(o + 8, le);
      const cap = view.getUint32(o + 20, le);
      const wire = view.getUint32(o + 24, le);
      frames.push({ linkType: links[iface] ?? 1, data: buf.subarray(o + 28, o + 28 + cap), wireLength: wire });
    }
    if (type === 3) {
      const wire = view.getUint32(o + 8, le);
      frames.push({ linkType: links[0] ?? 1, data: buf.subarray(o + 12, o + 12 + Math.min(wire, len - 16)), wireLength: wire });
    }
    o += len;
  }
  return frames;
}

export function readCapture(path: string): CapturedFrame[] {
  const buf = new Uint8Array(readFileSync(path));
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const magic = view.getUint32(0, true);
  if (magic === 0x0a0d0d0a) return readPcapng(buf, view);
  if ([0xa1b2c3d4, 0xd4c3b2a1, 0xa1b23c4d, 0x4d3cb2a1].includes(magic)) return readPcap(buf, view);
  throw new Error(`${path}: not a pcap or pcapng file (magic 0x${magic.toString(16)})`);
}
