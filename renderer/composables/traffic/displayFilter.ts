/**
 * Display filters for sampled packets: a small Wireshark-like language,
 * validated as the operator types, compiled to a predicate.
 *
 *   expression := or
 *   or         := and { ("||" | "or") and }
 *   and        := not { ("&&" | "and") not }
 *   not        := ("!" | "not") not | primary
 *   primary    := "(" expression ")" | field [ operator value ]
 *   operator   := "==" | "!=" | "<" | "<=" | ">" | ">=" | "contains"
 *   value      := number | IPv4 or IPv6 address, with an optional "/prefix" |
 *                 "quoted string" | bare word (letters, digits, "_", "-", ".", ":")
 *
 * Examples: `ip.src == 10.1.0.0/16 && tcp.port == 80`, `icmp`,
 * `vi == "vi-r-12"`, `verdict == "drop"`, `dir == "from_vi"`,
 * `!(udp.port == 53) and frame.len > 1000`.
 *
 * Semantics as in Wireshark: a field alone means "present"; a comparison holds
 * when some occurrence of the field satisfies it (a packet in VXLAN has two
 * ip.src); `!=` holds when the field is present and no occurrence equals the
 * value; an address compared with a prefix matches every address inside it.
 * The packet's fields come from packetDecode.ts plus the sample's metadata.
 */
import { sampleVerdicts, type SampleVerdict } from './capturedSample.ts';
import { decodePacket, fieldText, type FieldValue } from './packetDecode.ts';

/** What a sample carries besides its bytes (PacketSampleView of controllerApi.ts, minus the bytes). */
export interface SampleMeta {
  viId: string;
  ruleId: string;
  direction: 'to_vi' | 'from_vi';
  verdict: SampleVerdict;
  vni: number;
  wireLength: number;
  samplingRate: number;
  cloudletId?: string;
}

/** A packet as filters see it: metadata now, decoded fields on first need. */
export interface FilterablePacket {
  meta: SampleMeta;
  fields(): Map<string, FieldValue[]>;
}

type FieldType = 'number' | 'ip4' | 'ip6' | 'string' | 'protocol';

interface FieldInfo {
  type: FieldType;
  description: string;
  /** The only values a string field can take (checked as typed). */
  values?: readonly string[];
}

const directions = ['to_vi', 'from_vi'] as const;

