/**
 * Demux-rule admission: what a tenant may install in this cloudlet's flow
 * table. This module decides which rules are accepted; the rule installer
 * (ruleInstaller.ts) writes them to the store and the data plane's flow table.
 *
 * A tenant rule is accepted when
 *  - it is well formed: prefixes parse (host bits clear, one family per
 *    rule), port ranges ascend, ports come with a transport protocol, and an
 *    eth_type agrees with the prefixes (OpenFlow prerequisites);
 *  - it names a destination prefix, with a proof that the provider owns it
 *    (without one a rule would capture traffic to every destination);
 *  - it shares no packet with another tenant's rule (either order would
 *    steal that tenant's traffic);
 *  - it does not shadow an ISP rule: overlapping an ISP rule is fine only at
 *    a strictly lower priority, where the ISP rule still wins.
 * Refusals name the rule (by index) and the conflicting rule (by id).
 */
import type { DemuxMatch, DemuxRuleSpec } from '../protocol/domain.ts';
import type { OwnershipVerifier } from './ownership.ts';
import { overlaps, parsePrefix, type Prefix } from '../protocol/prefix.ts';

export interface BookRule {
  id: string;
  owner: 'tenant' | 'isp';
  providerId: string;
  viId: string | null;
  reservationId: string | null;
  priority: number;
  match: DemuxMatch;
  action: DemuxRuleSpec['action'];
  samplingRate: number;
  provenBy: string | null;
}

interface ParsedMatch {
  src: Prefix | undefined;
  dst: Prefix | undefined;
  family: 4 | 6 | undefined;
}

const ETH_IPV4 = 0x0800;
const ETH_IPV6 = 0x86dd;
const PORT_PROTOCOLS = new Set([6, 17, 132]);

export class RuleError extends Error {
  override name = 'RuleError';
}

/** Checks one rule's syntax and prerequisites; `where` names it in errors ("rule 2"). */
export function parseMatch(match: DemuxMatch, where: string): ParsedMatch {
  const prefix = (text: string | undefined, field: string): Prefix | undefined => {
    if (text === undefined) return undefined;
    try {
      return parsePrefix(text);
    } catch (e) {
      throw new RuleError(`${where}: match.${field} ${(e as Error).message}`);
    }
  };
  const src = prefix(match.srcPrefix, 'srcPrefix');
  const dst = prefix(match.dstPrefix, 'dstPrefix');
  if (src && dst && src.family !== dst.family) {
    throw new RuleError(`${where}: srcPrefix ${src.text} is IPv${src.family} but dstPrefix ${dst.text} is IPv${dst.family}: one rule matches one family`);
  }
  const family = src?.family ?? dst?.family;
  if (family && match.ethType !== undefined) {
    const wanted = family === 4 ? ETH_IPV4 : ETH_IPV6;
    if (match.ethType !== wanted) {
      throw new RuleError(`${where}: ethType 0x${match.ethType.toString(16)} contradicts an IPv${family} prefix (use 0x${wanted.toString(16)} or leave it out)`);
    }
  }
  for (const field of ['srcPorts', 'dstPorts'] as const) {
    const range = match[field];
    if (!range) continue;
    if (range.from > range.to) throw new RuleError(`${where}: match.${field} runs from ${range.from} down to ${range.to}: write the lower port first`);
    if (match.ipProto === undefined || !PORT_PROTOCOLS.has(match.ipProto)) {
      throw new RuleError(`${where}: match.${field} needs ipProto 6 (TCP), 17 (UDP) or 132 (SCTP)${match.ipProto === undefined ? '' : `, not ${match.ipProto}`}`);
    }
  }
  if (match.ipProto !== undefined && match.ethType !== undefined && match.ethType !== ETH_IPV4 && match.ethType !== ETH_IPV6) {
    throw new RuleError(`${where}: ipProto needs an IP ethType (0x800 or 0x86dd), not 0x${match.ethType.toString(16)}`);
  }
  return { src, dst, family };
}

function rangesMeet(a: { from: number; to: number } | undefined, b: { from: number; to: number } | undefined): boolean {
  return !a || !b || (a.from <= b.to && b.from <= a.to);
}

function prefixesMeet(a: Prefix | undefined, b: Prefix | undefined): boolean {
  return !a || !b || overlaps(a, b);
}

/** True when some packet matches both rules (fields a rule leaves out match everything). */
export function matchesIntersect(a: DemuxMatch, b: DemuxMatch): boolean {
  const pa = parseMatch(a, 'rule');
  const pb = parseMatch(b, 'rule');
  if (pa.family && pb.family && pa.family !== pb.family) return false;
  const same = (x: number | undefined, y: number | undefined): boolean => x === undefined || y === undefined || x === y;
  return (
    same(a.inPort, b.inPort) &&
    same(a.ethType, b.ethType) &&
    same(a.ipProto, b.ipProto) &&
    prefixesMeet(pa.src, pb.src) &&
    prefixesMeet(pa.dst, pb.dst) &&
    rangesMeet(a.srcPorts, b.srcPorts) &&
    rangesMeet(a.dstPorts, b.dstPorts)
  );
}

