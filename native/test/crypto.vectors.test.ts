// Every vector of the crypto test data, valid and invalid, on every dispatch
// path this CPU has: Wycheproof aes_cbc_pkcs5, hmac_sha256 (full and
// truncated tags) and a128cbc_hs256; NIST SP 800-38A and RFC 3602 CBC; RFC
// 4231 HMAC; Intel's cbc_test.json. Known-answer CBC vectors also run inside
// batches of random packets so they land in different lanes.
import { createCipheriv } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AesCbcKey, HmacSha256Key, cryptoPath, cryptoPaths, packetBatch, pkcs7Length, setCryptoPath } from '../crypto.ts';
import { hex, knownAnswers, seeded, seededBytes, wycheproof } from './cryptoTestData.ts';

const original = cryptoPath().name;
afterAll(() => setCryptoPath(original));

function cbcNoPad(key: Buffer, iv: Buffer, plain: Buffer): Buffer {
  const c = createCipheriv(`aes-${key.length * 8}-cbc`, key, iv).setAutoPadding(false);
  return Buffer.concat([c.update(plain), c.final()]);
}

function encryptOne(key: Buffer, iv: Buffer, msg: Buffer, pkcs7: boolean): Buffer {
  const k = new AesCbcKey(key);
  const data = Buffer.alloc(msg.length + 16);
  msg.copy(data);
  k.encrypt({ data, offsets: [0], lengths: [msg.length], ivs: iv, padding: pkcs7 ? 'pkcs7' : 'none' });
  k.release();
  return data.subarray(0, pkcs7 ? pkcs7Length(msg.length) : msg.length);
}

function decryptOne(key: Buffer, iv: Buffer, ct: Buffer, pkcs7: boolean): Buffer | null {
  const k = new AesCbcKey(key);
  const data = Buffer.from(ct);
  const [n] = k.decrypt({ data, offsets: [0], lengths: [ct.length], ivs: iv, padding: pkcs7 ? 'pkcs7' : 'none' });
  k.release();
  return n === undefined || n < 0 ? null : data.subarray(0, n);
}

