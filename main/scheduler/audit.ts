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

export interface ChainVerdict {
  ok: boolean;
  entries: number;
  brokenAt: number | null;
  reason: string;
}

/** Walks the chain in pages from the first entry; stops at the first break. */
export function verifyChain(page: (afterSeq: number, limit: number) => AuditEntry[]): ChainVerdict {
  let prev = genesisHash;
  let expectedSeq = 1;
  let count = 0;
  for (;;) {
    const entries = page(expectedSeq - 1, 5000);
    if (entries.length === 0) break;
    for (const e of entries) {
      const fail = (reason: string): ChainVerdict => ({ ok: false, entries: count, brokenAt: e.seq, reason });
      if (e.seq !== expectedSeq) return fail(`entry ${e.seq} follows ${expectedSeq - 1}: entry ${expectedSeq} is missing`);
      if (e.prevHash !== prev) return fail(`entry ${e.seq} names previous hash ${e.prevHash.slice(0, 12)}… but entry ${e.seq - 1} hashes to ${prev.slice(0, 12)}…`);
      const recomputed = auditHash(prev, e);
      if (recomputed !== e.hash) return fail(`entry ${e.seq} was altered: its fields hash to ${recomputed.slice(0, 12)}…, not the stored ${e.hash.slice(0, 12)}…`);
      prev = e.hash;
      expectedSeq++;
      count++;
    }
  }
  return { ok: true, entries: count, brokenAt: null, reason: count ? `all ${count} entries chain from the first` : 'the audit log is empty' };
}
