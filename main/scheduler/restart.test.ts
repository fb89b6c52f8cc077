import { describe, expect, test } from 'vitest';
import { systemActor } from './audit.ts';
import { Scheduler } from './scheduler.ts';
import { attachController, request, testConfig } from '../../test/support/schedulerFixtures.ts';

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
});
