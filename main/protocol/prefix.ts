/**
 * IPv4/IPv6 prefixes as (family, network bits, length): the one prefix parser
 * of the tree, for every process that judges or installs demux rules. The
 * scheduler checks a rule's destination against the prefixes a provider is
 * registered for and refuses rules that would capture another tenant's
 * traffic; a controller checks ownership attestations and overlaps between
 * installed rules; the native flow table (native/demux.ts) encodes its
 * records from what this parser returns, so a rule means the same everywhere.
 *
 * The grammar is address/length and nothing else. A bare address is refused
 * rather than read as /32 or /128: in a rule that captures a tenant's traffic,
 * "10.1.0.0" is as likely to mean the /16 as the host, and writing the length
 * costs three characters. Host bits must be zero for the same reason.
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

function mask(width: number, length: number): bigint {
  const all = (1n << BigInt(width)) - 1n;
  return length === 0 ? 0n : (all >> BigInt(width - length)) << BigInt(width - length);
}

/**
 * Parses "10.1.0.0/16" or "2001:db8::/32". Host bits must be zero: a rule
 * written "10.1.2.3/16" is almost always a typo, so it is refused, naming the
 * prefix that was probably meant.
 */
export function parsePrefix(text: string): Prefix {
  const [addr, len, extra] = text.split('/');
  const length = Number(len);
  if (extra !== undefined || len === undefined || !/^[0-9]{1,3}$/.test(len)) throw new Error(`"${text}" is not a prefix: write address/length, e.g. 10.1.0.0/16, or 10.1.2.3/32 for one host`);
  let family: 4 | 6;
  let raw: bigint;
  if (addr && isIPv4(addr)) {
    if (length > 32) throw new Error(`"${text}": an IPv4 prefix length is 0 to 32`);
    family = 4;
    raw = v4ToBig(addr);
  } else if (addr && isIPv6(addr) && !addr.includes('.')) {
    if (length > 128) throw new Error(`"${text}": an IPv6 prefix length is 0 to 128`);
    family = 6;
    raw = v6ToBig(addr);
  } else {
    throw new Error(`"${text}" is not an IPv4 or IPv6 prefix`);
  }
  const bits = raw & mask(family === 4 ? 32 : 128, length);
  const prefix: Prefix = { family, bits, length, text };
  if (bits !== raw) throw new Error(`"${text}" has host bits set: did you mean ${formatPrefix(prefix)}?`);
  return prefix;
}

export function formatPrefix(p: Prefix): string {
  if (p.family === 4) {
    const parts = [24n, 16n, 8n, 0n].map((s) => ((p.bits >> s) & 255n).toString());
    return `${parts.join('.')}/${p.length}`;
  }
  const groups: string[] = [];
  for (let s = 112n; s >= 0n; s -= 16n) groups.push(((p.bits >> s) & 0xffffn).toString(16));
  return `${groups.join(':').replace(/(^|:)0(:0)+(:|$)/, '::')}/${p.length}`;
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
