/**
 * ipsec-tunnel: ESP in tunnel mode (RFC 4303) between two VIs in two
 * cloudlets, with AES-128-CBC or AES-256-CBC and HMAC-SHA-256-128 (RFC 4868),
 * on the addon's batched seal and open (native/crypto.ts: fresh IV per packet,
 * sequence numbers, padding, ICV checked in constant time before decrypting,
 * a 64-packet anti-replay window).
 *
 * Each end runs one VI with two rules: the branch prefixes behind the far end
 * (those packets are sealed and sent to `remote` from `local`) and ESP to
 * `local` (opened, and the inner packet goes on byte for byte). Both are
 * captures of its own rules, so what it emits passes the transparent egress
 * check: ESP from `local` is the reverse of its ESP rule, and an inner packet
 * is the reverse of the far branch's traffic.
 *
 * One security association per direction, as IKE would set up: `spi-out`,
 * `key-out`, `auth-out` for what this end seals; `spi-in`, `key-in`,
 * `auth-in` for what it opens (the far end's out). The keys are secret
 * arguments (the catalog keeps them off command lines and out of API
 * answers); they are copied into native memory, the copies here are zeroed,
 * and release() wipes the native ones when the VI stops.
 *
 * Counters: sealed, sealedBytes, opened, openedBytes, and drops by reason:
 * espReplayed (a sequence number at or below the window's top that the window
 * refused), espAuthFailed (ICV mismatch: modified, or the wrong key),
 * espUnknownSpi, espBadInner, tooBig (the sealed frame would not fit a ring
 * slot), notIp.
 */
import { z } from 'zod';
import { ESP_HEADER_BYTES, SecurityAssociation, sealedLength } from '../../native/crypto.ts';
import { hexArg, integerArg, ipv4Arg, readArgs, runsAsProgram, type ServiceDescriptor } from './sdk/descriptor.ts';
import { ETHERTYPE_IPV4, ETHERTYPE_IPV6, IPPROTO_ESP, ipPacketAt, ipv4Bytes, writeOuterIpv4 } from './sdk/packetHeaders.ts';
import { runRingService, type RingBatch } from './sdk/ringService.ts';
import { ServiceCounters } from './sdk/serviceCounters.ts';

const ciphers = { 'aes-128-cbc': 16, 'aes-256-cbc': 32 } as const;
type Cipher = keyof typeof ciphers;

const argsSchema = z
  .strictObject({
    local: ipv4Arg().describe("this end's tunnel address: ESP leaves from it and is received for it"),
    remote: ipv4Arg().describe("the far end's tunnel address"),
    cipher: z.enum(['aes-128-cbc', 'aes-256-cbc'], { error: 'aes-128-cbc or aes-256-cbc' }).describe('aes-128-cbc or aes-256-cbc (default)').optional(),
    'spi-out': integerArg(256, 0xffff_ffff).describe('SPI of the packets this end seals (256 to 4294967295)'),
    'key-out': hexArg([16, 32]).describe('AES key this end seals with, 32 or 64 hex digits (secret)'),
    'auth-out': hexArg([32]).describe('HMAC-SHA-256 key this end seals with, 64 hex digits (secret)'),
    'spi-in': integerArg(256, 0xffff_ffff).describe('SPI of the packets this end opens (the far end\'s spi-out)'),
    'key-in': hexArg([16, 32]).describe('AES key this end opens with (secret)'),
    'auth-in': hexArg([32]).describe('HMAC-SHA-256 key this end opens with (secret)'),
  })
  .superRefine((a, ctx) => {
    const bytes = ciphers[(a.cipher ?? 'aes-256-cbc') as Cipher];
    for (const k of ['key-out', 'key-in'] as const) {
      if (a[k].length !== 2 * bytes) ctx.addIssue({ code: 'custom', path: [k], message: `${2 * bytes} hex digits for ${a.cipher ?? 'aes-256-cbc'}` });
    }
    if (a['spi-out'] === a['spi-in'] && a.local === a.remote) ctx.addIssue({ code: 'custom', path: ['remote'], message: 'the far end cannot be this end' });
  });

export const descriptor: ServiceDescriptor = {
  program: 'ipsec-tunnel',
  summary: 'ESP tunnel mode between two VIs in two cloudlets: AES-128/256-CBC + HMAC-SHA-256-128, SPI, sequence numbers, 64-packet anti-replay window',
  mode: 'transparent',
  port: { kind: 'ring', layout: 'single' },
  args: argsSchema as unknown as z.ZodType<Record<string, string>>,
  secretArgs: ['key-out', 'auth-out', 'key-in', 'auth-in'],
  availability: () => null,
};

const OUTER_IPV4_BYTES = 20;

