/**
 * The one translation from the rule book's rules (main/protocol, ruleBook.ts)
 * to the native flow table's rules (native/demux.ts), and the loader that keeps
 * the table equal to the rule book.
 *
 * What changes on the way:
 *  - VI ids. The rule book names a VI by its id ("vi-r-12"); the flow table
 *    and the data plane name it by a number, the one its port was opened with.
 *    Each VI gets a number the first time it is needed, kept for this
 *    controller's life (numbers are never reused, so a late sample can never be
 *    credited to another VI). 0 means "no VI".
 *  - Sampling. The rule book says what fraction of matching packets to sample
 *    (0.01 = 1%); the table samples 1 in N at random (sFlow), so N = round(1/p),
 *    and 0 stays "never".
 *  - Match fields. srcPrefix/dstPrefix become src/dst, srcPorts/dstPorts become
 *    port ranges, everything else keeps its name. The prefixes were checked by
 *    the rule book with the one prefix parser (main/protocol/prefix.ts), the
 *    same one the table's encoder reads them with.
 *  - Actions. to_vi needs a VI: an ISP rule has none, so it cannot send to a VI
 *    and forwards as legacy instead.
 *  - Priority keeps its value: ISP and tenant rules share one priority space,
 *    and the rule book has already refused overlaps that priority cannot order.
 *
 * The loader applies a whole new rule set as one atomic change (adds, removes
 * and modifications in one version), so no packet is classified against half
 * of a change, and the data plane keeps running while it happens.
 */
import type { FlowRule, FlowTable } from '../../native/demux.ts';
import type { InstalledRule } from './ruleInstaller.ts';

/** Numbers for VIs, as the flow table and the data plane know them. */
export class ViNumbers {
  private readonly byId = new Map<string, number>();
  private readonly byNumber = new Map<number, string>();
  private next = 1;

  number(viId: string): number {
    let n = this.byId.get(viId);
    if (n === undefined) {
      n = this.next++;
      this.byId.set(viId, n);
      this.byNumber.set(n, viId);
    }
    return n;
  }

  /** The VI id of a number, or undefined for 0 and numbers never given out. */
  viOf(n: number): string | undefined {
    return this.byNumber.get(n);
  }
}

/** A sampling fraction as 1-in-N. */
export function oneInN(fraction: number): number {
  return fraction > 0 ? Math.max(1, Math.round(1 / fraction)) : 0;
}

export function toFlowRule(rule: InstalledRule, vis: ViNumbers): FlowRule {
  const m = rule.match;
  const viId = rule.viId ? vis.number(rule.viId) : undefined;
  const action = rule.action === 'to_vi' && viId === undefined ? 'legacy' : rule.action;
  return {
    priority: rule.priority,
    match: {
      ...(m.inPort !== undefined ? { inPort: m.inPort } : {}),
      ...(m.ethType !== undefined ? { ethType: m.ethType } : {}),
      ...(m.ipProto !== undefined ? { ipProto: m.ipProto } : {}),
      ...(m.srcPrefix ? { src: m.srcPrefix } : {}),
      ...(m.dstPrefix ? { dst: m.dstPrefix } : {}),
      ...(m.srcPorts ? { srcPort: { from: m.srcPorts.from, to: m.srcPorts.to } } : {}),
      ...(m.dstPorts ? { dstPort: { from: m.dstPorts.from, to: m.dstPorts.to } } : {}),
    },
    action,
    ...(action === 'to_vi' && viId !== undefined ? { viId } : {}),
    sampleRate: oneInN(rule.samplingRate),
  };
}

/** Keeps a flow table equal to the rule book's rules; loads are atomic. */
export class FlowTableLoader {
  private readonly table: FlowTable;
  private readonly vis: ViNumbers;
  /** Rule-book id -> native id and the rule as loaded. */
  private readonly loaded = new Map<string, { nativeId: number; key: string }>();
  private readonly byNative = new Map<number, string>();

  constructor(table: FlowTable, vis: ViNumbers) {
    this.table = table;
    this.vis = vis;
  }

  /** The rule-book id of a native rule id ('' when unknown). */
  ruleIdOf(nativeId: number): string {
    return this.byNative.get(nativeId) ?? '';
  }

  load(tenant: readonly InstalledRule[], isp: readonly InstalledRule[]): void {
    const wanted = new Map<string, FlowRule>();
    for (const r of [...isp, ...tenant]) wanted.set(r.id, toFlowRule(r, this.vis));
    const remove: number[] = [];
    const modify: { id: number; rule: FlowRule }[] = [];
    const add: { id: string; rule: FlowRule }[] = [];
    for (const [id, was] of this.loaded) if (!wanted.has(id)) remove.push(was.nativeId);
    for (const [id, rule] of wanted) {
      const was = this.loaded.get(id);
      const key = JSON.stringify(rule);
      if (!was) add.push({ id, rule });
      else if (was.key !== key) modify.push({ id: was.nativeId, rule });
    }
    if (remove.length === 0 && modify.length === 0 && add.length === 0) return;
    const ids = this.table.apply({ add: add.map((a) => a.rule), remove, modify });
    for (const [id, was] of [...this.loaded]) {
      if (!wanted.has(id)) {
        this.loaded.delete(id);
        this.byNative.delete(was.nativeId);
      }
    }
    for (const m of modify) {
      const id = this.byNative.get(m.id) as string;
      this.loaded.set(id, { nativeId: m.id, key: JSON.stringify(m.rule) });
    }
    add.forEach((a, i) => {
      const nativeId = ids[i] as number;
      this.loaded.set(a.id, { nativeId, key: JSON.stringify(a.rule) });
      this.byNative.set(nativeId, a.id);
    });
  }
}
