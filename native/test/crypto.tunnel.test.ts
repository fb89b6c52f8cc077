// ESP-style security associations: seal/open round trips on every path and
// across paths, the wire format checked independently with node:crypto,
// rejection of every single flipped byte, of replays (within a batch, across
// batches, below the 64-packet window) and of a wrong SPI; release and
// argument errors.
import { spawnSync } from 'node:child_process';
import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AesCbcKey, ESP_PAYLOAD_OFFSET, HmacSha256Key, SecurityAssociation, cryptoPath, cryptoPaths, packetBatch,
  sealedLength, setCryptoPath, type PacketLayout,
} from '../crypto.ts';
import { seeded, seededBytes } from './cryptoTestData.ts';

const original = cryptoPath().name;
afterAll(() => setCryptoPath(original));

const encryptionKey = randomBytes(32);
const authenticationKey = randomBytes(32);
const pair = (spi = 0x1234, enc: Uint8Array = encryptionKey, auth: Uint8Array = authenticationKey) => ({
  sender: new SecurityAssociation({ spi, encryptionKey: enc, authenticationKey: auth }),
  receiver: new SecurityAssociation({ spi, encryptionKey: enc, authenticationKey: auth }),
});

/** A copy of packet i of a sealed batch, as its own one-packet batch. */
function single(sealed: PacketLayout, i: number): { data: Uint8Array; offsets: number[]; lengths: number[] } {
  const o = sealed.offsets[i]!;
  return { data: sealed.data.slice(o, o + sealed.lengths[i]!), offsets: [0], lengths: [sealed.lengths[i]!] };
}