export interface TunnelOptions {
  local: string;
  remote: string;
  /** Seals what goes to the far end. */
  out: SecurityAssociation;
  /** Opens what the far end sealed. */
  in: SecurityAssociation;
  /** Frames per batch and largest frame (the ring's geometry). */
  capacity: number;
  maxFrame: number;
  counters: ServiceCounters;
}

/** One end of the tunnel: seals and opens the frames of each received batch. */
export class EspTunnelEnd {
  private readonly local: Uint8Array;
  private readonly remote: Uint8Array;
  private readonly out: SecurityAssociation;
  private readonly in: SecurityAssociation;
  private readonly maxFrame: number;
  readonly counters: ServiceCounters;
  // Per batch: the packets to seal and to open, with their frame index.
  private readonly sealIdx: Uint32Array;
  private readonly sealOffsets: Uint32Array;
  private readonly sealLengths: Uint32Array;
  private readonly nextHeaders: Uint8Array;
  private readonly openIdx: Uint32Array;
  private readonly openOffsets: Uint32Array;
  private readonly openLengths: Uint32Array;
  private readonly openSeqs: Float64Array;
  private readonly sealed: Uint8Array;
  private readonly frame: Uint8Array;
  private ipId = 0;

  constructor(o: TunnelOptions) {
    this.local = ipv4Bytes(o.local);
    this.remote = ipv4Bytes(o.remote);
    this.out = o.out;
    this.in = o.in;
    this.maxFrame = o.maxFrame;
    this.counters = o.counters;
    this.sealIdx = new Uint32Array(o.capacity);
    this.sealOffsets = new Uint32Array(o.capacity);
    this.sealLengths = new Uint32Array(o.capacity);
    this.nextHeaders = new Uint8Array(o.capacity);
    this.openIdx = new Uint32Array(o.capacity);
    this.openOffsets = new Uint32Array(o.capacity);
    this.openLengths = new Uint32Array(o.capacity);
    this.openSeqs = new Float64Array(o.capacity);
    this.sealed = new Uint8Array(o.capacity * (o.maxFrame + 64));
    this.frame = new Uint8Array(o.maxFrame);
  }

  private isLocal(b: Uint8Array, at: number): boolean {
    return b[at] === this.local[0] && b[at + 1] === this.local[1] && b[at + 2] === this.local[2] && b[at + 3] === this.local[3];
  }

  onBatch(batch: RingBatch): void {
    let seals = 0;
    let opens = 0;
    const c = this.counters;
    for (let i = 0; i < batch.count; i++) {
      const f = batch.frame(i);
      const at = ipPacketAt(f);
      if (!at) {
        c.add('notIp');
        continue;
      }
      const base = batch.offsets[i] ?? 0;
      if (at.version === 4 && f[at.ip + 9] === IPPROTO_ESP && this.isLocal(f, at.ip + 16)) {
        const esp = at.ip + ((f[at.ip] ?? 0) & 0x0f) * 4;
        const view = new DataView(f.buffer, f.byteOffset + esp, Math.max(0, Math.min(ESP_HEADER_BYTES, at.end - esp)));
        if (view.byteLength < ESP_HEADER_BYTES || view.getUint32(0) !== this.in.spi) {
          c.add('espUnknownSpi');
          continue;
        }
        this.openIdx[opens] = i;
        this.openOffsets[opens] = base + esp;
        this.openLengths[opens] = at.end - esp;
        this.openSeqs[opens] = view.getUint32(4);
        opens++;
        continue;
      }
      if (at.ip + OUTER_IPV4_BYTES + sealedLength(at.end - at.ip) > this.maxFrame) {
        c.add('tooBig');
        continue;
      }
      this.sealIdx[seals] = i;
      this.sealOffsets[seals] = base + at.ip;
      this.sealLengths[seals] = at.end - at.ip;
      this.nextHeaders[seals] = at.version === 4 ? 4 : 41;
      seals++;
    }
    if (seals > 0) this.seal(batch, seals);
    if (opens > 0) this.open(batch, opens);
  }

