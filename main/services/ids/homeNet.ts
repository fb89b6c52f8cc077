/**
 * The ids service's protected addresses (--home-net), in the subset of
 * Suricata's address syntax we accept: `any`, one address or prefix, or a
 * bracketed list of them. The same text goes into suricata.yaml as HOME_NET;
 * here it decides whether an alert counts against the VI's side (its target
 * is inside) or from it (its source is inside).
 */
import { isIP } from 'node:net';
import { covers, parsePrefix, type Prefix } from '../../protocol/prefix.ts';

/** The prefixes of a home-net text, or null for `any`; throws with the offending part named. */
export function parseHomeNet(text: string): Prefix[] | null {
  const t = text.trim();
  if (t === 'any') return null;
  const inner = t.startsWith('[') && t.endsWith(']') ? t.slice(1, -1) : t;
  const parts = inner.split(',').map((p) => p.trim());
  if (parts.some((p) => p.length === 0)) throw new Error(`home-net "${text}": an empty entry in the list`);
  return parts.map((p) => {
    if (p.startsWith('!') || p.startsWith('$')) throw new Error(`home-net "${text}": "${p}" is not supported (write any, an address, a prefix, or a [list] of them)`);
    const family = isIP(p);
    return parsePrefix(family === 4 ? `${p}/32` : family === 6 ? `${p}/128` : p);
  });
}

export class HomeNet {
  private readonly prefixes: Prefix[] | null;

  constructor(text: string) {
    this.prefixes = parseHomeNet(text);
  }

  contains(address: string): boolean {
    if (this.prefixes === null) return true;
    const family = isIP(address);
    if (family === 0) return false;
    const host = parsePrefix(family === 4 ? `${address}/32` : `${address}/128`);
    return this.prefixes.some((p) => covers(p, host));
  }
}