describe.each(cryptoPaths())('security associations on the %s path', (path) => {
  beforeAll(() => setCryptoPath(path));

  it('seal then open returns every payload, length and next header, for payloads of 0 to 3000 bytes', () => {
    const rand = seeded(99 + path.length);
    for (const keyBytes of [16, 24, 32]) {
      const { sender, receiver } = pair(0x1234, seededBytes(rand, keyBytes));
      const payloads = Array.from({ length: 37 }, (_, i) => seededBytes(rand, i < 20 ? i : rand(3001)));
      const nextHeaders = Uint8Array.from(payloads, (_, i) => (i % 2 ? 41 : 4));
      const sealed = sender.seal({ ...packetBatch(payloads), nextHeader: nextHeaders });
      sealed.lengths.forEach((n, i) => expect(n).toBe(sealedLength(payloads[i]!.length)));
      const opened = receiver.open(sealed);
      expect(opened.count).toBe(payloads.length);
      payloads.forEach((p, i) => {
        expect(opened.accepted[i]).toBe(1);
        expect(opened.payloadLengths[i]).toBe(p.length);
        expect(opened.nextHeaders[i]).toBe(nextHeaders[i]);
        const o = opened.payloadOffsets[i]!;
        expect(Buffer.from(sealed.data.subarray(o, o + p.length)).equals(p)).toBe(true);
      });
      expect(sender.state().nextSequence).toBe(38);
      expect(receiver.state().windowTop).toBe(37);
      sender.release();
      receiver.release();
    }
  });

  it('produces RFC 4303 packets: SPI, sequence, random IV, CBC of payload|1,2,..|pad length|next header, HMAC-SHA-256-128', () => {
    const { sender, receiver } = pair(0xabcdef01);
    const payload = randomBytes(45);
    const sealed = sender.seal({ ...packetBatch([payload, payload]), nextHeader: 17 });
    const pkt = Buffer.from(sealed.data.subarray(0, sealed.lengths[0]));
    expect(pkt.readUInt32BE(0)).toBe(0xabcdef01);
    expect(pkt.readUInt32BE(4)).toBe(1);
    expect(Buffer.from(sealed.data.subarray(sealed.offsets[1]! + 4, sealed.offsets[1]! + 8)).readUInt32BE(0)).toBe(2);
    // Fresh IVs: the same payload twice gives different IVs and ciphertexts.
    expect(pkt.subarray(8, 24).equals(Buffer.from(sealed.data.subarray(sealed.offsets[1]! + 8, sealed.offsets[1]! + 24)))).toBe(false);
    const icvAt = pkt.length - 16;
    const icv = createHmac('sha256', authenticationKey).update(pkt.subarray(0, icvAt)).digest().subarray(0, 16);
    expect(pkt.subarray(icvAt).equals(icv)).toBe(true);
    const d = createDecipheriv('aes-256-cbc', encryptionKey, pkt.subarray(8, 24)).setAutoPadding(false);
    const plain = Buffer.concat([d.update(pkt.subarray(24, icvAt)), d.final()]);
    expect(plain.length).toBe(48);
    expect(plain.subarray(0, 45).equals(payload)).toBe(true);
    expect([...plain.subarray(45)]).toEqual([1, 1, 17]); // one pad byte, pad length 1, next header 17
    sender.release();
    receiver.release();
  });

  it('rejects every single flipped byte of a sealed packet, and leaves the rejected packet untouched', () => {
    const { sender, receiver } = pair();
    const sealed = sender.seal(packetBatch([randomBytes(70)]));
    const pristine = Buffer.from(sealed.data);
    const n = pristine.length;
    // All n flipped copies in one batch; afterwards the genuine one must still open.
    const copies = packetBatch(Array.from({ length: n }, (_, i) => {
      const c = Buffer.from(pristine);
      c[i] = c[i]! ^ (1 << (i % 8));
      return c;
    }));
    const before = Buffer.from(copies.data);
    const opened = receiver.open(copies);
    expect(opened.count).toBe(0);
    expect([...opened.accepted].every((a) => a === 0)).toBe(true);
    expect(Buffer.from(copies.data).equals(before)).toBe(true);
    expect(receiver.state().windowTop).toBe(0); // forgeries do not move the window
    expect(receiver.open({ data: Buffer.from(pristine), offsets: [0], lengths: [n] }).count).toBe(1);
    sender.release();
    receiver.release();
  });

  it('rejects replays: a second copy in the same batch, a packet already opened, and one older than the window', () => {
    const { sender, receiver } = pair();
    const sealed = sender.seal(packetBatch(Array.from({ length: 100 }, () => randomBytes(20))));
    // Packet 0 twice in one batch: only the first copy is accepted.
    const twice = packetBatch([single(sealed, 0).data, single(sealed, 0).data]);
    expect([...receiver.open(twice).accepted]).toEqual([1, 0]);
    expect(receiver.open(single(sealed, 0)).count).toBe(0);
    // Jump to sequence 100, then 36 (64 behind) is too old but 37 (63 behind) is still new.
    expect(receiver.open(single(sealed, 99)).count).toBe(1);
    expect(receiver.open(single(sealed, 35)).count).toBe(0);
    expect(receiver.open(single(sealed, 36)).count).toBe(1);
    expect(receiver.open(single(sealed, 36)).count).toBe(0);
    // Out of order inside the window is fine, once.
    expect(receiver.open(single(sealed, 80)).count).toBe(1);
    expect(receiver.open(single(sealed, 50)).count).toBe(1);
    expect(receiver.open(single(sealed, 80)).count).toBe(0);
    expect(receiver.state().windowTop).toBe(100);
    sender.release();
    receiver.release();
  });

  it('rejects a packet sealed under another SPI, another authentication key, or cut short', () => {
    const { sender, receiver } = pair(0x1234);
    const other = pair(0x1235);
    const foreign = other.sender.seal(packetBatch([randomBytes(30)]));
    expect(receiver.open(foreign).count).toBe(0);
    const wrongKey = pair(0x1234, encryptionKey, randomBytes(32));
    expect(receiver.open(wrongKey.sender.seal(packetBatch([randomBytes(30)]))).count).toBe(0);
    const sealed = sender.seal(packetBatch([randomBytes(30)]));
    for (const cut of [0, 1, 16, 55, sealed.lengths[0]! - 1]) {
      expect(receiver.open({ data: sealed.data.slice(0, cut), offsets: [0], lengths: [cut] }).count, `cut to ${cut}`).toBe(0);
    }
    expect(receiver.open(sealed).count).toBe(1);
    for (const sa of [sender, receiver, other.sender, other.receiver, wrongKey.sender, wrongKey.receiver]) sa.release();
  });

  it('opens RFC 4303 packets built by node:crypto with up to 255 pad bytes, and rejects authentic ones with a bad trailer', () => {
    const receiver = new SecurityAssociation({ spi: 0x4321, encryptionKey, authenticationKey });
    let seq = 0;
    // payload | pad bytes | pad length | next header, encrypted and MACed independently of our code.
    const esp = (payload: Buffer, pad: Buffer, padLengthByte = pad.length) => {
      const plain = Buffer.concat([payload, pad, Buffer.from([padLengthByte, 6])]);
      expect(plain.length % 16).toBe(0);
      const header = Buffer.alloc(8);
      header.writeUInt32BE(0x4321, 0);
      header.writeUInt32BE(++seq, 4);
      const iv = randomBytes(16);
      const c = createCipheriv('aes-256-cbc', encryptionKey, iv).setAutoPadding(false);
      const body = Buffer.concat([header, iv, c.update(plain), c.final()]);
      const icv = createHmac('sha256', authenticationKey).update(body).digest().subarray(0, 16);
      return Buffer.concat([body, icv]);
    };
    const counting = (n: number) => Buffer.from(Array.from({ length: n }, (_, i) => i + 1));
    const cases: { packet: Buffer; payload?: Buffer }[] = [];
    for (const padLength of [0, 14, 30, 200, 254, 255]) {
      const payloadLength = (16 - ((padLength + 2) % 16)) % 16 + 16;
      const payload = randomBytes(payloadLength);
      cases.push({ packet: esp(payload, counting(padLength)), payload });
    }
    const bad1 = counting(14);
    bad1[3] = 9; // a pad byte out of sequence
    cases.push({ packet: esp(randomBytes(16), bad1) });
    cases.push({ packet: esp(randomBytes(0), counting(30), 200) }); // pad length beyond the ciphertext
    cases.push({ packet: esp(randomBytes(14), Buffer.alloc(0), 15) }); // claims pad bytes that are payload
    const batch = packetBatch(cases.map((c) => c.packet));
    const opened = receiver.open(batch);
    cases.forEach((c, i) => {
      expect(opened.accepted[i], `case ${i}`).toBe(c.payload ? 1 : 0);
      if (c.payload) {
        expect(opened.payloadLengths[i]).toBe(c.payload.length);
        expect(opened.nextHeaders[i]).toBe(6);
        const o = opened.payloadOffsets[i]!;
        expect(Buffer.from(batch.data.subarray(o, o + c.payload.length)).equals(c.payload)).toBe(true);
      } else {
        const o = batch.offsets[i]! + ESP_PAYLOAD_OFFSET;
        const cipherBytes = batch.lengths[i]! - ESP_PAYLOAD_OFFSET - 16;
        expect(batch.data.subarray(o, o + cipherBytes).every((x) => x === 0), 'a rejected plaintext is wiped').toBe(true);
      }
    });
    receiver.release();
  });

  it('opens packets sealed on every other path', () => {
    for (const from of cryptoPaths()) {
      setCryptoPath(from);
      const { sender, receiver } = pair();
      const payloads = Array.from({ length: 19 }, (_, i) => randomBytes(i * 37));
      const sealed = sender.seal(packetBatch(payloads));
      setCryptoPath(path);
      expect(receiver.open(sealed).count, `sealed on ${from}`).toBe(19);
      sender.release();
      receiver.release();
    }
  });
});

