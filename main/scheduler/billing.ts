/**
 * The money side of reservations (DESIGN.md section 5): what a request is
 * quoted (tiered by how much the provider already holds), what a cancel
 * refunds (F x (tB - tC) / (tB - tA) before the start, nothing after), and
 * what a resize charges, refunds or fines. The formulas are in pricing.ts;
 * this module applies them to reservations and keeps, per provider, the base
 * price of everything held (the tier a new request falls in).
 *
 * It decides amounts only; the scheduler writes them to the ledger and to
 * `paid` in the same write set, so the two always agree.
 */
import type { Profile, Reservation } from '../protocol/domain.ts';
import { basePrice, cancellationRefund, roundMoney, shrinkFine, tieredPrice, type PricingRules } from './pricing.ts';

export interface ResizeAmounts {
  charge: number;
  refund: number;
  fine: number;
  /** How the quoted price changes. */
  priceDelta: number;
}

export class Billing {
  private readonly pricing: PricingRules;
  /** Base-price units each provider holds, and each reservation's part of it. */
  private readonly holding = new Map<string, number>();
  private readonly heldBase = new Map<string, number>();

  constructor(pricing: PricingRules) {
    this.pricing = pricing;
  }

  /** The base price of a profile (before tiers). */
  base(profile: Profile, from?: number, to?: number): number {
    return basePrice(profile, this.pricing.rates, from, to);
  }

  /** Counts a reservation's profile in its provider's holding (replacing what it counted before). */
  hold(id: string, providerId: string, profile: Profile): void {
    const base = this.base(profile);
    const before = this.heldBase.get(id) ?? 0;
    this.heldBase.set(id, base);
    this.holding.set(providerId, (this.holding.get(providerId) ?? 0) - before + base);
  }

  release(id: string, providerId: string): void {
    const before = this.heldBase.get(id) ?? 0;
    this.heldBase.delete(id);
    this.holding.set(providerId, (this.holding.get(providerId) ?? 0) - before);
  }

  holdingOf(providerId: string): number {
    return this.holding.get(providerId) ?? 0;
  }

  /** The price a provider is quoted for a profile now (tiered by what it holds). */
  price(providerId: string, profile: Profile): number {
    return tieredPrice(this.holdingOf(providerId), this.base(profile), this.pricing.tiers);
  }

  /** F x (tB - tC) / (tB - tA): tA when it was reserved, tB its start, tC now; nothing unless charged and not started. */
  cancelRefund(r: Reservation, at: number): number {
    return r.state === 'scheduled' ? cancellationRefund(r.paid, r.createdAt, r.t0, at) : 0;
  }

  /**
   * What a resize from `old` to `profile` (changed from `from` on) costs:
   * growing is charged at the tiered price (once paid for), shrinking a running
   * VI costs a fine, shrinking before the start is refunded like a partial
   * cancellation.
   */
  resize(r: Reservation, old: Profile, profile: Profile, from: number, at: number): ResizeAmounts {
    const delta = this.base(profile, from, r.t1) - this.base(old, from, r.t1);
    const oldTotal = this.base(old);
    const paid = r.state === 'scheduled' || r.state === 'active';
    if (delta > 0) {
      const grown = tieredPrice(this.holdingOf(r.providerId), delta, this.pricing.tiers);
      return { charge: paid ? grown : 0, refund: 0, fine: 0, priceDelta: grown };
    }
    if (delta < 0) {
      if (r.state === 'active') return { charge: 0, refund: 0, fine: shrinkFine(-delta, this.pricing.shrinkFine), priceDelta: 0 };
      const releasedPrice = oldTotal > 0 ? roundMoney((r.price * -delta) / oldTotal) : 0;
      const refund = r.state === 'scheduled' ? cancellationRefund(releasedPrice, r.createdAt, r.t0, at) : 0;
      return { charge: 0, refund, fine: 0, priceDelta: -releasedPrice };
    }
    return { charge: 0, refund: 0, fine: 0, priceDelta: 0 };
  }
}
