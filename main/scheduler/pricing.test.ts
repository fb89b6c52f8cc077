import { describe, expect, test } from 'vitest';
import { basePrice, cancellationRefund, shrinkFine, tieredPrice } from './pricing.ts';

const hour = 3_600_000;

describe('the cancellation refund F x (tB - tC) / (tB - tA)', () => {
  const tA = 1_000 * hour;
  const tB = tA + 10 * hour;
  test('cancelling the instant it was reserved refunds everything', () => expect(cancellationRefund(100, tA, tB, tA)).toBe(100));
  test('half way to the start refunds half', () => expect(cancellationRefund(100, tA, tB, tA + 5 * hour)).toBe(50));
  test('one millisecond before the start refunds almost nothing (to the micro-unit)', () => expect(cancellationRefund(100, tA, tB, tB - 1)).toBeCloseTo(100 / (10 * hour), 5));
  test('at the start nothing is refunded', () => expect(cancellationRefund(100, tA, tB, tB)).toBe(0));
  test('once started nothing is refunded', () => expect(cancellationRefund(100, tA, tB, tB + hour)).toBe(0));
  test('a clock step before tA is treated as tA, never more than F', () => expect(cancellationRefund(100, tA, tB, tA - hour)).toBe(100));
  test('nothing paid, nothing refunded', () => expect(cancellationRefund(0, tA, tB, tA)).toBe(0));
});

describe('tiered pricing charges more per unit as a provider holds more', () => {
  const tiers = [
    { from: 0, multiplier: 1 },
    { from: 100, multiplier: 1.5 },
    { from: 300, multiplier: 2 },
  ];
  test('inside the first tier the base price is charged', () => expect(tieredPrice(0, 50, tiers)).toBe(50));
  test('a request straddling tiers pays each slice at its tier', () => expect(tieredPrice(80, 50, tiers)).toBe(20 + 30 * 1.5));
  test('a large holder pays the top tier', () => expect(tieredPrice(500, 10, tiers)).toBe(20));
  test('the same request costs more for a provider holding more', () => {
    expect(tieredPrice(0, 100, tiers)).toBeLessThan(tieredPrice(150, 100, tiers));
    expect(tieredPrice(150, 100, tiers)).toBeLessThan(tieredPrice(400, 100, tiers));
  });
  test('the base price is unit-hours times rates', () => {
    const rates = { cpu: 1, memMiB: 0.001, diskGiB: 0, netMbps: 0 };
    expect(basePrice([{ from: 0, to: 2 * hour, capacity: { cpu: 2, memMiB: 1000, diskGiB: 5, netMbps: 5 } }], rates)).toBe(6);
    expect(basePrice([{ from: 0, to: 2 * hour, capacity: { cpu: 2, memMiB: 0, diskGiB: 0, netMbps: 0 } }], rates, hour)).toBe(2);
  });
  test('shrinking a running VI is fined on the released base price', () => expect(shrinkFine(10, 0.2)).toBe(2));
});
