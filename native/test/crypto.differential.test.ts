// Differential tests against node:crypto (OpenSSL) on every dispatch path:
// random keys (128/192/256), IVs and lengths from 0 to 9,000 bytes, batch
// sizes that are not multiples of any lane count, buffers that start at odd
// addresses, packets at odd offsets with gaps, in place and out of place,
// without padding (block multiples) and with PKCS#7 (any length).
import { spawnSync } from 'node:child_process';
import { createCipheriv, createDecipheriv, createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AesCbcKey, HmacSha256Key, cryptoPath, cryptoPaths, hmacSha256, packetBatch, pkcs7Length, setCryptoPath } from '../crypto.ts';
import { addonPath } from '../index.ts';
import { seeded, seededBytes } from './cryptoTestData.ts';

const original = cryptoPath().name;
afterAll(() => setCryptoPath(original));

const BATCH_SIZES = [1, 2, 3, 7, 9, 17, 31, 33, 64, 65];

interface RandomBatch {
  data: Uint8Array;       // a view starting at an odd address inside a larger buffer
  offsets: number[];
  lengths: number[];
  packets: Buffer[];
  capacity: number[];     // bytes reserved at each offset
}

// Packets at odd offsets with 0-4 byte gaps, inside a view that starts 1-15
// bytes into its ArrayBuffer, so neither packets nor the buffer are aligned.
function randomBatch(rand: (n: number) => number, count: number, lengthOf: () => number, room = 16): RandomBatch {
  const packets = Array.from({ length: count }, () => seededBytes(rand, lengthOf()));
  const offsets: number[] = [];
  const capacity: number[] = [];
  let at = rand(5);
  for (const p of packets) {
    offsets.push(at);
    capacity.push(p.length + room);
    at += p.length + room + rand(5);
  }
  const shift = 1 + rand(15);
  const data = new Uint8Array(new ArrayBuffer(at + shift + 7), shift, at);
  packets.forEach((p, i) => data.set(p, offsets[i]));
  return { data, offsets, lengths: packets.map((p) => p.length), packets, capacity };
}

function nodeCbc(encrypt: boolean, key: Buffer, iv: Buffer, input: Buffer, pad: boolean): Buffer {
  const c = encrypt ? createCipheriv(`aes-${key.length * 8}-cbc`, key, iv) : createDecipheriv(`aes-${key.length * 8}-cbc`, key, iv);
  c.setAutoPadding(pad);
  return Buffer.concat([c.update(input), c.final()]);
}

const slice = (b: Uint8Array, o: number, n: number) => Buffer.from(b.subarray(o, o + n));