describe.each(cryptoPaths())('crypto vectors on the %s path', (path) => {
  beforeAll(() => setCryptoPath(path));

  it('Wycheproof aes_cbc_pkcs5: valid cases encrypt and decrypt exactly, invalid padding is rejected', () => {
    let valid = 0;
    let invalid = 0;
    for (const group of wycheproof.aesCbc().testGroups) {
      for (const t of group.tests) {
        const [key, iv, msg, ct] = [hex(t.key), hex(t.iv), hex(t.msg), hex(t.ct)];
        if (t.result === 'valid') {
          expect(encryptOne(key, iv, msg, true).toString('hex'), `tcId ${t.tcId}`).toBe(t.ct);
          expect(decryptOne(key, iv, ct, true)?.toString('hex'), `tcId ${t.tcId}`).toBe(t.msg);
          valid++;
        } else {
          expect(decryptOne(key, iv, ct, true), `tcId ${t.tcId} (${t.flags.join(',')})`).toBeNull();
          invalid++;
        }
      }
    }
    expect([valid, invalid]).toEqual([72, 144]);
  });

  it('Wycheproof hmac_sha256: full and 128-bit truncated tags verify, modified tags do not', () => {
    let count = 0;
    for (const group of wycheproof.hmac().testGroups) {
      const tagBytes = group.tagSize / 8;
      for (const t of group.tests) {
        const key = new HmacSha256Key(hex(t.key));
        const msg = hex(t.msg);
        const batch = { data: msg, offsets: [0], lengths: [msg.length] };
        const tag = hex(t.tag);
        expect(tag.length).toBe(tagBytes);
        expect(key.verify(batch, tag, tagBytes)[0], `tcId ${t.tcId}`).toBe(t.result === 'valid' ? 1 : 0);
        if (t.result === 'valid') {
          expect(Buffer.from(key.mac(batch)).subarray(0, tagBytes).toString('hex')).toBe(t.tag);
        }
        key.release();
        count++;
      }
    }
    expect(count).toBe(174);
  });

  it('Wycheproof a128cbc_hs256: the tag is checked before decryption; valid cases round-trip', () => {
    let valid = 0;
    let rejected = 0;
    for (const group of wycheproof.a128cbcHs256().testGroups) {
      for (const t of group.tests) {
        const key = hex(t.key);
        const [iv, aad, ct, msg] = [hex(t.iv), hex(t.aad), hex(t.ct), hex(t.msg)];
        const al = Buffer.alloc(8);
        al.writeBigUInt64BE(BigInt(aad.length * 8));
        const macInput = Buffer.concat([aad, iv, ct, al]);
        const mac = new HmacSha256Key(key.subarray(0, 16));
        const ok = mac.verify({ data: macInput, offsets: [0], lengths: [macInput.length] }, hex(t.tag), 16)[0];
        mac.release();
        if (t.result === 'valid') {
          expect(ok, `tcId ${t.tcId}`).toBe(1);
          expect(decryptOne(key.subarray(16), iv, ct, true)?.toString('hex'), `tcId ${t.tcId}`).toBe(t.msg);
          expect(encryptOne(key.subarray(16), iv, msg, true).toString('hex'), `tcId ${t.tcId}`).toBe(t.ct);
          valid++;
        } else {
          expect(ok, `tcId ${t.tcId}`).toBe(0);
          rejected++;
        }
      }
    }
    expect([valid, rejected]).toEqual([67, 27]);
  });

  it('NIST SP 800-38A and RFC 3602 CBC vectors, alone and inside batches of random packets', () => {
    const file = knownAnswers.nistAndRfc();
    expect(file.aes_cbc.length).toBe(10);
    for (const v of file.aes_cbc) {
      const [key, iv, pt, ct] = [hex(v.key), hex(v.iv), hex(v.plaintext), hex(v.ciphertext)];
      if (v.direction !== 'decrypt') expect(encryptOne(key, iv, pt, false).toString('hex'), v.id).toBe(v.ciphertext);
      if (v.direction !== 'encrypt') expect(decryptOne(key, iv, ct, false)?.toString('hex'), v.id).toBe(v.plaintext);
      checkInMixedBatches(key, iv, pt, ct, v.id);
    }
  });

  it("Intel intel-ipsec-mb cbc_test.json (no padding), alone and inside batches", () => {
    let count = 0;
    for (const group of knownAnswers.intelCbc().testGroups) {
      for (const t of group.tests) {
        const [key, iv, msg, ct] = [hex(t.key), hex(t.iv), hex(t.msg), hex(t.ct)];
        expect(encryptOne(key, iv, msg, false).toString('hex'), `tcId ${t.tcId}`).toBe(t.ct);
        expect(decryptOne(key, iv, ct, false)?.toString('hex'), `tcId ${t.tcId}`).toBe(t.msg);
        checkInMixedBatches(key, iv, msg, ct, `intel tcId ${t.tcId}`);
        count++;
      }
    }
    expect(count).toBe(7);
  });

  it('RFC 4231 HMAC-SHA-256 test cases 1-7, including the truncated case 5', () => {
    const file = knownAnswers.nistAndRfc();
    expect(file.hmac_sha256.length).toBe(7);
    for (const v of file.hmac_sha256) {
      const key = new HmacSha256Key(hex(v.key));
      const data = hex(v.data);
      const batch = { data, offsets: [0], lengths: [data.length] };
      expect(Buffer.from(key.mac(batch)).subarray(0, v.macBits / 8).toString('hex'), v.id).toBe(v.mac);
      expect(key.verify(batch, hex(v.mac), v.macBits / 8)[0], v.id).toBe(1);
      key.release();
    }
  });
});

// Places the vector at every position of a 19-packet batch (more than one
// round of lanes on every path) among random packets of other lengths under
// the same key, in place and into a separate buffer.
function checkInMixedBatches(key: Buffer, iv: Buffer, pt: Buffer, ct: Buffer, id: string): void {
  const rand = seeded(pt.length * 31 + key.length);
  const k = new AesCbcKey(key);
  for (const position of [0, 5, 18]) {
    const packets: Buffer[] = [];
    const ivs: Buffer[] = [];
    for (let i = 0; i < 19; i++) {
      packets.push(i === position ? pt : seededBytes(rand, 16 * rand(40)));
      ivs.push(i === position ? iv : seededBytes(rand, 16));
    }
    const batch = packetBatch(packets, 3);
    const ivBytes = Buffer.concat(ivs);
    const out = new Uint8Array(batch.data.length);
    k.encrypt({ ...batch, ivs: ivBytes, out });
    packets.forEach((p, i) => {
      const got = Buffer.from(out.subarray(batch.offsets[i], batch.offsets[i]! + p.length));
      const want = i === position ? ct : cbcNoPad(key, ivs[i]!, p);
      expect(got.equals(want), `${id} at position ${position}, packet ${i}`).toBe(true);
    });
    k.decrypt({ ...batch, data: out, ivs: ivBytes });
    packets.forEach((p, i) => {
      expect(Buffer.from(out.subarray(batch.offsets[i], batch.offsets[i]! + p.length)).equals(p), `${id} decrypt ${i}`).toBe(true);
    });
  }
  k.release();
}
