/**
 * The audit log as a hash chain: each entry's hash covers its own fields and
 * the previous entry's hash, so editing, deleting or reordering any stored
 * entry breaks every hash after it. Sequence numbers and hashes are assigned
 * in memory when an entry is made and committed with the change it records,
 * in the same transaction, so the chain on disk is always a prefix of the
 * chain in memory.
 */
import { createHash } from 'node:crypto';
import type { AuditEntry } from '../protocol/domain.ts';

export const genesisHash = '0'.repeat(64);

export function auditHash(prevHash: string, e: Omit<AuditEntry, 'hash' | 'prevHash'>): string {
  // JSON of a fixed-order array: unambiguous field boundaries.
  return createHash('sha256')
    .update(prevHash)
    .update(JSON.stringify([e.seq, e.at, e.actor, e.role, e.action, e.target, e.reason]))
    .digest('hex');
}

export interface Actor {
  readonly name: string;
  readonly role: string;
}

export const systemActor: Actor = { name: 'scheduler', role: 'system' };

export class AuditChain {
  private seq: number;
  private hash: string;

  constructor(last: { seq: number; hash: string } | undefined) {
    this.seq = last?.seq ?? 0;
    this.hash = last?.hash ?? genesisHash;
  }

  next(at: number, actor: Actor, action: string, target: string, reason: string): AuditEntry {
    const body = { seq: this.seq + 1, at, actor: actor.name, role: actor.role, action, target, reason };
    const hash = auditHash(this.hash, body);
    const entry: AuditEntry = { ...body, prevHash: this.hash, hash };
    this.seq = entry.seq;
    this.hash = hash;
    return entry;
  }
}

/** An entry of the chain, by its sequence number and hash; `chainStart` is before the first. */
export interface ChainPoint {
  readonly seq: number;
  readonly hash: string;
}

export const chainStart: ChainPoint = { seq: 0, hash: genesisHash };

export interface ChainVerdict {
  ok: boolean;
  /** Entries known to chain from the first: those before `from` plus those checked. */
  entries: number;
  brokenAt: number | null;
  reason: string;
  /** Entries this walk recomputed. */
  checked: number;
  /** The last entry found good. */
  last: ChainPoint;
  /** False when the walk stopped at `maxEntries` with more to check. */
  complete: boolean;
}

/**
 * Walks the chain in pages from just after `from` (default: the first entry),
 * trusting what precedes it; stops at the first break, or after `maxEntries`.
 */
export function verifyChain(
  page: (afterSeq: number, limit: number) => AuditEntry[],
  from: ChainPoint = chainStart,
  maxEntries = Number.POSITIVE_INFINITY,
): ChainVerdict {
  let prev = from.hash;
  let expectedSeq = from.seq + 1;
  let count = 0;
  const last = (): ChainPoint => ({ seq: expectedSeq - 1, hash: prev });
  while (count < maxEntries) {
    const entries = page(expectedSeq - 1, Math.min(5000, maxEntries - count));
    if (entries.length === 0) {
      const all = expectedSeq - 1;
      const reason = all === 0 ? 'the audit log is empty' : from.seq === 0 ? `all ${all} entries chain from the first` : `all ${all} entries chain from the first (${count} checked after entry ${from.seq}, verified before)`;
      return { ok: true, entries: all, brokenAt: null, reason, checked: count, last: last(), complete: true };
    }
    for (const e of entries) {
      const fail = (reason: string): ChainVerdict => ({ ok: false, entries: expectedSeq - 1, brokenAt: e.seq, reason, checked: count, last: last(), complete: true });
      if (e.seq !== expectedSeq) return fail(`entry ${e.seq} follows ${expectedSeq - 1}: entry ${expectedSeq} is missing`);
      if (e.prevHash !== prev) return fail(`entry ${e.seq} names previous hash ${e.prevHash.slice(0, 12)}… but entry ${e.seq - 1} hashes to ${prev.slice(0, 12)}…`);
      const recomputed = auditHash(prev, e);
      if (recomputed !== e.hash) return fail(`entry ${e.seq} was altered: its fields hash to ${recomputed.slice(0, 12)}…, not the stored ${e.hash.slice(0, 12)}…`);
      prev = e.hash;
      expectedSeq++;
      count++;
    }
  }
  return { ok: true, entries: expectedSeq - 1, brokenAt: null, reason: 'not finished', checked: count, last: last(), complete: false };
}

/** Entries checked between two turns of the event loop: about 5 ms of hashing. */
export const auditVerifyStep = 2000;

/**
 * Verification that remembers how far the chain was found good, so that
 * asking again costs only the entries added since (one looping client cannot
 * make every call walk the whole chain). The checkpoint is in memory: a
 * restarted scheduler verifies from the first entry once. A walk yields to the
 * event loop every `auditVerifyStep` entries so a long chain never stalls
 * other clients. What the checkpoint cannot see is an edit of the database
 * behind an already verified entry: `full` recomputes from the first entry.
 */
export class AuditVerifier {
  private checkpoint: ChainPoint = chainStart;
  private readonly step: number;

  constructor(step = auditVerifyStep) {
    this.step = step;
  }

  get verifiedUpTo(): ChainPoint {
    return this.checkpoint;
  }

  async verify(walk: (from: ChainPoint, maxEntries: number) => ChainVerdict, options: { full: boolean }): Promise<ChainVerdict> {
    const start = options.full ? chainStart : this.checkpoint;
    let from = start;
    let checked = 0;
    for (;;) {
      const verdict = walk(from, this.step);
      checked += verdict.checked;
      if (verdict.ok && verdict.last.seq > this.checkpoint.seq) this.checkpoint = verdict.last;
      if (!verdict.ok) return { ...verdict, checked };
      if (verdict.complete) {
        const reason = start.seq === 0 ? verdict.reason : `all ${verdict.entries} entries chain from the first (${checked} checked after entry ${start.seq}, verified before)`;
        return { ...verdict, checked, reason };
      }
      from = verdict.last;
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
}
