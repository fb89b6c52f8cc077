/**
 * aes-encrypt: the paper's computationally intensive test service (sec. 5.1).
 * Every IP packet's transport payload is encrypted with AES-256-CBC and the
 * packet goes back to the router towards its destination, the same size:
 * the whole 16-byte blocks of the payload are encrypted in place (a tail
 * shorter than a block stays as it was) and the transport checksum is fixed,
 * so the receiver accepts what arrives. One native call per batch encrypts
 * every packet of the batch (the addon's batched AES-CBC).
 *
 * It measures the cost of per-packet cryptography on the data path; it is not
 * a confidentiality service (every packet starts from the same IV, so equal
 * payloads give equal ciphertexts): the IPsec tunnel is that.
 *
 * Arguments: key (64 hex digits, AES-256; a random key when absent, so a
 * benchmark needs none), iv (32 hex digits; zeros when absent). The key is a
 * secret: the catalog keeps it out of API answers.
 *
 * Counters: packets (encrypted), bytes (encrypted bytes), passed (not IP or
 * with no whole block of payload: forwarded unchanged).
 */
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { AesCbcKey } from '../../native/crypto.ts';
import { hexArg, readArgs, runsAsProgram, type ServiceDescriptor } from './sdk/descriptor.ts';
import { frameLayout, setTransportChecksum } from './sdk/packetHeaders.ts';
import { runRingService, type RingBatch } from './sdk/ringService.ts';
import { ServiceCounters } from './sdk/serviceCounters.ts';

export const descriptor: ServiceDescriptor = {
  program: 'aes-encrypt',
  summary: "AES-256-CBC over each packet's payload, returned to the router (the paper's sec. 5.1 test service)",
  mode: 'transparent',
  port: { kind: 'ring', layout: 'single' },
  args: z.strictObject({
    key: hexArg([32]).describe('AES-256 key, 64 hex digits (secret; random when absent)').optional(),
    iv: hexArg([16]).describe('CBC initial vector, 32 hex digits (zeros when absent)').optional(),
  }) as z.ZodType<Record<string, string>>,
  secretArgs: ['key'],
  availability: () => null,
};

/** Encrypts the payloads of a received batch in place and forwards every frame. */
export class PayloadEncryptor {
  private readonly key: AesCbcKey;
  private readonly ivs: Uint8Array;
  private readonly offsets: Uint32Array;
  private readonly lengths: Uint32Array;
  readonly counters: ServiceCounters;

  constructor(key: Uint8Array, iv: Uint8Array, capacity: number, counters: ServiceCounters) {
    this.key = new AesCbcKey(key);
    this.ivs = new Uint8Array(16 * capacity);
    for (let i = 0; i < capacity; i++) this.ivs.set(iv, 16 * i);
    this.offsets = new Uint32Array(capacity);
    this.lengths = new Uint32Array(capacity);
    this.counters = counters;
  }

  onBatch(batch: RingBatch): void {
    let n = 0;
    let bytes = 0;
    const layouts = [];
    for (let i = 0; i < batch.count; i++) {
      const frame = batch.frame(i);
      const l = frameLayout(frame);
      const blocks = l ? (l.end - l.payload) & ~15 : 0;
      if (!l || blocks === 0) {
        layouts.push(null);
        continue;
      }
      this.offsets[n] = (batch.offsets[i] ?? 0) + l.payload;
      this.lengths[n] = blocks;
      bytes += blocks;
      n++;
      layouts.push(l);
    }
    if (n > 0) {
      this.key.encrypt({ data: batch.buffer, offsets: this.offsets.subarray(0, n), lengths: this.lengths.subarray(0, n), ivs: this.ivs.subarray(0, 16 * n) });
    }
    for (let i = 0; i < batch.count; i++) {
      const l = layouts[i];
      if (l) setTransportChecksum(batch.frame(i), l);
      batch.forward(i);
    }
    this.counters.add('packets', n);
    this.counters.add('bytes', bytes);
    this.counters.add('passed', batch.count - n);
  }

  /** Wipes the key. */
  release(): void {
    this.key.release();
  }
}

if (runsAsProgram('aes-encrypt', import.meta.url)) {
  const args = readArgs(descriptor);
  const key = args.key ? Buffer.from(args.key, 'hex') : randomBytes(32);
  const iv = args.iv ? Buffer.from(args.iv, 'hex') : Buffer.alloc(16);
  const encryptor = new PayloadEncryptor(key, iv, 64, new ServiceCounters());
  key.fill(0);
  try {
    const { received } = await runRingService({ onBatch: (b) => encryptor.onBatch(b), counters: encryptor.counters }, { batchSize: 64 });
    process.stdout.write(`aes-encrypt: stopped after ${received} packets\n`);
  } finally {
    encryptor.release();
  }
}
