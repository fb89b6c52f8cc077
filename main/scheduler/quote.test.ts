import { expect, test } from 'vitest';
import { ErrorCode } from '../protocol/errors.ts';
import { hour, request, tokens } from '../../test/support/schedulerFixtures.ts';
import { schedulerHarness } from '../../test/support/schedulerHarness.ts';

const { start, client } = schedulerHarness();

const slotIn = (n: number): number => (Math.floor(Date.now() / hour) + n) * hour;

/** A scheduled (approved, confirmed, charged) reservation with a controller that says yes to everything. */
async function scheduled(cpu: number) {
  const r = await start();
  const ctl = await client(r, tokens.cA);
  await ctl.call('controller.hello', {});
  await ctl.subscribe('controller.commands', {}, (cmd) => void ctl.call('controller.answer', { commandId: cmd.commandId, ok: true }).catch(() => undefined));
  const p1 = await client(r, tokens.p1);
  const op = await client(r, tokens.operator);
  const made = await p1.call('reservation.request', request(slotIn(3), slotIn(5), cpu));
  await op.call('reservation.approve', { id: made.id });
  return { p1, op, id: made.id };
}

test('a cancel quote is exactly the refund the cancel then pays, and changes nothing', async () => {
  const { p1, id } = await scheduled(2);
  const before = await p1.call('reservation.get', { id });
  const quote = await p1.call('reservation.quote', { id, action: 'cancel' });
  expect(quote.refund).toBeGreaterThan(0);
  expect(await p1.call('reservation.get', { id })).toMatchObject({ state: before.state, paid: before.paid });
  const done = await p1.call('reservation.cancel', { id, reason: 'plans changed' });
  // The refund shrinks with time, so the quote is an upper bound by at most a few ms' worth.
  expect(done.refund).toBeLessThanOrEqual(quote.refund);
  expect(done.refund).toBeGreaterThan(quote.refund * 0.999);
});

test('a resize quote matches the resize, and an impossible one says which resource does not fit', async () => {
  const { op, id } = await scheduled(2);
  const capacity = { cpu: 1, memMiB: 512, diskGiB: 1, netMbps: 10 };
  const quote = await op.call('reservation.quote', { id, action: 'resize', capacity });
  const done = await op.call('reservation.resize', { id, capacity, reason: 'smaller' });
  expect(done.charge).toBe(quote.charge);
  expect(done.fine).toBe(quote.fine);
  expect(done.refund).toBeLessThanOrEqual(quote.refund);
  expect(done.refund).toBeGreaterThan(quote.refund * 0.999);
  await expect(op.call('reservation.quote', { id, action: 'resize', capacity: { ...capacity, cpu: 10_000 } })).rejects.toMatchObject({
    code: ErrorCode.Conflict,
    message: expect.stringMatching(/cpu needs 10000/),
  });
});

test('a resize quote without a capacity is refused naming the field', async () => {
  const { op, id } = await scheduled(1);
  await expect(op.call('reservation.quote', { id, action: 'resize' })).rejects.toMatchObject({ code: ErrorCode.InvalidParams, message: expect.stringContaining('params.capacity') });
});
