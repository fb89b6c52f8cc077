/**
 * Property tests: whatever sequence of requests, cancels, declines and
 * resizes arrives, no node is ever over capacity (or tenants over the ISP
 * share) at any instant, and the in-memory index equals a naive
 * recomputation from the database's holds table.
 */
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import type { Profile } from '../protocol/domain.ts';
import { systemActor } from './audit.ts';
import { indexDifferences, overbookings, recomputeFromHolds } from './recompute.ts';
import { Scheduler } from './scheduler.ts';
import { T0, hour, testConfig } from '../../test/support/schedulerFixtures.ts';

const quarter = 15 * 60_000;

const subSlot = fc.record({ quarters: fc.integer({ min: 1, max: 8 }), cpu: fc.integer({ min: 0, max: 16 }).map((x) => x / 2), mem: fc.integer({ min: 0, max: 16_384 }) });

const op = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('request' as const), provider: fc.constantFrom('p1', 'p2', 'isp'), pop: fc.constantFrom('A', 'B', 'C', 'D'), start: fc.integer({ min: 0, max: 40 }), subSlots: fc.array(subSlot, { minLength: 1, maxLength: 3 }), preferred: fc.option(fc.constantFrom('cA', 'cC', 'cD'), { nil: undefined }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('cancel' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('decline' as const), pick: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('resize' as const), pick: fc.nat(), cpu: fc.integer({ min: 0, max: 16 }).map((x) => x / 2), skip: fc.integer({ min: 0, max: 4 }) }) },
);

type Op = typeof op extends fc.Arbitrary<infer T> ? T : never;

async function apply(s: Scheduler, o: Op, base: number): Promise<void> {
  const live = s.liveReservations().sort((a, b) => (a.id < b.id ? -1 : 1));
  const picked = 'pick' in o ? live[o.pick % Math.max(1, live.length)] : undefined;
  try {
    switch (o.kind) {
      case 'request': {
        let at = base + o.start * quarter;
        const profile: Profile = o.subSlots.map((x) => {
          const from = at;
          at += x.quarters * quarter;
          return { from, to: at, capacity: { cpu: x.cpu, memMiB: x.mem, diskGiB: 1, netMbps: 10 } };
        });
        const t0 = profile[0]?.from ?? base;
        await s.request(o.provider, { requestorPopId: o.pop, t0, t1: at, profile, service: { mode: 'transparent', program: 'monitor', args: {}, rules: [] }, ...(o.preferred ? { preferredCloudletId: o.preferred } : {}) }, systemActor);
        break;
      }
      case 'cancel':
        if (picked) await s.cancel(picked.id, systemActor, 'property test');
        break;
      case 'decline':
        if (picked) await s.decline(picked.id, systemActor, 'property test');
        break;
      case 'resize':
        if (picked) {
          const from = Math.min(picked.t1 - quarter, picked.t0 + o.skip * quarter);
          await s.resize(picked.id, { cpu: o.cpu, memMiB: 512, diskGiB: 1, netMbps: 10 }, from, systemActor, 'property test');
        }
        break;
    }
  } catch (e) {
    // Refusals (does not fit, wrong state) are part of the game; anything else is a bug.
    if (!(e instanceof Error) || !/RpcError\((Conflict|InvalidParams)\)/.test(e.name)) throw e;
  }
}

describe('the admission index under random operations', () => {
  test('never over capacity at any instant, and always equal to a recomputation from the database', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 60 }), async (ops) => {
        const s = new Scheduler(testConfig({ database: ':memory:', slotMs: quarter }), { now: () => T0 - hour, log: () => undefined });
        try {
          for (const [i, o] of ops.entries()) {
            await apply(s, o, T0);
            if (i % 10 === 9 || i === ops.length - 1) {
              s.store.flush();
              const naive = recomputeFromHolds(s.store.allHolds());
              expect(overbookings(naive, s.inventory)).toEqual([]);
              expect(indexDifferences(s.index, naive)).toEqual([]);
            }
          }
          expect(s.verifyAudit().ok).toBe(true);
        } finally {
          s.close();
        }
      }),
      { numRuns: 120 },
    );
  });

  test('trimming the past keeps the future equal to the recomputation', async () => {
    const s = new Scheduler(testConfig({ database: ':memory:', slotMs: quarter }), { now: () => T0 - hour, log: () => undefined });
    try {
      for (let i = 0; i < 20; i++) await apply(s, { kind: 'request', provider: 'p1', pop: 'A', start: i, subSlots: [{ quarters: 6, cpu: 2, mem: 100 }], preferred: undefined }, T0);
      s.index.trimBefore(T0 + 10 * quarter);
      for (const r of s.liveReservations().slice(0, 5)) await s.cancel(r.id, systemActor, 'after trim');
      s.store.flush();
      expect(indexDifferences(s.index, recomputeFromHolds(s.store.allHolds()), T0 + 10 * quarter)).toEqual([]);
    } finally {
      s.close();
    }
  });
});