  private seal(batch: RingBatch, n: number): void {
    const sealed = this.out.seal({ data: batch.buffer, offsets: this.sealOffsets.subarray(0, n), lengths: this.sealLengths.subarray(0, n), nextHeader: this.nextHeaders.subarray(0, n) }, this.sealed, 0);
    let bytes = 0;
    for (let k = 0; k < n; k++) {
      const i = this.sealIdx[k] ?? 0;
      const inner = batch.frame(i);
      const l2 = ipPacketAt(inner)?.ip ?? 14;
      const espLength = sealed.lengths[k] ?? 0;
      const espAt = sealed.offsets[k] ?? 0;
      const out = this.frame;
      // The inner frame's link header (the router's addresses), now carrying IPv4.
      out.set(inner.subarray(0, l2), 0);
      out[l2 - 2] = ETHERTYPE_IPV4 >> 8;
      out[l2 - 1] = ETHERTYPE_IPV4 & 0xff;
      const ip = l2;
      const total = OUTER_IPV4_BYTES + espLength;
      this.ipId = (this.ipId + 1) & 0xffff;
      // Keep the inner packet's DSCP and ECN (RFC 4301 5.1.2.1 allows copying them).
      const tos = (inner[l2] ?? 0) >> 4 === 4 ? (inner[l2 + 1] ?? 0) : 0;
      writeOuterIpv4(out, ip, { total, id: this.ipId, tos, protocol: IPPROTO_ESP, source: this.local, destination: this.remote });
      out.set(sealed.data.subarray(espAt, espAt + espLength), ip + OUTER_IPV4_BYTES);
      batch.replace(i, out.subarray(0, ip + total));
      bytes += this.sealLengths[k] ?? 0;
    }
    this.counters.add('sealed', n);
    this.counters.add('sealedBytes', bytes);
  }

  private open(batch: RingBatch, n: number): void {
    const top = this.in.state().windowTop;
    const opened = this.in.open({ data: batch.buffer, offsets: this.openOffsets.subarray(0, n), lengths: this.openLengths.subarray(0, n) });
    let bytes = 0;
    let accepted = 0;
    for (let k = 0; k < n; k++) {
      const i = this.openIdx[k] ?? 0;
      if (!opened.accepted[k]) {
        // The ICV is checked before the window moves, so a refused packet with a sequence number
        // above the window's top failed its ICV; at or below, the window refused it (or both).
        this.counters.add((this.openSeqs[k] ?? 0) <= top ? 'espReplayed' : 'espAuthFailed');
        continue;
      }
      const nh = opened.nextHeaders[k];
      const length = opened.payloadLengths[k] ?? 0;
      const from = opened.payloadOffsets[k] ?? 0;
      const inner = batch.buffer.subarray(from, from + length);
      const version = (inner[0] ?? 0) >> 4;
      if (!((nh === 4 && version === 4) || (nh === 41 && version === 6))) {
        this.counters.add('espBadInner');
        continue;
      }
      const outer = batch.frame(i);
      const l2 = ipPacketAt(outer)?.ip ?? 14;
      const out = this.frame;
      out.set(outer.subarray(0, l2), 0);
      const type = nh === 4 ? ETHERTYPE_IPV4 : ETHERTYPE_IPV6;
      out[l2 - 2] = type >> 8;
      out[l2 - 1] = type & 0xff;
      out.set(inner, l2);
      batch.replace(i, out.subarray(0, l2 + length));
      bytes += length;
      accepted++;
    }
    this.counters.add('opened', accepted);
    this.counters.add('openedBytes', bytes);
  }

  /** Wipes both security associations' keys. */
  release(): void {
    this.out.release();
    this.in.release();
  }
}

/** The security associations from the arguments; the key bytes read here are zeroed once copied. */
export function associationsOf(args: Record<string, string>): { out: SecurityAssociation; in: SecurityAssociation } {
  const make = (spi: string | undefined, key: string | undefined, auth: string | undefined): SecurityAssociation => {
    const encryptionKey = Buffer.from(key ?? '', 'hex');
    const authenticationKey = Buffer.from(auth ?? '', 'hex');
    try {
      return new SecurityAssociation({ spi: Number(spi), encryptionKey, authenticationKey });
    } finally {
      encryptionKey.fill(0);
      authenticationKey.fill(0);
    }
  };
  return { out: make(args['spi-out'], args['key-out'], args['auth-out']), in: make(args['spi-in'], args['key-in'], args['auth-in']) };
}

if (runsAsProgram('ipsec-tunnel', import.meta.url)) {
  const args = readArgs(descriptor);
  const sas = associationsOf(args);
  for (const k of descriptor.secretArgs ?? []) delete args[k];
  const capacity = 64;
  let end: EspTunnelEnd | undefined;
  const counters = new ServiceCounters();
  try {
    const { received } = await runRingService({
      onBatch: (batch) => {
        end ??= new EspTunnelEnd({ local: args.local ?? '', remote: args.remote ?? '', ...sas, capacity: batch.capacity, maxFrame: batch.received.length / batch.capacity, counters });
        end.onBatch(batch);
      },
      counters,
    }, { batchSize: capacity });
    process.stdout.write(`ipsec-tunnel: stopped after ${received} packets\n`);
  } finally {
    sas.out.release();
    sas.in.release();
  }
}
