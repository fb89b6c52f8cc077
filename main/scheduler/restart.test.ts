import Database from 'better-sqlite3';
import { describe, expect, test } from 'vitest';
import { systemActor } from './audit.ts';
import { InconsistentStoreError, Scheduler } from './scheduler.ts';
import { attachController, hour, request, testConfig } from '../../test/support/schedulerFixtures.ts';

describe('after a restart', () => {
  test('start and stop timers are rebuilt from the store', async () => {
    const config = testConfig({ slotMs: 1000, approval: { autoApprove: [], autoApproveAll: true } });
    const first = new Scheduler(config, { log: () => undefined });
    attachController(first, 'cA');
    const t0 = Math.ceil(Date.now() / 1000) * 1000 + 2000;
    const made = await first.request('p1', request(t0, t0 + 1000, 2), systemActor);
    expect(made.state).toBe('scheduled');
    first.close();

    const second = new Scheduler(config, { log: () => undefined });
    const seen = attachController(second, 'cA');
    second.start();
    try {
      expect(second.index.holdOf(made.id)?.node.id).toBe(made.nodeId);
      await new Promise((resolve) => setTimeout(resolve, t0 + 1000 - Date.now() + 600));
      expect(seen.map((c) => c.kind)).toEqual(['start', 'stop']);
      const after = second.get(made.id);
      expect(after.state).toBe('expired');
      expect((after.transitions?.at(-1)?.at ?? 0) - (t0 + 1000)).toBeLessThan(1000);
      expect(second.index.holdOf(made.id)).toBeUndefined();
      expect(second.verifyAudit().ok).toBe(true);
    } finally {
      second.close();
    }
  });

  test('a store that breaks an invariant is refused at start-up, saying what is wrong', async () => {
    const config = testConfig({ approval: { autoApprove: [], autoApproveAll: true } });
    const first = new Scheduler(config, { log: () => undefined });
    attachController(first, 'cA');
    const t0 = (Math.floor(Date.now() / hour) + 3) * hour;
    const made = await first.request('p1', request(t0, t0 + hour, 2), systemActor);
    expect(made.state).toBe('scheduled');
    first.close();
    // Consistent: it starts.
    new Scheduler(config, { log: () => undefined }).close();

    const db = new Database(config.database);
    db.prepare('UPDATE reservations SET paid_micros = paid_micros + 1000000 WHERE id = ?').run(made.id);
    db.prepare('UPDATE holds SET cpu = 7 WHERE reservation_id = ?').run(made.id);
    db.close();
    let refused: unknown;
    try {
      new Scheduler(config, { log: () => undefined }).close();
    } catch (e) {
      refused = e;
    }
    expect(refused).toBeInstanceOf(InconsistentStoreError);
    const message = (refused as Error).message;
    expect(message).toContain(`is inconsistent, refusing to serve it`);
    expect(message).toMatch(new RegExp(`reservation ${made.id}: paid \\d+(\\.\\d+)? but its ledger sums to`));
    expect(message).toContain(`node ${made.nodeId} from ${new Date(t0).toISOString()} to ${new Date(t0 + hour).toISOString()}: its holds exceed what it offers in cpu`);
  });
});
