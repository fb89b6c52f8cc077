import { expect, test } from 'vitest';
import { formatTime, noRefundReason } from './reservationText.ts';

const t0 = Date.UTC(2030, 0, 1, 8);

test('a cancellation without refund says which reason applies', () => {
  expect(noRefundReason({ state: 'active', paid: 3, t0 }, t0 + 1)).toBe(`it started at ${formatTime(t0)}, and a started reservation is not refunded`);
  expect(noRefundReason({ state: 'scheduled', paid: 3, t0 }, t0)).toContain('it started at');
  expect(noRefundReason({ state: 'pending_approval', paid: 0, t0 }, t0 - 60_000)).toBe('nothing has been charged for it yet (it is pending approval)');
  expect(noRefundReason({ state: 'scheduled', paid: 0, t0 }, t0 - 60_000)).toContain('nothing has been charged');
});
