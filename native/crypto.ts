// Typed API of the crypto fast path: batched AES-CBC, HMAC-SHA-256 and
// ESP-style security associations, implemented in native/src/crypto/.
//
// A batch is one buffer plus per-packet offsets and lengths, so a controller
// can hand the addon a whole receive ring without copying packets apart.
// Keys are copied into native memory when a key object is created and never
// come back: JavaScript holds only an opaque handle. Call release() when a key
// is retired (it wipes the key at once); a dropped object is wiped when
// garbage-collected, which may be much later. The caller's own copy of the key
// bytes is the caller's to wipe (`key.fill(0)` once the object exists).
//
// Path selection (setCryptoPath) is process-wide and meant for tests and
// benchmarks; production code leaves the fastest path chosen at load.
//
// Padding rule for CBC: with padding 'none' (the default, and what ESP uses,
// since its trailer already pads) every length must be a multiple of 16 or the
// call throws. With 'pkcs7' encryption appends 1-16 bytes (out must have room
// at each offset for the padded length) and decryption reports -1 for a
// packet whose padding is wrong. Unauthenticated PKCS#7 decryption is a padding
// oracle by nature; tunnel traffic goes through SecurityAssociation.open,
// which checks the ICV before decrypting.
import { loadBinding } from './loader.ts';

/** Names of the dispatch paths. Which exist depends on the CPU. */
export type CryptoPathName = 'vaes512' | 'vaes256' | 'aesni' | 'armv8' | 'portable';

declare const handleBrand: unique symbol;
type NativeHandle = { readonly [handleBrand]: 'crypto-handle' };

interface CryptoBinding {
  cryptoPaths(): CryptoPathName[];
  cryptoPathInfo(): { name: CryptoPathName; sha256: string };
  setCryptoPath(name: string): void;
  aesKeyCreate(key: Uint8Array): NativeHandle;
  aesKeyRelease(key: NativeHandle): void;
  aesCbcEncrypt(key: NativeHandle, data: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, ivs: Uint8Array,
    out: Uint8Array, pkcs7: boolean): void;
  aesCbcDecrypt(key: NativeHandle, data: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, ivs: Uint8Array,
    out: Uint8Array, pkcs7: boolean, results: Int32Array): void;
  hmacKeyCreate(key: Uint8Array): NativeHandle;
  hmacKeyRelease(key: NativeHandle): void;
  hmacSha256(key: NativeHandle, data: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, tags: Uint8Array): void;
  hmacVerify(key: NativeHandle, data: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, tags: Uint8Array,
    tagLength: number, results: Uint8Array): void;
  saCreate(spi: number, encryptionKey: Uint8Array, authenticationKey: Uint8Array): NativeHandle;
  saRelease(sa: NativeHandle): void;
  saState(sa: NativeHandle): SecurityAssociationState;
  saSeal(sa: NativeHandle, data: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, nextHeaders: Uint8Array,
    out: Uint8Array, outOffsets: Uint32Array): void;
  saOpen(sa: NativeHandle, data: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, accepted: Uint8Array,
    payloadLengths: Uint32Array, nextHeaders: Uint8Array): number;
}

// Loaded on first use: index.ts re-exports this module, so a top-level call
// here would run before index.ts has finished initialising.
function native(): CryptoBinding {
  return loadBinding<{ crypto: CryptoBinding }>().crypto;
}

/** Dispatch paths this CPU supports, fastest first; 'portable' is always last. */
export function cryptoPaths(): CryptoPathName[] {
  return native().cryptoPaths();
}

/** The path in use and the SHA-256 engine that goes with it. */
export function cryptoPath(): { name: CryptoPathName; sha256: string } {
  return native().cryptoPathInfo();
}

/** Forces a path for every later call in this process (tests, benchmarks). Throws if the CPU lacks it. */
export function setCryptoPath(name: CryptoPathName): void {
  native().setCryptoPath(name);
}

/** Packets laid out in one buffer. */
export interface PacketBatch {
  data: Uint8Array;
  offsets: Uint32Array | readonly number[];
  lengths: Uint32Array | readonly number[];
}

export type CbcPadding = 'none' | 'pkcs7';

export interface CbcBatch extends PacketBatch {
  /** 16 bytes per packet, packet i's IV at 16 * i. */
  ivs: Uint8Array;
  /** Where results go, at the same offsets. Defaults to data (in place). Must not partly overlap data. */
  out?: Uint8Array;
  padding?: CbcPadding;
}

