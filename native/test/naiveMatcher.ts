// Test oracle: a linear scan over rules, written from the rule semantics in
// DESIGN.md (OpenFlow priority semantics) (not from the C++), used only to check the addon.
// A packet matches a rule when every specified field matches; the highest
// priority wins and, among equal priorities, the rule installed first.
import { parsePrefix } from '../../main/protocol/prefix.ts';
import type { FlowRule } from '../demux.ts';
import { prefixBytes } from '../demux.ts';

/** What the oracle knows about a packet: the headers a test built its frame from. */
export interface PacketHeader {
  family: 0 | 4 | 6;
  ethType: number;
  src: Uint8Array; // 16 bytes, IPv4 in the first 4
  dst: Uint8Array;
  /** IP protocol, or undefined for non-IP frames. */
  proto: number | undefined;
  /** Transport ports, or undefined when the packet has none (ICMP, other protocols, non-first fragments). */
  sport: number | undefined;
  dport: number | undefined;
  inPort: number;
  vni: number | undefined;
}

interface CompiledRule {
  id: number;
  priority: number;
  installed: number;
  rule: FlowRule;
  family: 0 | 4 | 6;
  ethType: number | undefined;
  src: Uint8Array | undefined;
  srcLen: number;
  dst: Uint8Array | undefined;
  dstLen: number;
  sport: [number, number] | undefined;
  dport: [number, number] | undefined;
}

function prefixMatches(rule: Uint8Array, len: number, addr: Uint8Array): boolean {
  for (let bit = 0; bit < len; bit += 8) {
    const bits = Math.min(8, len - bit);
    const mask = (0xff << (8 - bits)) & 0xff;
    if (((rule[bit >> 3] ?? 0) & mask) !== ((addr[bit >> 3] ?? 0) & mask)) return false;
  }
  return true;
}

function range(v: number | { from: number; to: number } | undefined): [number, number] | undefined {
  if (v === undefined) return undefined;
  const r: [number, number] = typeof v === 'number' ? [v, v] : [v.from, v.to];
  return r[0] === 0 && r[1] === 0xffff ? undefined : r;
}

export class NaiveMatcher {
  #rules: CompiledRule[] = [];
  #installed = 0;

  add(id: number, rule: FlowRule): void {
    this.#rules.push(this.#compile(id, rule, this.#installed++));
    this.#sort();
  }

  /** Installs rules in order, as one add() each but sorting once. */
  addMany(ids: ArrayLike<number>, rules: readonly FlowRule[]): void {
    rules.forEach((rule, i) => this.#rules.push(this.#compile(ids[i] ?? 0, rule, this.#installed++)));
    this.#sort();
  }

  remove(id: number): void {
    const i = this.#rules.findIndex((r) => r.id === id);
    if (i < 0) throw new Error(`oracle: no rule ${id}`);
    this.#rules.splice(i, 1);
  }

  /** A modified rule keeps its place in installation order. */
  modify(id: number, rule: FlowRule): void {
    const i = this.#rules.findIndex((r) => r.id === id);
    const old = this.#rules[i];
    if (!old) throw new Error(`oracle: no rule ${id}`);
    this.#rules[i] = this.#compile(id, rule, old.installed);
    this.#sort();
  }

  get size(): number {
    return this.#rules.length;
  }

  /** The matching rule's id, or 0. */
  match(h: PacketHeader): number {
    for (const r of this.#rules) {
      if (r.rule.match.inPort !== undefined && r.rule.match.inPort !== h.inPort) continue;
      if (r.rule.match.vni !== undefined && r.rule.match.vni !== h.vni) continue;
      if (r.ethType !== undefined && r.ethType !== h.ethType) continue;
      if (r.family !== 0 && r.family !== h.family) continue;
      if (r.rule.match.ipProto !== undefined && r.rule.match.ipProto !== h.proto) continue;
      if (r.src && !prefixMatches(r.src, r.srcLen, h.src)) continue;
      if (r.dst && !prefixMatches(r.dst, r.dstLen, h.dst)) continue;
      if (r.sport && (h.sport === undefined || h.sport < r.sport[0] || h.sport > r.sport[1])) continue;
      if (r.dport && (h.dport === undefined || h.dport < r.dport[0] || h.dport > r.dport[1])) continue;
      return r.id;
    }
    return 0;
  }

  rule(id: number): FlowRule | undefined {
    return this.#rules.find((r) => r.id === id)?.rule;
  }

  #compile(id: number, rule: FlowRule, installed: number): CompiledRule {
    const src = rule.match.src === undefined ? undefined : parsePrefix(rule.match.src);
    const dst = rule.match.dst === undefined ? undefined : parsePrefix(rule.match.dst);
    const family = (src?.family ?? dst?.family ?? 0) as 0 | 4 | 6;
    const ethType = family === 4 ? 0x0800 : family === 6 ? 0x86dd : rule.match.ethType;
    return {
      id, priority: rule.priority, installed, rule, family, ethType,
      src: src && prefixBytes(src), srcLen: src?.length ?? 0, dst: dst && prefixBytes(dst), dstLen: dst?.length ?? 0,
      sport: range(rule.match.srcPort), dport: range(rule.match.dstPort),
    };
  }

  #sort(): void {
    this.#rules.sort((a, b) => b.priority - a.priority || a.installed - b.installed);
  }
}
