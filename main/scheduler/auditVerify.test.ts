/**
 * Costly calls are bounded: audit.verify checks only what was added since the
 * last verification (a full walk is an operator's explicit, weighted
 * request), and list filters are bounded by their schemas, so an oversized
 * filter is a params error naming the field, never an SQL failure.
 */
import Database from 'better-sqlite3';
import { describe, expect, test } from 'vitest';
import { ErrorCode } from '../protocol/errors.ts';
import { fullAuditVerifyCost } from '../protocol/schedulerApi.ts';
import { schedulerHarness } from '../../test/support/schedulerHarness.ts';
import { hour, request, testConfig, tokens } from '../../test/support/schedulerFixtures.ts';
import { AuditVerifier, systemActor } from './audit.ts';
import { Scheduler } from './scheduler.ts';

const { start, client } = schedulerHarness();
const slotIn = (n: number): number => (Math.floor(Date.now() / hour) + n) * hour;

describe('audit.verify', () => {
  test('a repeated verification checks only the entries added since the last one', async () => {
    const r = await start();
    const p1 = await client(r, tokens.p1);
    const viewer = await client(r, tokens.viewer);
    for (let i = 0; i < 5; i++) await p1.call('reservation.request', request(slotIn(2 + i), slotIn(3 + i), 1));
    const first = await viewer.call('audit.verify', {});
    expect(first).toMatchObject({ ok: true, brokenAt: null });
    expect(first.checked).toBe(first.entries);
    const again = await viewer.call('audit.verify', {});
    expect(again).toMatchObject({ ok: true, entries: first.entries, checked: 0 });
    await p1.call('reservation.request', request(slotIn(10), slotIn(11), 1));
    const after = await viewer.call('audit.verify', {});
    expect(after.entries).toBeGreaterThan(first.entries);
    expect(after.checked).toBe(after.entries - first.entries);
    expect(after.reason).toMatch(new RegExp(`checked after entry ${first.entries}, verified before`));
  });

  test('a full verification is for operators, walks every entry, and finds an edit behind the checkpoint', async () => {
    const r = await start();
    const p1 = await client(r, tokens.p1);
    const viewer = await client(r, tokens.viewer);
    const op = await client(r, tokens.operator);
    for (let i = 0; i < 3; i++) await p1.call('reservation.request', request(slotIn(2 + i), slotIn(3 + i), 1));
    const verified = await viewer.call('audit.verify', {});
    await expect(viewer.call('audit.verify', { full: true })).rejects.toMatchObject({ code: ErrorCode.Forbidden, message: expect.stringContaining('params.full') });
    // Someone edits an entry the checkpoint already covers, behind the scheduler's back.
    const db = new Database(r.scheduler.config.database);
    db.prepare('UPDATE audit SET reason = ? WHERE seq = 2').run('nothing to see here');
    db.close();
    expect(await viewer.call('audit.verify', {})).toMatchObject({ ok: true, checked: 0 });
    const full = await op.call('audit.verify', { full: true });
    expect(full).toMatchObject({ ok: false, brokenAt: 2, entries: 1 });
    expect(full.reason).toMatch(/entry 2 was altered/);
    expect(verified.entries).toBeGreaterThan(2);
  });

  test('a chain longer than one step is walked in steps and verified whole', async () => {
    const s = new Scheduler(testConfig(), { log: () => undefined });
    try {
      for (let i = 0; i < 6; i++) await s.request('p1', request(slotIn(2 + i), slotIn(3 + i), 1), systemActor);
      const verifier = new AuditVerifier(3);
      const steps: number[] = [];
      const verdict = await verifier.verify((from, max) => {
        steps.push(from.seq);
        return s.verifyAudit(from, max);
      }, { full: true });
      expect(verdict).toMatchObject({ ok: true, complete: true });
      expect(verdict.checked).toBe(verdict.entries);
      expect(steps).toEqual(Array.from({ length: steps.length }, (_, i) => i * 3));
      expect(steps.length).toBeGreaterThan(verdict.entries / 3);
      expect(verifier.verifiedUpTo.seq).toBe(verdict.entries);
      expect(s.verifyAudit().entries).toBe(verdict.entries);
    } finally {
      s.close();
    }
  });

  test('a full verification is weighted: a tight budget refuses it and still serves cheap calls', async () => {
    const r = await start({ limits: { requestsPerSecond: 1, requestBurst: fullAuditVerifyCost + 5 } }); // tighter than the fixture's
    const op = await client(r, tokens.operator);
    await expect(op.call('audit.verify', { full: true })).resolves.toMatchObject({ ok: true });
    await expect(op.call('audit.verify', { full: true })).rejects.toMatchObject({ code: ErrorCode.RateLimited, message: expect.stringMatching(/audit\.verify costs 500 units/) });
    await expect(op.call('scheduler.info', {})).resolves.toMatchObject({ slotMs: expect.any(Number) });
  });
});

describe('list parameters are bounded by their schemas', () => {
  test('a states filter of 40,000 entries is an InvalidParams error naming the field', async () => {
    const r = await start();
    const viewer = await client(r, tokens.viewer);
    const states = Array.from({ length: 40_000 }, () => 'active' as const);
    const refused = viewer.call('reservation.list', { states });
    await expect(refused).rejects.toMatchObject({ code: ErrorCode.InvalidParams, message: expect.stringContaining('params.states') });
    await expect(viewer.call('reservation.list', { states: ['active', 'scheduled'] })).resolves.toEqual({ reservations: [] });
  });

  test('a limit over the maximum is an InvalidParams error naming the field', async () => {
    const r = await start();
    const viewer = await client(r, tokens.viewer);
    await expect(viewer.call('reservation.list', { limit: 10_001 })).rejects.toMatchObject({ code: ErrorCode.InvalidParams, message: expect.stringContaining('params.limit') });
    await expect(viewer.call('audit.list', { limit: 0 })).rejects.toMatchObject({ code: ErrorCode.InvalidParams, message: expect.stringContaining('params.limit') });
  });
});