function u32(values: Uint32Array | readonly number[], name: string): Uint32Array {
  if (values instanceof Uint32Array) return values;
  const out = new Uint32Array(values.length);
  values.forEach((v, i) => {
    if (!Number.isInteger(v) || v < 0 || v > 0xffff_ffff) {
      throw new RangeError(`${name}[${i}] must be an integer from 0 to 2^32-1, got ${v}`);
    }
    out[i] = v;
  });
  return out;
}

function padding(p: CbcPadding | undefined): boolean {
  if (p === undefined || p === 'none') return false;
  if (p === 'pkcs7') return true;
  throw new RangeError(`padding must be 'none' or 'pkcs7', got ${String(p)}`);
}

/** Ciphertext length of a `length`-byte message with PKCS#7 padding: always 1 to 16 bytes more. */
export function pkcs7Length(length: number): number {
  return (Math.floor(length / 16) + 1) * 16;
}

/** Lays packets out back to back in one buffer: the batch form every call takes. */
export function packetBatch(packets: readonly Uint8Array[], spare = 0): PacketBatch & { offsets: Uint32Array; lengths: Uint32Array } {
  const offsets = new Uint32Array(packets.length);
  const lengths = new Uint32Array(packets.length);
  let total = 0;
  packets.forEach((p, i) => {
    offsets[i] = total;
    lengths[i] = p.length;
    total += p.length + spare;
  });
  const data = new Uint8Array(total);
  packets.forEach((p, i) => data.set(p, offsets[i]));
  return { data, offsets, lengths };
}

/** An AES key (128, 192 or 256 bits) for batched CBC. */
export class AesCbcKey {
  readonly #handle: NativeHandle;
  readonly bits: number;

  constructor(key: Uint8Array) {
    this.#handle = native().aesKeyCreate(key);
    this.bits = key.length * 8;
  }

  /**
   * Encrypts every packet. Ciphertexts have the plaintext lengths with padding 'none', and
   * pkcs7Length(length) with 'pkcs7'. Nothing is returned, so the fast path allocates nothing.
   */
  encrypt(batch: CbcBatch): void {
    native().aesCbcEncrypt(this.#handle, batch.data, u32(batch.offsets, 'offsets'), u32(batch.lengths, 'lengths'),
      batch.ivs, batch.out ?? batch.data, padding(batch.padding));
  }

  /** Decrypts every packet; returns plaintext lengths, -1 where pkcs7 padding was wrong (that output is zeroed). */
  decrypt(batch: CbcBatch): Int32Array {
    const offsets = u32(batch.offsets, 'offsets');
    const results = new Int32Array(offsets.length);
    native().aesCbcDecrypt(this.#handle, batch.data, offsets, u32(batch.lengths, 'lengths'), batch.ivs,
      batch.out ?? batch.data, padding(batch.padding), results);
    return results;
  }

  /** Wipes the key now. Later calls throw. */
  release(): void {
    native().aesKeyRelease(this.#handle);
  }
}

/** An HMAC-SHA-256 key, reduced to its inner and outer states in native memory. */
export class HmacSha256Key {
  readonly #handle: NativeHandle;

  constructor(key: Uint8Array) {
    this.#handle = native().hmacKeyCreate(key);
  }