/** Every field the language knows; the filter help lists them from here. */
export const filterFields: Readonly<Record<string, FieldInfo>> = {
  vi: { type: 'string', description: 'VI the sample belongs to' },
  rule: { type: 'string', description: 'demux rule that matched' },
  verdict: { type: 'string', description: 'what the data plane did', values: sampleVerdicts },
  dir: { type: 'string', description: 'to_vi or from_vi', values: directions },
  cloudlet: { type: 'string', description: 'cloudlet whose controller sampled it' },
  vni: { type: 'number', description: 'VXLAN network identifier of the uplink' },
  'frame.len': { type: 'number', description: 'length on the wire' },
  rate: { type: 'number', description: 'sampling rate (1 in N)' },
  eth: { type: 'protocol', description: 'Ethernet' },
  'eth.src': { type: 'string', description: 'source MAC' },
  'eth.dst': { type: 'string', description: 'destination MAC' },
  'eth.type': { type: 'number', description: 'EtherType' },
  vlan: { type: 'protocol', description: '802.1Q tag' },
  'vlan.id': { type: 'number', description: 'VLAN id' },
  'vlan.priority': { type: 'number', description: 'VLAN priority' },
  ip: { type: 'protocol', description: 'IPv4' },
  'ip.src': { type: 'ip4', description: 'IPv4 source' },
  'ip.dst': { type: 'ip4', description: 'IPv4 destination' },
  'ip.addr': { type: 'ip4', description: 'IPv4 source or destination' },
  'ip.proto': { type: 'number', description: 'IPv4 protocol number' },
  'ip.ttl': { type: 'number', description: 'IPv4 time to live' },
  'ip.len': { type: 'number', description: 'IPv4 total length' },
  'ip.id': { type: 'number', description: 'IPv4 identification' },
  ipv6: { type: 'protocol', description: 'IPv6' },
  'ipv6.src': { type: 'ip6', description: 'IPv6 source' },
  'ipv6.dst': { type: 'ip6', description: 'IPv6 destination' },
  'ipv6.addr': { type: 'ip6', description: 'IPv6 source or destination' },
  'ipv6.nxt': { type: 'number', description: 'IPv6 next header' },
  'ipv6.hlim': { type: 'number', description: 'IPv6 hop limit' },
  tcp: { type: 'protocol', description: 'TCP' },
  'tcp.srcport': { type: 'number', description: 'TCP source port' },
  'tcp.dstport': { type: 'number', description: 'TCP destination port' },
  'tcp.port': { type: 'number', description: 'TCP source or destination port' },
  'tcp.flags': { type: 'number', description: 'TCP flags byte' },
  udp: { type: 'protocol', description: 'UDP' },
  'udp.srcport': { type: 'number', description: 'UDP source port' },
  'udp.dstport': { type: 'number', description: 'UDP destination port' },
  'udp.port': { type: 'number', description: 'UDP source or destination port' },
  port: { type: 'number', description: 'TCP or UDP port, either end' },
  icmp: { type: 'protocol', description: 'ICMP' },
  'icmp.type': { type: 'number', description: 'ICMP type' },
  'icmp.code': { type: 'number', description: 'ICMP code' },
  icmpv6: { type: 'protocol', description: 'ICMPv6' },
  'icmpv6.type': { type: 'number', description: 'ICMPv6 type' },
  vxlan: { type: 'protocol', description: 'VXLAN (UDP 4789)' },
  'vxlan.vni': { type: 'number', description: 'VXLAN network identifier inside the packet' },
};

/** Fields that stand for two decoded fields (either end). */
const eitherEnd: Record<string, string[]> = {
  'ip.addr': ['ip.src', 'ip.dst'],
  'ipv6.addr': ['ipv6.src', 'ipv6.dst'],
};

export type Operator = '==' | '!=' | '<' | '<=' | '>' | '>=' | 'contains';

export type FilterAst =
  | { kind: 'and' | 'or'; left: FilterAst; right: FilterAst }
  | { kind: 'not'; operand: FilterAst }
  | { kind: 'present'; field: string }
  | { kind: 'compare'; field: string; op: Operator; value: CompareValue };

type CompareValue = { kind: 'number'; value: number } | { kind: 'string'; value: string } | { kind: 'prefix'; version: 4 | 6; value: bigint; bits: number };

export type FilterResult = { ok: true; ast: FilterAst | null; matches: (p: FilterablePacket) => boolean } | { ok: false; message: string; at: number };

export class FilterSyntaxError extends Error {
  readonly at: number;
  constructor(message: string, at: number) {
    super(message);
    this.at = at;
  }
}

interface Token {
  kind: 'op' | 'paren' | 'word' | 'string' | 'end';
  text: string;
  at: number;
}

