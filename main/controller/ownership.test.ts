import { describe, expect, test } from 'vitest';
import { Ed25519AttestationVerifier, newAnchorKeys, publicKeyFrom, signAttestation } from './ownership.ts';
import { parsePrefix } from '../protocol/prefix.ts';

const now = Date.UTC(2030, 0, 1);
const anchor = newAnchorKeys();
const stranger = newAnchorKeys();
const verifier = new Ed25519AttestationVerifier([{ name: 'isp-rpki', publicKey: anchor.publicKeyPem }]);
const claim = (prefix: string, providerId = 'p1') => ({ prefix: parsePrefix(prefix), providerId });

describe('Ed25519 prefix-ownership attestations', () => {
  test('a valid attestation proves the prefix and any more specific one', () => {
    const proof = signAttestation({ prefix: '10.1.0.0/16', provider: 'p1', notAfter: now + 86_400_000 }, anchor.privateKeyPem);
    expect(verifier.verify(proof, claim('10.1.0.0/16'), now)).toEqual({ ok: true, anchor: 'isp-rpki', notAfter: now + 86_400_000 });
    expect(verifier.verify(proof, claim('10.1.2.0/24'), now).ok).toBe(true);
  });

  test('an IPv6 attestation works the same way', () => {
    const proof = signAttestation({ prefix: '2001:db8::/32', provider: 'p1', notAfter: now + 1000 }, anchor.privateKeyPem);
    expect(verifier.verify(proof, claim('2001:db8:1::/48'), now).ok).toBe(true);
  });

  test('an expired attestation is refused, saying when it expired', () => {
    const proof = signAttestation({ prefix: '10.1.0.0/16', provider: 'p1', notAfter: now - 1 }, anchor.privateKeyPem);
    const v = verifier.verify(proof, claim('10.1.0.0/16'), now);
    expect(v).toEqual({ ok: false, reason: expect.stringMatching(/expired at 2029-12-31T23:59:59.999Z/) });
  });

  test('an attestation signed by another key is refused, naming the trusted anchors', () => {
    const proof = signAttestation({ prefix: '10.1.0.0/16', provider: 'p1', notAfter: now + 1000 }, stranger.privateKeyPem);
    expect(verifier.verify(proof, claim('10.1.0.0/16'), now)).toEqual({ ok: false, reason: expect.stringMatching(/not signed by a trusted anchor \(trusted: isp-rpki\)/) });
  });

  test('an attestation for another prefix is refused, naming both', () => {
    const proof = signAttestation({ prefix: '10.1.0.0/16', provider: 'p1', notAfter: now + 1000 }, anchor.privateKeyPem);
    expect(verifier.verify(proof, claim('10.2.0.0/24'), now)).toEqual({ ok: false, reason: 'the attestation covers 10.1.0.0/16, which does not contain 10.2.0.0/24' });
    // A less specific prefix than attested is not covered either.
    expect(verifier.verify(proof, claim('10.0.0.0/8'), now).ok).toBe(false);
  });

  test('an attestation for another provider is refused', () => {
    const proof = signAttestation({ prefix: '10.1.0.0/16', provider: 'p2', notAfter: now + 1000 }, anchor.privateKeyPem);
    expect(verifier.verify(proof, claim('10.1.0.0/16', 'p1'), now)).toEqual({ ok: false, reason: 'the attestation is for provider "p2", not "p1"' });
  });

  test('a tampered payload or a malformed proof is refused', () => {
    const proof = signAttestation({ prefix: '10.1.0.0/16', provider: 'p1', notAfter: now + 1000 }, anchor.privateKeyPem);
    const [magic, , sig] = proof.split('.');
    const forged = Buffer.from(JSON.stringify({ prefix: '0.0.0.0/0', provider: 'p1', notAfter: now + 1000 })).toString('base64url');
    expect(verifier.verify(`${magic}.${forged}.${sig}`, claim('10.1.0.0/16'), now).ok).toBe(false);
    expect(verifier.verify('ROA:AS64500', claim('10.1.0.0/16'), now)).toEqual({ ok: false, reason: expect.stringMatching(/not an attestation/) });
  });

  test('anchors may be given as raw base64 keys; a non-Ed25519 key is refused with its name', () => {
    const raw = publicKeyFrom(anchor.publicKeyPem).export({ format: 'der', type: 'spki' }).subarray(12).toString('base64');
    const v = new Ed25519AttestationVerifier([{ name: 'raw', publicKey: raw }]);
    const proof = signAttestation({ prefix: '10.1.0.0/16', provider: 'p1', notAfter: now + 1000 }, anchor.privateKeyPem);
    expect(v.verify(proof, claim('10.1.0.0/16'), now).ok).toBe(true);
    expect(() => new Ed25519AttestationVerifier([{ name: 'bad', publicKey: 'AAAA'.repeat(10) }])).toThrow(/trust anchor "bad"/);
  });
});
