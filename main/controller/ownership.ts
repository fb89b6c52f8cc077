/**
 * Prefix-ownership proofs (paper section 3.6). A demux rule that names a
 * destination prefix must come with evidence that the provider owns it.
 *
 * Our evidence is an attestation signed with Ed25519 by a trust anchor the
 * ISP configures: `pcatt1.<base64url(JSON {prefix, provider, notAfter})>.
 * <base64url(signature over the middle part)>`. It stands in for
 * DNSSEC-signed reverse-zone records; the daemon only sees the
 * `OwnershipVerifier` interface, so a DNSSEC verifier can replace this one.
 *
 * What is checked, in order: the format, a signature by one of the anchors,
 * the provider named, the validity (notAfter in the future), and that the
 * rule's prefix lies inside the attested one.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { z } from 'zod';
import { covers, parsePrefix, type Prefix } from '../protocol/prefix.ts';

export type OwnershipVerdict = { ok: true; anchor: string; notAfter: number } | { ok: false; reason: string };

export interface OwnershipVerifier {
  /** Does `proof` show that `providerId` owns `prefix` at time `now`? */
  verify(proof: string, claim: { prefix: Prefix; providerId: string }, now: number): OwnershipVerdict;
}

export interface TrustAnchor {
  name: string;
  /** PEM (SPKI) or base64 of the 32 raw Ed25519 public-key bytes. */
  publicKey: string;
}

const AttestationSchema = z.strictObject({
  prefix: z.string().max(64),
  provider: z.string().max(64),
  notAfter: z.number().int().positive(),
});
export type Attestation = z.infer<typeof AttestationSchema>;

const MAGIC = 'pcatt1';
// DER prefix of an Ed25519 SubjectPublicKeyInfo; the raw key follows it.
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

export function publicKeyFrom(text: string): KeyObject {
  const trimmed = text.trim();
  if (trimmed.startsWith('-----BEGIN')) return createPublicKey(trimmed);
  const raw = Buffer.from(trimmed, 'base64');
  if (raw.length !== 32) throw new Error(`an Ed25519 public key is 32 bytes (base64) or PEM; got ${raw.length} bytes`);
  return createPublicKey({ key: Buffer.concat([ED25519_SPKI_PREFIX, raw]), format: 'der', type: 'spki' });
}

export class Ed25519AttestationVerifier implements OwnershipVerifier {
  private readonly anchors: { name: string; key: KeyObject }[];

  constructor(anchors: readonly TrustAnchor[]) {
    this.anchors = anchors.map((a) => {
      try {
        const key = publicKeyFrom(a.publicKey);
        if (key.asymmetricKeyType !== 'ed25519') throw new Error(`is a ${key.asymmetricKeyType} key`);
        return { name: a.name, key };
      } catch (e) {
        throw new Error(`trust anchor "${a.name}": ${(e as Error).message}; give an Ed25519 public key`, { cause: e });
      }
    });
  }

  verify(proof: string, claim: { prefix: Prefix; providerId: string }, now: number): OwnershipVerdict {
    const parts = proof.split('.');
    if (parts.length !== 3 || parts[0] !== MAGIC || !parts[1] || !parts[2]) {
      return { ok: false, reason: `the proof is not an attestation: expected ${MAGIC}.<payload>.<signature>` };
    }
    const payload = Buffer.from(parts[1], 'base64url');
    const signature = Buffer.from(parts[2], 'base64url');
    const anchor = this.anchors.find((a) => verify(null, payload, a.key, signature));
    if (!anchor) {
      return {
        ok: false,
        reason: this.anchors.length === 0
          ? 'no trust anchor is configured on this controller, so no attestation can be verified'
          : `the attestation is not signed by a trusted anchor (trusted: ${this.anchors.map((a) => a.name).join(', ')})`,
      };
    }
    let att: Attestation;
    try {
      att = AttestationSchema.parse(JSON.parse(payload.toString('utf8')));
    } catch {
      return { ok: false, reason: `the attestation signed by "${anchor.name}" has no valid {prefix, provider, notAfter} payload` };
    }
    if (att.provider !== claim.providerId) {
      return { ok: false, reason: `the attestation is for provider "${att.provider}", not "${claim.providerId}"` };
    }
    if (att.notAfter <= now) {
      return { ok: false, reason: `the attestation for ${att.prefix} expired at ${new Date(att.notAfter).toISOString()}` };
    }
    let attested: Prefix;
    try {
      attested = parsePrefix(att.prefix);
    } catch (e) {
      return { ok: false, reason: `the attestation names an invalid prefix: ${(e as Error).message}` };
    }
    if (!covers(attested, claim.prefix)) {
      return { ok: false, reason: `the attestation covers ${att.prefix}, which does not contain ${claim.prefix.text}` };
    }
    return { ok: true, anchor: anchor.name, notAfter: att.notAfter };
  }
}

/** Signs an attestation with an Ed25519 private key (PEM): what an ISP's trust anchor hands out. */
export function signAttestation(att: Attestation, privateKeyPem: string): string {
  const key = createPrivateKey(privateKeyPem);
  const payload = Buffer.from(JSON.stringify(AttestationSchema.parse(att)), 'utf8');
  return `${MAGIC}.${payload.toString('base64url')}.${sign(null, payload, key).toString('base64url')}`;
}

/** A new anchor key pair: the private key as PEM, the public key as PEM. */
export function newAnchorKeys(): { privateKeyPem: string; publicKeyPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    privateKeyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    publicKeyPem: publicKey.export({ format: 'pem', type: 'spki' }).toString(),
  };
}
