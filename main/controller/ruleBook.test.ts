import { describe, expect, test } from 'vitest';
import type { DemuxRuleSpec } from '../protocol/domain.ts';
import type { OwnershipVerifier } from './ownership.ts';
import { RuleBook, matchesIntersect, parseMatch, type BookRule } from './ruleBook.ts';

// Ownership is tested in ownership.test.ts; here a proof "owns:<provider>" is enough.
const verifier: OwnershipVerifier = {
  verify: (proof, claim) => (proof === `owns:${claim.providerId}` ? { ok: true, anchor: 'test', notAfter: 0 } : { ok: false, reason: 'not the owner' }),
};

const rule = (priority: number, match: DemuxRuleSpec['match'], provider = 'p1'): DemuxRuleSpec => ({
  priority,
  match,
  action: 'to_vi',
  samplingRate: 0,
  ownershipProof: `owns:${provider}`,
});

const ispRules: DemuxRuleSpec[] = [{ priority: 1000, match: { dstPrefix: '10.9.0.0/16', ipProto: 17, dstPorts: { from: 53, to: 53 } }, action: 'legacy', samplingRate: 0 }];
const book = new RuleBook(verifier, ispRules);
const now = Date.UTC(2030, 0, 1);

function check(providerId: string, specs: DemuxRuleSpec[], others: BookRule[] = []) {
  return book.check({ providerId, reservationId: `r-${providerId}`, viId: `vi-${providerId}`, specs }, others, now);
}

describe('rule syntax', () => {
  test.each([
    [{ dstPrefix: '10.1.2.3/16' }, /host bits set: did you mean 10.1.0.0\/16/],
    [{ dstPrefix: '10.1.0.0/33' }, /IPv4 prefix length is 0 to 32/],
    [{ dstPrefix: '2001:db8::/129' }, /IPv6 prefix length is 0 to 128/],
    [{ dstPrefix: '300.1.0.0/16' }, /not an IPv4 or IPv6 prefix/],
    [{ srcPrefix: '10.0.0.0/8', dstPrefix: '2001:db8::/32' }, /one rule matches one family/],
    [{ dstPrefix: '10.0.0.0/8', ethType: 0x86dd }, /contradicts an IPv4 prefix/],
    [{ dstPrefix: '10.0.0.0/8', ipProto: 6, dstPorts: { from: 90, to: 80 } }, /runs from 90 down to 80/],
    [{ dstPrefix: '10.0.0.0/8', dstPorts: { from: 80, to: 80 } }, /needs ipProto 6 \(TCP\), 17 \(UDP\) or 132/],
    [{ dstPrefix: '10.0.0.0/8', ipProto: 1, srcPorts: { from: 1, to: 2 } }, /not 1/],
  ])('%j is refused: %s', (match, message) => {
    expect(() => parseMatch(match, 'rule 0')).toThrow(message);
  });

  test('well-formed IPv4 and IPv6 rules parse', () => {
    expect(parseMatch({ dstPrefix: '2001:db8::/32', ethType: 0x86dd, ipProto: 6, dstPorts: { from: 443, to: 443 } }, 'r').family).toBe(6);
    expect(parseMatch({ srcPrefix: '192.0.2.0/24', dstPrefix: '10.0.0.0/8' }, 'r').family).toBe(4);
  });

  test('intersection follows wildcards, prefixes, port ranges and families', () => {
    expect(matchesIntersect({ dstPrefix: '10.1.0.0/16' }, { dstPrefix: '10.1.5.0/24', ipProto: 6 })).toBe(true);
    expect(matchesIntersect({ dstPrefix: '10.1.0.0/16' }, { dstPrefix: '10.2.0.0/16' })).toBe(false);
    expect(matchesIntersect({ dstPrefix: '10.1.0.0/16', ipProto: 6 }, { dstPrefix: '10.1.0.0/16', ipProto: 17 })).toBe(false);
    expect(matchesIntersect({ dstPrefix: '10.1.0.0/16', ipProto: 6, dstPorts: { from: 1, to: 100 } }, { dstPrefix: '10.1.0.0/16', ipProto: 6, dstPorts: { from: 101, to: 200 } })).toBe(false);
    expect(matchesIntersect({ dstPrefix: '10.1.0.0/16' }, { dstPrefix: '2001:db8::/32' })).toBe(false);
  });
});