describe.each(cryptoPaths())('differential against node:crypto on the %s path', (path) => {
  beforeAll(() => setCryptoPath(path));
  // The portable path is ~100x slower than the hardware ones; it gets fewer bytes.
  const maxBlocks = path === 'portable' ? 120 : 563; // 563 * 16 = 9,008 bytes

  it('CBC without padding: encrypt and decrypt, in place and out of place, match OpenSSL', () => {
    const rand = seeded(0xc0ffee + path.length);
    for (const count of BATCH_SIZES) {
      const key = seededBytes(rand, [16, 24, 32][rand(3)]!);
      const aes = new AesCbcKey(key);
      const b = randomBatch(rand, count, () => 16 * rand(maxBlocks));
      const ivs = seededBytes(rand, 16 * count);
      const iv = (i: number) => ivs.subarray(16 * i, 16 * i + 16);
      const expected = b.packets.map((p, i) => nodeCbc(true, key, iv(i), p, false));

      const out = new Uint8Array(b.data.length);
      aes.encrypt({ ...b, ivs, out });
      expected.forEach((e, i) => expect(slice(out, b.offsets[i]!, e.length).equals(e), `batch ${count} packet ${i} out-of-place`).toBe(true));

      aes.encrypt({ ...b, ivs });
      expected.forEach((e, i) => expect(slice(b.data, b.offsets[i]!, e.length).equals(e), `batch ${count} packet ${i} in place`).toBe(true));

      const plain = new Uint8Array(b.data.length);
      const lengths = aes.decrypt({ ...b, ivs, out: plain });
      expect([...lengths]).toEqual(b.lengths);
      b.packets.forEach((p, i) => expect(slice(plain, b.offsets[i]!, p.length).equals(p), `decrypt out-of-place ${i}`).toBe(true));

      aes.decrypt({ ...b, ivs });
      b.packets.forEach((p, i) => expect(slice(b.data, b.offsets[i]!, p.length).equals(p), `decrypt in place ${i}`).toBe(true));
      aes.release();
    }
  });

  it('CBC with PKCS#7: any length 0..9000 encrypts like OpenSSL and decrypts back; tampered padding is -1', () => {
    const rand = seeded(0xbadc0de + path.length);
    for (const count of [1, 5, 13, 40]) {
      const key = seededBytes(rand, [16, 24, 32][rand(3)]!);
      const aes = new AesCbcKey(key);
      const b = randomBatch(rand, count, () => rand(maxBlocks * 16 + 1));
      const ivs = seededBytes(rand, 16 * count);
      const iv = (i: number) => ivs.subarray(16 * i, 16 * i + 16);
      aes.encrypt({ ...b, ivs, padding: 'pkcs7' });
      const outLengths = b.lengths.map(pkcs7Length);
      b.packets.forEach((p, i) => {
        const e = nodeCbc(true, key, iv(i), p, true);
        expect(outLengths[i]).toBe(e.length);
        expect(slice(b.data, b.offsets[i]!, e.length).equals(e), `packet ${i} (${p.length} bytes)`).toBe(true);
      });
      const cipherLengths = [...outLengths];
      // Corrupt the last byte of the second-to-last block of odd packets:
      // that flips the last plaintext byte, which is the pad length.
      const tampered = new Set<number>();
      b.packets.forEach((_, i) => {
        if (i % 2 === 1 && cipherLengths[i]! >= 32) {
          const at = b.offsets[i]! + cipherLengths[i]! - 17;
          b.data[at] = b.data[at]! ^ 0x40;
          tampered.add(i);
        }
      });
      const results = aes.decrypt({ data: b.data, offsets: b.offsets, lengths: cipherLengths, ivs, padding: 'pkcs7' });
      b.packets.forEach((p, i) => {
        if (tampered.has(i)) {
          expect(results[i], `tampered packet ${i}`).toBe(-1);
          expect(slice(b.data, b.offsets[i]!, cipherLengths[i]!).every((x) => x === 0), 'rejected output is zeroed').toBe(true);
        } else {
          expect(results[i]).toBe(p.length);
          expect(slice(b.data, b.offsets[i]!, p.length).equals(p)).toBe(true);
        }
      });
      aes.release();
    }
  });

  it('HMAC-SHA-256: random keys (0-200 bytes) and messages (0-9000 bytes) match node:crypto', () => {
    const rand = seeded(0x5a5a + path.length);
    for (const count of BATCH_SIZES) {
      const key = seededBytes(rand, rand(201));
      const mac = new HmacSha256Key(key);
      const b = randomBatch(rand, count, () => rand(path === 'portable' ? 3000 : 9001), 0);
      const tags = mac.mac(b);
      b.packets.forEach((p, i) => {
        const want = createHmac('sha256', key).update(p).digest();
        expect(Buffer.from(tags.subarray(32 * i, 32 * i + 32)).equals(want), `key ${key.length} B, message ${p.length} B`).toBe(true);
      });
      // Block-boundary lengths, where padding spills into a second block: one
      // at a time, and as one batch (large enough for the multi-buffer engines).
      const edges = [0, 1, 55, 56, 63, 64, 65, 119, 120, 127, 128, 183, 184].map((n) => seededBytes(rand, n));
      for (const msg of edges) {
        expect(Buffer.from(hmacSha256(key, msg)).equals(createHmac('sha256', key).update(msg).digest()), `length ${msg.length}`).toBe(true);
      }
      const edgeBatch = packetBatch(edges);
      const edgeTags = mac.mac(edgeBatch);
      edges.forEach((msg, i) => {
        const want = createHmac('sha256', key).update(msg).digest();
        expect(Buffer.from(edgeTags.subarray(32 * i, 32 * i + 32)).equals(want), `batched length ${msg.length}`).toBe(true);
      });
      mac.release();
    }
  });
});

describe('dispatch paths', () => {
  it('lists portable last and always; the active path is the first listed unless changed', () => {
    const paths = cryptoPaths();
    expect(paths.at(-1)).toBe('portable');
    expect(paths).toContain(original);
    expect(original).toBe(paths[0]);
  });

  it('refuses a path the CPU does not have, naming the ones it has', () => {
    const missing = (['vaes512', 'vaes256', 'aesni', 'armv8'] as const).find((p) => !cryptoPaths().includes(p));
    if (missing) expect(() => setCryptoPath(missing)).toThrow(/not available on this CPU; available: .*portable/);
    expect(() => setCryptoPath('bogus' as never)).toThrow(RangeError);
  });

  it.runIf(process.platform === 'linux')('the addon imports no OpenSSL symbols (Electron ships BoringSSL instead)', () => {
    const nm = spawnSync('nm', ['-D', '--undefined-only', addonPath()], { encoding: 'utf8' });
    expect(nm.status, 'nm (binutils) must be installed').toBe(0);
    const imported = nm.stdout.split('\n').map((l) => l.trim().split(/\s+/).pop() ?? '');
    expect(imported).toContain('getrandom@GLIBC_2.25');
    expect(imported.filter((s) => /EVP_|OPENSSL|SSL_|CRYPTO_|RAND_|SHA256|AES_|HMAC/i.test(s))).toEqual([]);
  });

  it('every path produces the same bytes for the same input', () => {
    const rand = seeded(77);
    const key = seededBytes(rand, 32);
    const b = randomBatch(rand, 21, () => 16 * rand(100));
    const ivs = seededBytes(rand, 16 * 21);
    const results = cryptoPaths().map((p) => {
      setCryptoPath(p);
      const out = new Uint8Array(b.data.length);
      const aes = new AesCbcKey(key);
      aes.encrypt({ ...b, ivs, out });
      aes.release();
      return Buffer.from(out).toString('hex');
    });
    setCryptoPath(original);
    expect(new Set(results).size).toBe(1);
  });
});