function tokenize(input: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < input.length) {
    const c = input[i] as string;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    const two = input.slice(i, i + 2);
    if (['==', '!=', '<=', '>=', '&&', '||'].includes(two)) {
      tokens.push({ kind: 'op', text: two, at: i });
      i += 2;
    } else if (c === '<' || c === '>' || c === '!') {
      tokens.push({ kind: 'op', text: c, at: i });
      i++;
    } else if (c === '=') {
      throw new FilterSyntaxError('"=" alone is not an operator: compare with "=="', i);
    } else if (c === '&' || c === '|') {
      throw new FilterSyntaxError(`"${c}" alone is not an operator: write "${c}${c}"`, i);
    } else if (c === '(' || c === ')') {
      tokens.push({ kind: 'paren', text: c, at: i });
      i++;
    } else if (c === '"') {
      let j = i + 1;
      let text = '';
      while (j < input.length && input[j] !== '"') {
        if (input[j] === '\\' && j + 1 < input.length) j++;
        text += input[j];
        j++;
      }
      if (j >= input.length) throw new FilterSyntaxError('the string is not closed: add a closing "', i);
      tokens.push({ kind: 'string', text, at: i });
      i = j + 1;
    } else if (/[A-Za-z0-9_.:/-]/.test(c)) {
      let j = i;
      while (j < input.length && /[A-Za-z0-9_.:/-]/.test(input[j] as string)) j++;
      tokens.push({ kind: 'word', text: input.slice(i, j), at: i });
      i = j;
    } else {
      throw new FilterSyntaxError(`unexpected "${c}"`, i);
    }
  }
  tokens.push({ kind: 'end', text: '', at: input.length });
  return tokens;
}

export function parseIpv4(text: string): bigint | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (!m) return null;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return null;
  return parts.reduce((v, p) => (v << 8n) | BigInt(p), 0n);
}

export function parseIpv6(text: string): bigint | null {
  if (!/^[0-9A-Fa-f:.]+$/.test(text) || !text.includes(':')) return null;
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const groups = (s: string): number[] | null => {
    if (s === '') return [];
    const out: number[] = [];
    for (const g of s.split(':')) {
      if (!/^[0-9A-Fa-f]{1,4}$/.test(g)) return null;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  const head = groups(halves[0] as string);
  const tail = halves.length === 2 ? groups(halves[1] as string) : [];
  if (!head || !tail) return null;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return null;
  const all = [...head, ...new Array<number>(halves.length === 2 ? missing : 0).fill(0), ...tail];
  return all.reduce((v, g) => (v << 16n) | BigInt(g), 0n);
}

/** "10.1.0.0/16", "2001:db8::/32" or a plain address (a /32 or /128). */
function parsePrefix(text: string, version: 4 | 6): CompareValue | string {
  const [addr = '', bitsText] = text.split('/');
  const max = version === 4 ? 32 : 128;
  const value = version === 4 ? parseIpv4(addr) : parseIpv6(addr);
  if (value === null) return `"${addr}" is not an IPv${version} address`;
  const bits = bitsText === undefined ? max : Number(bitsText);
  if (!Number.isInteger(bits) || bits < 0 || bits > max || (bitsText !== undefined && !/^\d+$/.test(bitsText))) return `"/${bitsText}" is not a prefix length (0 to ${max})`;
  const mask = bits === 0 ? 0n : ((1n << BigInt(bits)) - 1n) << BigInt(max - bits);
  return { kind: 'prefix', version, value: value & mask, bits };
}

/** Edit distance, for "did you mean" on a misspelt field. */
function distance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) next[j] = Math.min((row[j] as number) + 1, (next[j - 1] as number) + 1, (row[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1));
    row = next;
  }
  return row[b.length] as number;
}

function nearest(name: string): string | undefined {
  const ranked = Object.keys(filterFields)
    .map((k) => ({ k, d: distance(name, k) }))
    .sort((x, y) => x.d - y.d);
  const best = ranked[0];
  return best && best.d <= 2 ? best.k : undefined;
}

class Parser {
  private readonly tokens: Token[];
  private i = 0;
  constructor(tokens: Token[]) {
    this.tokens = tokens;
  }

  private peek(): Token {
    return this.tokens[this.i] as Token;
  }

  private next(): Token {
    return this.tokens[this.i++] as Token;
  }

  private isWord(t: Token, ...words: string[]): boolean {
    return t.kind === 'word' && words.includes(t.text.toLowerCase());
  }

  parse(): FilterAst {
    const ast = this.or();
    const t = this.peek();
    if (t.kind !== 'end') throw new FilterSyntaxError(t.text === ')' ? 'a ")" without its "("' : `expected "&&" or "||" before "${t.text}"`, t.at);
    return ast;
  }

