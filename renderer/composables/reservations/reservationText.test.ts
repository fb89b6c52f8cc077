import { expect, test } from 'vitest';
import { formatQuantity, formatResources, formatTime, noRefundReason, timeZoneLabel } from './reservationText.ts';

const t0 = Date.UTC(2030, 0, 1, 8);

test('a cancellation without refund says which reason applies', () => {
  expect(noRefundReason({ state: 'active', paid: 3, t0 }, t0 + 1)).toBe(`it started at ${formatTime(t0)}, and a started reservation is not refunded`);
  expect(noRefundReason({ state: 'scheduled', paid: 3, t0 }, t0)).toContain('it started at');
  expect(noRefundReason({ state: 'pending_approval', paid: 0, t0 }, t0 - 60_000)).toBe('nothing has been charged for it yet (it is pending approval)');
  expect(noRefundReason({ state: 'scheduled', paid: 0, t0 }, t0 - 60_000)).toContain('nothing has been charged');
});

test('one core reads "1 core"; amounts keep their units; the zone is named with its offset', () => {
  expect(formatResources({ cpu: 1, memMiB: 16384, diskGiB: 5, netMbps: 50 })).toBe('1 core · 16384 MiB · 5 GiB · 50 Mb/s');
  expect(formatQuantity(2, 'cpu')).toBe('2 cores');
  expect(timeZoneLabel()).toMatch(/^times in \S+ \(UTC[+-]\d\d:\d\d\)$/);
  expect(formatTime(Date.UTC(2030, 0, 1, 8))).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d$/);
});