describe('keys and arguments', () => {
  it('a released key or SA throws on use, and releasing twice is harmless', () => {
    const aes = new AesCbcKey(randomBytes(16));
    aes.release();
    aes.release();
    expect(() => aes.encrypt({ data: new Uint8Array(16), offsets: [0], lengths: [16], ivs: new Uint8Array(16) }))
      .toThrow(/released/);
    const { sender } = pair();
    sender.release();
    expect(() => sender.seal(packetBatch([new Uint8Array(1)]))).toThrow(/released/);
    const mac = new HmacSha256Key(randomBytes(32));
    mac.release();
    expect(() => mac.mac(packetBatch([new Uint8Array(1)]))).toThrow(/released/);
  });

  it('rejects bad keys and SPIs with what was wrong', () => {
    expect(() => new AesCbcKey(new Uint8Array(20))).toThrow('AES key must be 16, 24 or 32 bytes, got 20');
    expect(() => new SecurityAssociation({ spi: 7, encryptionKey, authenticationKey })).toThrow(/spi must be an integer from 256/);
    expect(() => new SecurityAssociation({ spi: 2 ** 32, encryptionKey, authenticationKey })).toThrow(/spi/);
    expect(() => new SecurityAssociation({ spi: 300, encryptionKey, authenticationKey: new Uint8Array(16) }))
      .toThrow(/authenticationKey must be 32 bytes/);
    expect(() => new AesCbcKey('0123456789abcdef' as unknown as Uint8Array)).toThrow(TypeError);
  });

  it('bounds-checks every packet and says which one is wrong', () => {
    const aes = new AesCbcKey(randomBytes(16));
    const data = new Uint8Array(64);
    const ivs = new Uint8Array(32);
    expect(() => aes.encrypt({ data, offsets: [0, 56], lengths: [16, 16], ivs }))
      .toThrow('packet 1 at offset 56 needs 16 bytes of data (up to byte 72) but data has 64');
    expect(() => aes.encrypt({ data, offsets: [0, 16], lengths: [16, 20], ivs }))
      .toThrow(/packet 1 .* not a multiple of the 16-byte AES block/);
    expect(() => aes.encrypt({ data, offsets: [0, 16], lengths: [32, 16], ivs }))
      .toThrow(/packet 0 \(offset 0, length 32\) overlaps packet 1/);
    expect(() => aes.encrypt({ data, offsets: [16, 0], lengths: [16, 32], ivs }))
      .toThrow(/packet 1 \(offset 0, length 32\) overlaps packet 0/);
    expect(() => aes.encrypt({ data, offsets: [32, 0], lengths: [16, 16], ivs })).not.toThrow();
    expect(() => aes.encrypt({ data, offsets: [0, 16], lengths: [16], ivs }))
      .toThrow('lengths has 1 entries but the batch has 2 packets');
    expect(() => aes.encrypt({ data, offsets: [0, 16], lengths: [16, 16], ivs: new Uint8Array(16) }))
      .toThrow(/ivs has 16 bytes but 2 packets need 16 each/);
    expect(() => aes.encrypt({ data, offsets: [0, 16], lengths: [16, 16], ivs, out: data.subarray(8) }))
      .toThrow(/out overlaps data/);
    expect(() => aes.encrypt({ data, offsets: [-1], lengths: [16], ivs: ivs.subarray(0, 16) }))
      .toThrow('offsets[0] must be an integer from 0 to 2^32-1, got -1');
    expect(() => aes.encrypt({ data, offsets: [0], lengths: [64], ivs: ivs.subarray(0, 16), padding: 'pkcs7' }))
      .toThrow('packet 0 at offset 0 needs 80 bytes of out (up to byte 80) but out has 64');
    aes.release();
    const { sender, receiver } = pair();
    expect(() => sender.seal({ data, offsets: [0], lengths: [65] })).toThrow('packet 0 at offset 0 needs 65 bytes of data (up to byte 65) but data has 64');
    expect(() => sender.seal({ data, offsets: [0], lengths: [10] }, new Uint8Array(40))).toThrow('packet 0 at offset 0 needs 56 bytes of out (up to byte 56) but out has 40');
    expect(() => receiver.open({ data, offsets: [0, 8], lengths: [16, 16] })).toThrow(/overlaps/);
    sender.release();
    receiver.release();
  });

  it('HMAC verify refuses a tag of the wrong length instead of comparing a prefix', () => {
    const mac = new HmacSha256Key(randomBytes(32));
    const batch = packetBatch([randomBytes(10)]);
    const full = mac.mac(batch);
    expect(mac.verify(batch, full, 32)[0]).toBe(1);
    expect(mac.verify(batch, full.subarray(0, 16), 16)[0]).toBe(1);
    expect(() => mac.verify(batch, full.subarray(0, 15), 16)).toThrow(/tags has 15 bytes/);
    expect(() => mac.verify(batch, full.subarray(0, 8), 8)).toThrow(/tagLength must be 16 to 32/);
    const padded = new Uint8Array(32);
    padded.set(full.subarray(0, 16));
    expect(mac.verify(batch, padded, 32)[0]).toBe(0);
    mac.release();
  });

  it('garbage collection finalizes dropped and released handles without a crash or double free', () => {
    // A child Node with --expose-gc: keys, HMAC keys and SAs created in bulk, half
    // released by hand, all dropped, then collected; finalizers wipe and free.
    const module = fileURLToPath(new URL('../crypto.ts', import.meta.url));
    const script = `
      const c = await import(${JSON.stringify(module)});
      for (let round = 0; round < 20; round++) {
        for (let i = 0; i < 200; i++) {
          const key = new c.AesCbcKey(new Uint8Array(32));
          const mac = new c.HmacSha256Key(new Uint8Array(32));
          const sa = new c.SecurityAssociation({ spi: 1000 + i, encryptionKey: new Uint8Array(16), authenticationKey: new Uint8Array(32) });
          if (i % 2) { key.release(); mac.release(); sa.release(); }
        }
        globalThis.gc();
        await new Promise((r) => setImmediate(r));
      }
      console.log('finalized');`;
    const run = spawnSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(run.stderr).not.toMatch(/error|fault|abort|double free/i);
    expect(run.stdout.trim()).toBe('finalized');
    expect(run.status).toBe(0);
  }, 60_000);

  it('payload offsets of an opened batch point past the ESP header and IV', () => {
    const { sender, receiver } = pair();
    const sealed = sender.seal(packetBatch([randomBytes(5), randomBytes(6)]));
    const opened = receiver.open(sealed);
    expect([...opened.payloadOffsets]).toEqual([...sealed.offsets].map((o) => o + ESP_PAYLOAD_OFFSET));
    sender.release();
    receiver.release();
  });
});