export function describeMatch(m: DemuxMatch): string {
  const parts: string[] = [];
  if (m.inPort !== undefined) parts.push(`in_port ${m.inPort}`);
  if (m.ethType !== undefined) parts.push(`eth_type 0x${m.ethType.toString(16)}`);
  if (m.ipProto !== undefined) parts.push(`ip_proto ${m.ipProto}`);
  if (m.srcPrefix) parts.push(`src ${m.srcPrefix}`);
  if (m.dstPrefix) parts.push(`dst ${m.dstPrefix}`);
  if (m.srcPorts) parts.push(`sport ${m.srcPorts.from}-${m.srcPorts.to}`);
  if (m.dstPorts) parts.push(`dport ${m.dstPorts.from}-${m.dstPorts.to}`);
  return parts.length ? parts.join(' ') : 'any packet';
}

function describeRule(r: BookRule): string {
  const who = r.owner === 'isp' ? 'the ISP' : `provider "${r.providerId}"${r.viId ? ` (VI ${r.viId})` : ''}`;
  return `rule ${r.id} of ${who} (priority ${r.priority}, ${describeMatch(r.match)})`;
}

export type RuleCheck = { ok: true; rules: BookRule[] } | { ok: false; reason: string };

export interface TenantRequest {
  providerId: string;
  reservationId: string;
  viId: string;
  specs: readonly DemuxRuleSpec[];
}

export class RuleBook {
  readonly ispRules: readonly BookRule[];
  private readonly verifier: OwnershipVerifier;

  constructor(verifier: OwnershipVerifier, ispRules: readonly DemuxRuleSpec[]) {
    this.verifier = verifier;
    this.ispRules = ispRules.map((spec, i) => {
      parseMatch(spec.match, `ISP rule ${i}`);
      return {
        id: `isp#${i}`,
        owner: 'isp' as const,
        providerId: 'isp',
        viId: null,
        reservationId: null,
        priority: spec.priority,
        match: spec.match,
        action: spec.action,
        samplingRate: spec.samplingRate,
        provenBy: null,
      };
    });
  }

  /**
   * Decides whether a tenant's rules may be installed next to `others` (the
   * tenant rules installed or promised to other VIs). Returns the rules with
   * ids `${viId}#${index}`, or the first reason to refuse.
   */
  check(request: TenantRequest, others: readonly BookRule[], now: number): RuleCheck {
    const accepted: BookRule[] = [];
    for (const [i, spec] of request.specs.entries()) {
      const where = `rule ${i}`;
      let parsed: ParsedMatch;
      try {
        parsed = parseMatch(spec.match, where);
      } catch (e) {
        return { ok: false, reason: (e as Error).message };
      }
      if (!parsed.dst) {
        return { ok: false, reason: `${where} (${describeMatch(spec.match)}) names no destination prefix: a tenant rule must name a prefix the provider owns, or it would capture traffic to every destination` };
      }
      if (!spec.ownershipProof) {
        return { ok: false, reason: `${where}: dstPrefix ${parsed.dst.text} needs an ownership proof (an attestation signed by a trust anchor of this ISP)` };
      }
      const verdict = this.verifier.verify(spec.ownershipProof, { prefix: parsed.dst, providerId: request.providerId }, now);
      if (!verdict.ok) return { ok: false, reason: `${where}: ownership of ${parsed.dst.text} not proven: ${verdict.reason}` };
      const rule: BookRule = {
        id: `${request.viId}#${i}`,
        owner: 'tenant',
        providerId: request.providerId,
        viId: request.viId,
        reservationId: request.reservationId,
        priority: spec.priority,
        match: spec.match,
        action: spec.action,
        samplingRate: spec.samplingRate,
        provenBy: verdict.anchor,
      };
      const foreign = others.find((o) => o.owner === 'tenant' && o.providerId !== request.providerId && matchesIntersect(o.match, spec.match));
      if (foreign) {
        return { ok: false, reason: `${where} (${describeMatch(spec.match)}) would capture traffic already claimed by ${describeRule(foreign)}` };
      }
      const shadowed = this.ispRules.find((o) => spec.priority >= o.priority && matchesIntersect(o.match, spec.match));
      if (shadowed) {
        return { ok: false, reason: `${where} (priority ${spec.priority}, ${describeMatch(spec.match)}) would shadow ${describeRule(shadowed)}: use a priority below ${shadowed.priority} or a narrower match` };
      }
      accepted.push(rule);
    }
    return { ok: true, rules: accepted };
  }
}
