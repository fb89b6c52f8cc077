/**
 * Checks a reservation request beyond its schema, before admission looks at
 * it: the slot and its sub-slots (ordered, contiguous, covering [t0, t1], on
 * slot boundaries, inside the horizon), the PoP and cloudlet it names, and
 * its demux rules' claims on address space. Every refusal names the field,
 * what is wrong, and what would be right.
 */
import type { DemuxRuleSpec, ReservationRequest } from '../protocol/domain.ts';
import { Invalid } from '../protocol/errors.ts';
import type { Inventory } from './inventory.ts';
import { covers, overlaps, parsePrefix, type Prefix } from '../protocol/prefix.ts';

export interface RequestRules {
  readonly now: number;
  readonly slotMs: number;
  readonly horizonMs: number;
  readonly inventory: Inventory;
  /** Verified prefix ownership per provider. */
  readonly ownership: ReadonlyMap<string, readonly Prefix[]>;
  readonly ispProviderId: string;
}

const iso = (ms: number): string => new Date(ms).toISOString();

function refuse(field: string, message: string): never {
  throw new Invalid(`${field}: ${message}`);
}

function slotWords(slotMs: number): string {
  return slotMs % 60_000 === 0 ? `${slotMs / 60_000}-minute` : `${slotMs / 1000}-second`;
}

function onSlot(field: string, at: number, slotMs: number): void {
  if (at % slotMs !== 0) {
    const before = Math.floor(at / slotMs) * slotMs;
    refuse(field, `${iso(at)} is not on a ${slotWords(slotMs)} slot boundary: use ${iso(before)} or ${iso(before + slotMs)}`);
  }
}

export function checkSlot(t0: number, t1: number, rules: Pick<RequestRules, 'now' | 'slotMs' | 'horizonMs'>, root = 'params'): void {
  onSlot(`${root}.t0`, t0, rules.slotMs);
  onSlot(`${root}.t1`, t1, rules.slotMs);
  if (t1 <= t0) refuse(`${root}.t1`, `${iso(t1)} must be after t0 (${iso(t0)})`);
  const earliest = Math.floor(rules.now / rules.slotMs) * rules.slotMs;
  if (t0 < earliest) refuse(`${root}.t0`, `${iso(t0)} is in the past: the earliest start is ${iso(earliest)}`);
  const latest = earliest + rules.horizonMs;
  if (t1 > latest) refuse(`${root}.t1`, `${iso(t1)} is beyond the ${Math.round(rules.horizonMs / 86_400_000)}-day horizon: end by ${iso(latest)}`);
}

export function checkProfile(profile: ReservationRequest['profile'], t0: number, t1: number, slotMs: number, root = 'params.profile'): void {
  profile.forEach((s, i) => {
    const field = `${root}[${i}]`;
    onSlot(`${field}.from`, s.from, slotMs);
    onSlot(`${field}.to`, s.to, slotMs);
    if (s.to <= s.from) refuse(`${field}.to`, `sub-slot ${i + 1} ends at ${iso(s.to)}, not after its start ${iso(s.from)}`);
    const prev = profile[i - 1];
    if (prev && prev.to !== s.from) {
      refuse(`${field}.from`, `sub-slot ${i} ends at ${iso(prev.to)} but sub-slot ${i + 1} starts at ${iso(s.from)}: sub-slots must be contiguous`);
    }
  });
  const first = profile[0];
  const last = profile.at(-1);
  if (first && first.from !== t0) refuse(`${root}[0].from`, `the first sub-slot starts at ${iso(first.from)} but the slot starts at t0 = ${iso(t0)}: sub-slots must cover [t0, t1]`);
  if (last && last.to !== t1) refuse(`${root}[${profile.length - 1}].to`, `the last sub-slot ends at ${iso(last.to)} but the slot ends at t1 = ${iso(t1)}: sub-slots must cover [t0, t1]`);
}

function checkRule(rule: DemuxRuleSpec, field: string, providerId: string, rules: RequestRules): void {
  const parse = (text: string, where: string): Prefix => {
    try {
      return parsePrefix(text);
    } catch (e) {
      return refuse(where, (e as Error).message);
    }
  };
  const src = rule.match.srcPrefix ? parse(rule.match.srcPrefix, `${field}.match.srcPrefix`) : undefined;
  const dst = rule.match.dstPrefix ? parse(rule.match.dstPrefix, `${field}.match.dstPrefix`) : undefined;
  const isp = providerId === rules.ispProviderId;
  const owned = rules.ownership.get(providerId) ?? [];
  const ownedText = owned.length ? owned.map((p) => p.text).join(', ') : 'none';
  if (dst && !isp) {
    if (!owned.some((p) => covers(p, dst))) {
      refuse(`${field}.match.dstPrefix`, `provider ${providerId} has no verified ownership of ${dst.text} (verified: ${ownedText})`);
    }
    if (!rule.ownershipProof) refuse(`${field}.ownershipProof`, `a rule naming destination prefix ${dst.text} needs a proof of ownership`);
  }
  if (rule.action !== 'to_vi') return;
  // A rule that diverts traffic into this tenant's VI must not take anyone else's.
  for (const [other, prefixes] of rules.ownership) {
    if (other === providerId) continue;
    for (const p of prefixes) {
      for (const [mine, name] of [[dst, 'dstPrefix'], [src, 'srcPrefix']] as const) {
        if (mine && overlaps(p, mine) && !owned.some((o) => covers(o, mine))) {
          refuse(`${field}.match.${name}`, `${mine.text} overlaps ${p.text} of tenant ${other}: the rule would capture another tenant's traffic`);
        }
      }
    }
  }
  if (!isp && !owned.some((o) => (dst && covers(o, dst)) || (src && covers(o, src)))) {
    refuse(`${field}.match`, `a to_vi rule must name a source or destination prefix that provider ${providerId} owns (verified: ${ownedText}); otherwise it would capture other tenants' traffic`);
  }
}

/** Throws InvalidParams naming the field when the request cannot be considered. */
export function checkRequest(req: ReservationRequest, providerId: string, rules: RequestRules): void {
  checkSlot(req.t0, req.t1, rules);
  checkProfile(req.profile, req.t0, req.t1, rules.slotMs);
  const pops = rules.inventory.pops;
  if (!pops.has(req.requestorPopId)) {
    refuse('params.requestorPopId', `unknown PoP "${req.requestorPopId}" (known: ${[...pops.keys()].slice(0, 12).join(', ')})`);
  }
  if (req.preferredCloudletId !== undefined && !rules.inventory.cloudletById.has(req.preferredCloudletId)) {
    refuse('params.preferredCloudletId', `unknown cloudlet "${req.preferredCloudletId}" (known: ${[...rules.inventory.cloudletById.keys()].slice(0, 12).join(', ')})`);
  }
  req.service.rules.forEach((rule, i) => checkRule(rule, `params.service.rules[${i}]`, providerId, rules));
}
