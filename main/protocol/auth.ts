/**
 * Bearer tokens and the principals they stand for.
 *
 * Trust model: a token is a shared secret handed out by whoever started the
 * daemon (lab supervisor, operator config). Tokens are compared as SHA-256
 * digests with timingSafeEqual over every entry, so neither the match nor its
 * position leaks through timing. Single-use tokens (the headless host's URL)
 * are spent on first use and exchanged for a session token.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Principal } from './roles.ts';

export interface TokenEntry {
  readonly token: string;
  readonly principal: Principal;
}

interface StoredEntry {
  readonly digest: Buffer;
  readonly principal: Principal;
  readonly singleUse: boolean;
  spent: boolean;
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

/** 32 random bytes, base64url: what every generated token looks like. */
export function newToken(): string {
  return randomBytes(32).toString('base64url');
}

export class TokenStore {
  private entries: StoredEntry[] = [];

  constructor(tokens: readonly TokenEntry[] = []) {
    for (const t of tokens) this.add(t.token, t.principal);
  }

  add(token: string, principal: Principal, options: { singleUse?: boolean } = {}): void {
    if (token.length < 16) throw new Error(`token for ${principal.role} "${principal.name}" is too short: use at least 16 characters`);
    this.entries.push({ digest: digest(token), principal, singleUse: options.singleUse ?? false, spent: false });
  }

  /** Issues a fresh token for the principal and returns it. */
  issue(principal: Principal, options: { singleUse?: boolean } = {}): string {
    const token = newToken();
    this.add(token, principal, options);
    return token;
  }

  /** The principal for a token, or undefined. Constant time in the token's content. */
  authenticate(token: string): { principal: Principal; singleUse: boolean } | undefined {
    const presented = digest(token);
    let found: StoredEntry | undefined;
    for (const entry of this.entries) {
      // No early exit: every entry is compared.
      if (timingSafeEqual(presented, entry.digest) && !entry.spent && !found) found = entry;
    }
    if (!found) return undefined;
    if (found.singleUse) {
      found.spent = true;
      this.entries = this.entries.filter((e) => e !== found);
    }
    return { principal: found.principal, singleUse: found.singleUse };
  }
}