  private or(): FilterAst {
    let left = this.and();
    for (let t = this.peek(); t.text === '||' || this.isWord(t, 'or'); t = this.peek()) {
      this.next();
      left = { kind: 'or', left, right: this.and() };
    }
    return left;
  }

  private and(): FilterAst {
    let left = this.not();
    for (let t = this.peek(); t.text === '&&' || this.isWord(t, 'and'); t = this.peek()) {
      this.next();
      left = { kind: 'and', left, right: this.not() };
    }
    return left;
  }

  private not(): FilterAst {
    const t = this.peek();
    if (t.text === '!' || this.isWord(t, 'not')) {
      this.next();
      return { kind: 'not', operand: this.not() };
    }
    return this.primary();
  }

  private primary(): FilterAst {
    const t = this.next();
    if (t.kind === 'end') throw new FilterSyntaxError(this.i > 1 ? 'the expression ends too soon: something must follow' : 'empty expression', t.at);
    if (t.text === '(') {
      const inner = this.or();
      const close = this.next();
      if (close.text !== ')') throw new FilterSyntaxError('missing ")"', close.at);
      return inner;
    }
    if (t.kind !== 'word' || /^[0-9]/.test(t.text)) throw new FilterSyntaxError(`expected a field name (e.g. ip.src, tcp.port, vi), not "${t.text}"`, t.at);
    const name = t.text.toLowerCase();
    const info = filterFields[name];
    if (!info) {
      const hint = nearest(name);
      throw new FilterSyntaxError(`unknown field "${t.text}"${hint ? ` (did you mean "${hint}"?)` : ''}`, t.at);
    }
    const opToken = this.peek();
    const op = opToken.kind === 'op' && opToken.text !== '!' && opToken.text !== '&&' && opToken.text !== '||' ? opToken.text : this.isWord(opToken, 'contains') ? 'contains' : undefined;
    if (!op) return { kind: 'present', field: name };
    this.next();
    if (info.type === 'protocol') throw new FilterSyntaxError(`"${name}" is a protocol: use it alone (e.g. "${name}") or compare one of its fields`, opToken.at);
    const valueToken = this.next();
    if (valueToken.kind !== 'word' && valueToken.kind !== 'string') throw new FilterSyntaxError(`expected a value after "${op}"`, valueToken.at);
    return { kind: 'compare', field: name, op: op as Operator, value: this.value(name, info, op as Operator, valueToken) };
  }

  private value(name: string, info: FieldInfo, op: Operator, t: Token): CompareValue {
    if (info.type === 'number') {
      if (op === 'contains') throw new FilterSyntaxError(`"contains" works on text fields; "${name}" is a number`, t.at);
      const n = /^0x[0-9a-f]+$/i.test(t.text) ? parseInt(t.text, 16) : /^\d+(\.\d+)?$/.test(t.text) ? Number(t.text) : NaN;
      if (t.kind !== 'word' || Number.isNaN(n)) throw new FilterSyntaxError(`"${name}" is a number: "${t.text}" is not one`, t.at);
      return { kind: 'number', value: n };
    }
    if (info.type === 'ip4' || info.type === 'ip6') {
      if (op !== '==' && op !== '!=') throw new FilterSyntaxError(`addresses compare with "==" or "!=" (a prefix such as 10.1.0.0/16 matches every address in it), not "${op}"`, t.at);
      const parsed = parsePrefix(t.text, info.type === 'ip4' ? 4 : 6);
      if (typeof parsed === 'string') throw new FilterSyntaxError(`${parsed} (field "${name}")`, t.at);
      return parsed;
    }
    if (op !== '==' && op !== '!=' && op !== 'contains') throw new FilterSyntaxError(`"${name}" is text: compare with "==", "!=" or "contains", not "${op}"`, t.at);
    if (info.values && op !== 'contains' && !info.values.includes(t.text)) throw new FilterSyntaxError(`"${t.text}" is not a ${name}: one of ${info.values.map((v) => `"${v}"`).join(', ')}`, t.at);
    return { kind: 'string', value: t.text };
  }
}

