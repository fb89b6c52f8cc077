/**
 * Tar archives written member by member (ustar headers), so that a test can
 * make exactly the bad bundle it needs (a device file, a set-uid file, a link
 * out) without root or a tar that refuses to write it.
 */
export interface TarMember {
  name: string;
  /** ustar type flag: '0' file (default), '2' symlink, '1' hard link, '3' char device, '5' directory, '6' FIFO... */
  type?: string;
  mode?: number;
  data?: Buffer | string;
  linkname?: string;
}

function put(header: Buffer, at: number, length: number, text: string): void {
  header.write(text, at, Math.min(length, Buffer.byteLength(text)), 'utf8');
}

function octal(header: Buffer, at: number, length: number, value: number): void {
  put(header, at, length, `${value.toString(8).padStart(length - 1, '0')}\0`);
}

export function tarArchive(members: readonly TarMember[]): Buffer {
  const blocks: Buffer[] = [];
  for (const m of members) {
    const data = Buffer.from(m.data ?? '');
    const header = Buffer.alloc(512);
    put(header, 0, 100, m.name);
    octal(header, 100, 8, m.mode ?? (m.type === '5' ? 0o755 : 0o644));
    octal(header, 108, 8, 0);
    octal(header, 116, 8, 0);
    octal(header, 124, 12, data.length);
    octal(header, 136, 12, 1_700_000_000);
    header.fill(0x20, 148, 156);
    put(header, 156, 1, m.type ?? '0');
    put(header, 157, 100, m.linkname ?? '');
    put(header, 257, 8, 'ustar\x0000');
    let sum = 0;
    for (const b of header) sum += b;
    put(header, 148, 8, `${sum.toString(8).padStart(6, '0')}\0 `);
    blocks.push(header, data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}
