/**
 * IPv4/IPv6 prefixes as (family, bigint network, length), for the demux-rule
 * ownership checks: a rule naming a destination prefix must fall inside a
 * prefix the ISP has verified the provider owns, and a rule sending traffic
 * to a VI must not overlap another tenant's prefix.
 */
import { isIPv4, isIPv6 } from 'node:net';

export interface Prefix {
  readonly family: 4 | 6;
  readonly bits: bigint;
  readonly length: number;
  readonly text: string;
}

function v4ToBig(addr: string): bigint {
  return addr.split('.').reduce((acc, part) => (acc << 8n) | BigInt(Number(part)), 0n);
}

function v6ToBig(addr: string): bigint {
  const [head, tail] = addr.includes('::') ? addr.split('::') : [addr, undefined];
  const parse = (s: string | undefined): string[] => (s ? s.split(':').filter((x) => x.length > 0) : []);
  let groups = parse(head);
  if (tail !== undefined) {
    const rest = parse(tail);
    groups = [...groups, ...new Array<string>(8 - groups.length - rest.length).fill('0'), ...rest];
  }
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n);
}

/** Parses "10.1.0.0/16" or "2001:db8::/32"; throws with the reason when it is not a prefix. */
export function parsePrefix(text: string): Prefix {
  const [addr, len] = text.split('/');
  const length = Number(len);
  if (addr && isIPv4(addr)) {
    if (!Number.isInteger(length) || length < 0 || length > 32) throw new Error(`"${text}": an IPv4 prefix length is 0 to 32`);
    const bits = v4ToBig(addr) & mask(32, length);
    return { family: 4, bits, length, text };
  }
  if (addr && isIPv6(addr) && !addr.includes('.')) {
    if (!Number.isInteger(length) || length < 0 || length > 128) throw new Error(`"${text}": an IPv6 prefix length is 0 to 128`);
    const bits = v6ToBig(addr) & mask(128, length);
    return { family: 6, bits, length, text };
  }
  throw new Error(`"${text}" is not an IPv4 or IPv6 prefix`);
}

function mask(width: number, length: number): bigint {
  const all = (1n << BigInt(width)) - 1n;
  return length === 0 ? 0n : (all >> BigInt(width - length)) << BigInt(width - length);
}

/** True when `inner` lies inside `outer`. */
export function covers(outer: Prefix, inner: Prefix): boolean {
  if (outer.family !== inner.family || inner.length < outer.length) return false;
  const width = outer.family === 4 ? 32 : 128;
  return (inner.bits & mask(width, outer.length)) === outer.bits;
}

/** True when the two prefixes share at least one address. */
export function overlaps(a: Prefix, b: Prefix): boolean {
  return covers(a, b) || covers(b, a);
}