  /** Full 32-byte tags, packet i's at 32 * i. */
  mac(batch: PacketBatch): Uint8Array {
    const offsets = u32(batch.offsets, 'offsets');
    const tags = new Uint8Array(offsets.length * 32);
    native().hmacSha256(this.#handle, batch.data, offsets, u32(batch.lengths, 'lengths'), tags);
    return tags;
  }

  /**
   * Checks each packet against the leftmost `tagLength` bytes of its MAC (16 to 32), in constant time.
   * `tags` holds `tagLength` bytes per packet. Returns 1 for a match, 0 otherwise.
   */
  verify(batch: PacketBatch, tags: Uint8Array, tagLength = 32): Uint8Array {
    const offsets = u32(batch.offsets, 'offsets');
    const results = new Uint8Array(offsets.length);
    native().hmacVerify(this.#handle, batch.data, offsets, u32(batch.lengths, 'lengths'), tags, tagLength, results);
    return results;
  }

  release(): void {
    native().hmacKeyRelease(this.#handle);
  }
}

/** HMAC-SHA-256 of one message. For many messages under one key, use HmacSha256Key. */
export function hmacSha256(key: Uint8Array, message: Uint8Array): Uint8Array {
  const k = new HmacSha256Key(key);
  try {
    return k.mac({ data: message, offsets: [0], lengths: [message.length] });
  } finally {
    k.release();
  }
}

/** Bytes an ESP packet adds around its payload, before block padding: SPI, sequence, IV, ICV. */
export const ESP_HEADER_BYTES = 8;
export const ESP_IV_BYTES = 16;
export const ESP_ICV_BYTES = 16;
/** Offset of the payload inside an opened packet. */
export const ESP_PAYLOAD_OFFSET = ESP_HEADER_BYTES + ESP_IV_BYTES;

/** Length of the sealed packet for a payload: header, IV, payload and trailer padded to 16, ICV. */
export function sealedLength(payloadBytes: number): number {
  return ESP_PAYLOAD_OFFSET + Math.ceil((payloadBytes + 2) / 16) * 16 + ESP_ICV_BYTES;
}

export interface SecurityAssociationOptions {
  /** 256 to 2^32-1. */
  spi: number;
  /** AES key: 16, 24 or 32 bytes. */
  encryptionKey: Uint8Array;
  /** HMAC-SHA-256-128 key: 32 bytes. */
  authenticationKey: Uint8Array;
}

export interface SecurityAssociationState {
  spi: number;
  /** Sequence number the next sealed packet will carry. */
  nextSequence: number;
  /** Highest sequence number accepted by open. */
  windowTop: number;
}

export interface SealBatch extends PacketBatch {
  /** ESP next-header value: one for all packets or one per packet. Default 4 (IPv4 in a tunnel). */
  nextHeader?: number | Uint8Array;
}

export interface PacketLayout {
  data: Uint8Array;
  offsets: Uint32Array;
  lengths: Uint32Array;
}

export interface OpenedBatch {
  /** How many packets were accepted. */
  count: number;
  /** 1 where packet i was accepted. Nothing says why a packet was rejected. */
  accepted: Uint8Array;
  /** Where each accepted payload now lies in the input buffer (decrypted in place). */
  payloadOffsets: Uint32Array;
  payloadLengths: Uint32Array;
  nextHeaders: Uint8Array;
}

/**
 * An ESP-style security association (RFC 4303 with AES-CBC and HMAC-SHA-256-128): seal draws a fresh IV from
 * the OS CSPRNG for every packet, encrypts, then MACs SPI | sequence | IV | ciphertext. open verifies the tag in
 * constant time before decrypting and keeps a 64-packet anti-replay window.
 */
export class SecurityAssociation {
  readonly #handle: NativeHandle;
  readonly spi: number;

  constructor(options: SecurityAssociationOptions) {
    this.#handle = native().saCreate(options.spi, options.encryptionKey, options.authenticationKey);
    this.spi = options.spi;
  }

  /** Seals a batch of payloads into `out` (allocated when omitted), packets back to back from `outOffset`. */
  seal(batch: SealBatch, out?: Uint8Array, outOffset = 0): PacketLayout {
    const lengths = u32(batch.lengths, 'lengths');
    const count = lengths.length;
    const outOffsets = new Uint32Array(count);
    const outLengths = new Uint32Array(count);
    let at = outOffset;
    for (let i = 0; i < count; i++) {
      const n = sealedLength(lengths[i] ?? 0);
      outOffsets[i] = at;
      outLengths[i] = n;
      at += n;
    }
    const target = out ?? new Uint8Array(at);
    let nextHeaders: Uint8Array;
    if (batch.nextHeader instanceof Uint8Array) {
      nextHeaders = batch.nextHeader;
    } else {
      const nh = batch.nextHeader ?? 4;
      if (!Number.isInteger(nh) || nh < 0 || nh > 255) throw new RangeError(`nextHeader must be 0-255, got ${nh}`);
      nextHeaders = new Uint8Array(count).fill(nh);
    }
    native().saSeal(this.#handle, batch.data, u32(batch.offsets, 'offsets'), lengths, nextHeaders, target, outOffsets);
    return { data: target, offsets: outOffsets, lengths: outLengths };
  }

  /** Opens a batch of sealed packets in place. Rejected packets are left as they came, or zeroed. */
  open(batch: PacketBatch): OpenedBatch {
    const offsets = u32(batch.offsets, 'offsets');
    const count = offsets.length;
    const accepted = new Uint8Array(count);
    const payloadLengths = new Uint32Array(count);
    const nextHeaders = new Uint8Array(count);
    const n = native().saOpen(this.#handle, batch.data, offsets, u32(batch.lengths, 'lengths'), accepted,
      payloadLengths, nextHeaders);
    const payloadOffsets = offsets.map((o, i) => (accepted[i] ? o + ESP_PAYLOAD_OFFSET : 0));
    return { count: n, accepted, payloadOffsets, payloadLengths, nextHeaders };
  }

  state(): SecurityAssociationState {
    return native().saState(this.#handle);
  }

  /** Wipes both keys now. Later calls throw. */
  release(): void {
    native().saRelease(this.#handle);
  }
}
