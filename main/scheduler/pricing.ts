/**
 * Pricing (DESIGN.md section 5): a base price per unit-hour of each
 * resource, marked up in tiers by how much the provider already holds (like
 * tax brackets: each part of the new amount pays its own tier's multiplier),
 * the cancellation refund F * (tB - tC) / (tB - tA), and the fine for
 * shrinking a running VI. Money is rounded to micro-units.
 */
import type { Profile, Resources } from '../protocol/domain.ts';

export interface Tier {
  readonly from: number;
  readonly multiplier: number;
}

export interface PricingRules {
  readonly rates: Resources;
  readonly tiers: readonly Tier[];
  readonly shrinkFine: number;
}

const hourMs = 3_600_000;

export const roundMoney = (x: number): number => Math.round(x * 1e6) / 1e6;

/** Unit-hours of each resource times its rate, over the whole profile. */
export function basePrice(profile: Profile, rates: Resources, from = -Infinity, to = Infinity): number {
  let sum = 0;
  for (const s of profile) {
    const a = Math.max(s.from, from);
    const b = Math.min(s.to, to);
    if (b <= a) continue;
    const hours = (b - a) / hourMs;
    const c = s.capacity;
    sum += hours * (c.cpu * rates.cpu + c.memMiB * rates.memMiB + c.diskGiB * rates.diskGiB + c.netMbps * rates.netMbps);
  }
  return sum;
}

/**
 * The tiered price of `base` on top of `holding` (both in base-price units):
 * the slice of [holding, holding + base) inside each tier pays that tier's
 * multiplier, so holding more never makes the next unit cheaper.
 */
export function tieredPrice(holding: number, base: number, tiers: readonly Tier[]): number {
  let price = 0;
  const start = Math.max(0, holding);
  const end = start + base;
  for (let i = 0; i < tiers.length; i++) {
    const tier = tiers[i] as Tier;
    const next = tiers[i + 1];
    const lo = Math.max(start, tier.from);
    const hi = Math.min(end, next ? next.from : Infinity);
    if (hi > lo) price += (hi - lo) * tier.multiplier;
  }
  return roundMoney(price);
}

/**
 * Refund for cancelling at tC a reservation made at tA that starts at tB and
 * was paid F: F * (tB - tC) / (tB - tA) before the start, nothing once
 * started. tC before tA (a clock step) is treated as tA: a full refund.
 */
export function cancellationRefund(paid: number, tA: number, tB: number, tC: number): number {
  if (paid <= 0 || tC >= tB) return 0;
  if (tB <= tA) return 0;
  const c = Math.max(tC, tA);
  return roundMoney((paid * (tB - c)) / (tB - tA));
}

/** The fine for releasing `releasedBase` (base-price units) of a running VI early. */
export function shrinkFine(releasedBase: number, fineRate: number): number {
  return roundMoney(Math.max(0, releasedBase) * fineRate);
}