describe('rule admission', () => {
  test('a rule with a proven destination prefix is accepted and bound to the VI', () => {
    const r = check('p1', [rule(100, { dstPrefix: '10.1.0.0/16' })]);
    expect(r).toMatchObject({ ok: true, rules: [{ id: 'vi-p1#0', providerId: 'p1', viId: 'vi-p1', provenBy: 'test' }] });
  });

  test('a rule without a destination prefix is refused: it would capture every destination', () => {
    expect(check('p1', [rule(100, { ipProto: 17, dstPorts: { from: 53, to: 53 } })])).toEqual({ ok: false, reason: expect.stringMatching(/rule 0 .* names no destination prefix/) });
  });

  test('a rule without proof, or with a proof for someone else, is refused', () => {
    expect(check('p1', [{ ...rule(100, { dstPrefix: '10.1.0.0/16' }), ownershipProof: undefined }])).toEqual({ ok: false, reason: expect.stringMatching(/rule 0: dstPrefix 10.1.0.0\/16 needs an ownership proof/) });
    expect(check('p1', [rule(100, { dstPrefix: '10.1.0.0/16' }, 'p2')])).toEqual({ ok: false, reason: 'rule 0: ownership of 10.1.0.0/16 not proven: not the owner' });
  });

  test("a rule overlapping another tenant's rule is refused, naming the conflicting rule", () => {
    const first = check('p1', [rule(100, { dstPrefix: '10.1.0.0/16' })]);
    if (!first.ok) throw new Error(first.reason);
    const second = check('p2', [rule(50, { dstPrefix: '10.1.0.0/24', ipProto: 6 }, 'p2'), rule(50, { dstPrefix: '10.1.7.0/24' }, 'p2')].slice(1), first.rules);
    expect(second).toEqual({
      ok: false,
      reason: 'rule 0 (dst 10.1.7.0/24) would capture traffic already claimed by rule vi-p1#0 of provider "p1" (VI vi-p1) (priority 100, dst 10.1.0.0/16)',
    });
    // The same provider may overlap its own rules; disjoint prefixes of others are fine.
    expect(check('p1', [rule(10, { dstPrefix: '10.1.1.0/24' })], first.rules).ok).toBe(true);
    expect(check('p2', [rule(10, { dstPrefix: '10.2.0.0/16' }, 'p2')], first.rules).ok).toBe(true);
  });

  test("a rule that would shadow an ISP rule is refused; below the ISP rule's priority it is accepted", () => {
    const shadowing = check('p1', [rule(1000, { dstPrefix: '10.9.1.0/24' })]);
    expect(shadowing).toEqual({ ok: false, reason: expect.stringMatching(/would shadow rule isp#0 of the ISP \(priority 1000, ip_proto 17 dst 10.9.0.0\/16 dport 53-53\): use a priority below 1000/) });
    expect(check('p1', [rule(999, { dstPrefix: '10.9.1.0/24' })]).ok).toBe(true);
    expect(check('p1', [rule(5000, { dstPrefix: '10.9.1.0/24', ipProto: 6 })]).ok).toBe(true);
  });

  test('the first bad rule of several is named by its index', () => {
    expect(check('p1', [rule(1, { dstPrefix: '10.1.0.0/16' }), rule(1, { dstPrefix: '10.1.0.1/16' })])).toEqual({ ok: false, reason: expect.stringMatching(/^rule 1: match.dstPrefix/) });
  });
});