function metaValue(p: FilterablePacket, name: string): FieldValue[] | undefined {
  const m = p.meta;
  switch (name) {
    case 'vi':
      return [{ kind: 'string', value: m.viId }];
    case 'rule':
      return [{ kind: 'string', value: m.ruleId }];
    case 'verdict':
      return [{ kind: 'string', value: m.verdict }];
    case 'dir':
      return [{ kind: 'string', value: m.direction }];
    case 'cloudlet':
      return m.cloudletId === undefined ? [] : [{ kind: 'string', value: m.cloudletId }];
    case 'vni':
      return [{ kind: 'number', value: m.vni }];
    case 'frame.len':
      return [{ kind: 'number', value: m.wireLength }];
    case 'rate':
      return [{ kind: 'number', value: m.samplingRate }];
    default:
      return undefined;
  }
}

function valuesOf(p: FilterablePacket, name: string): FieldValue[] {
  const meta = metaValue(p, name);
  if (meta) return meta;
  const decoded = p.fields();
  const names = eitherEnd[name] ?? [name];
  return names.flatMap((n) => decoded.get(n) ?? []);
}

function compareOne(v: FieldValue, op: Operator, want: CompareValue): boolean {
  if (want.kind === 'prefix') {
    if (v.kind !== 'ip' || v.version !== want.version) return false;
    const max = want.version === 4 ? 32 : 128;
    const shift = BigInt(max - want.bits);
    return want.bits === 0 || v.value >> shift === want.value >> shift;
  }
  if (want.kind === 'number') {
    if (v.kind !== 'number') return false;
    switch (op) {
      case '<':
        return v.value < want.value;
      case '<=':
        return v.value <= want.value;
      case '>':
        return v.value > want.value;
      case '>=':
        return v.value >= want.value;
      default:
        return v.value === want.value;
    }
  }
  const text = fieldText(v);
  return op === 'contains' ? text.toLowerCase().includes(want.value.toLowerCase()) : text.toLowerCase() === want.value.toLowerCase();
}

function evaluate(ast: FilterAst, p: FilterablePacket): boolean {
  switch (ast.kind) {
    case 'and':
      return evaluate(ast.left, p) && evaluate(ast.right, p);
    case 'or':
      return evaluate(ast.left, p) || evaluate(ast.right, p);
    case 'not':
      return !evaluate(ast.operand, p);
    case 'present':
      return valuesOf(p, ast.field).length > 0;
    case 'compare': {
      const values = valuesOf(p, ast.field);
      if (ast.op === '!=') return values.length > 0 && !values.some((v) => compareOne(v, '==', ast.value));
      return values.some((v) => compareOne(v, ast.op, ast.value));
    }
  }
}

/** Parses and checks a filter; an empty text shows everything. */
export function compileFilter(text: string): FilterResult {
  if (!text.trim()) return { ok: true, ast: null, matches: () => true };
  try {
    const ast = new Parser(tokenize(text)).parse();
    return { ok: true, ast, matches: (p) => evaluate(ast, p) };
  } catch (e) {
    if (e instanceof FilterSyntaxError) return { ok: false, message: e.message, at: e.at };
    throw e;
  }
}

/** A sample as filters see it, decoding its bytes once on first need. */
export function filterable(meta: SampleMeta, bytes: () => Uint8Array): FilterablePacket {
  let fields: Map<string, FieldValue[]> | undefined;
  return { meta, fields: () => (fields ??= decodePacket(bytes()).fields) };
}

/** A text value as a filter literal (quoted, quotes and backslashes escaped). */
export function filterValue(text: string): string {
  return JSON.stringify(text);
}
