/**
 * Property test: whatever interleaving of approve, decline, cancel, resize
 * and terminate arrives for one reservation (some awaited one by one, some
 * all at once), with controllers that accept, refuse or stay silent, the
 * reservation only moves along the state machine of DESIGN.md section 4,
 * `paid` equals its ledger, no node is over capacity, and the admission index
 * equals a recomputation from the database's holds. In-process, on a real
 * SQLite file per run.
 */
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import type { ReservationState } from '../protocol/domain.ts';
import { finalStates } from '../protocol/domain.ts';
import { DomainError, ErrorCode } from '../protocol/errors.ts';
import { systemActor } from './audit.ts';
import { Scheduler } from './scheduler.ts';
import { attachController, hour, invariantProblems, node, request, testConfig, type Answerer } from '../../test/support/schedulerFixtures.ts';

/** Every move the state machine allows; null is "not yet stored". */
const allowed: Record<string, readonly ReservationState[]> = {
  null: ['requested'],
  requested: ['pending_approval', 'declined'],
  pending_approval: ['approved', 'declined', 'cancelled'],
  approved: ['confirming', 'cancelled', 'declined'],
  confirming: ['scheduled', 'confirming', 'failed'],
  scheduled: ['active', 'cancelled', 'terminated', 'failed'],
  active: ['expired', 'cancelled', 'terminated', 'failed'],
};

const answer = fc.constantFrom<'ok' | 'refuse' | 'silent'>('ok', 'ok', 'refuse', 'silent');
const op = fc.oneof(
  fc.record({ kind: fc.constantFrom('approve' as const, 'decline' as const, 'cancel' as const, 'terminate' as const), wait: fc.boolean() }),
  fc.record({ kind: fc.constant('resize' as const), cpu: fc.integer({ min: 0, max: 12 }).map((x) => x / 2), skip: fc.integer({ min: 0, max: 3 }), wait: fc.boolean() }),
);

describe('one reservation under interleaved changes', () => {
  test('valid transitions only, paid equals the ledger, and the index equals the holds', async () => {
    const base = (Math.floor(Date.now() / hour) + 3) * hour;
    await fc.assert(
      fc.asyncProperty(
        fc.record({ cpu: fc.integer({ min: 1, max: 6 }), neighbour: fc.integer({ min: 0, max: 5 }), auto: fc.boolean() }),
        fc.dictionary(fc.constantFrom('cA', 'cC', 'cD'), fc.array(answer, { minLength: 1, maxLength: 4 })),
        fc.array(op, { minLength: 1, maxLength: 8 }),
        async (setup, answers, ops) => {
          const s = new Scheduler(testConfig({ holdTimeoutMs: 30, approval: { autoApprove: setup.auto ? ['p1'] : [], autoApproveAll: false } }), { log: () => undefined });
          try {
            for (const cloudletId of ['cA', 'cC', 'cD']) {
              const script = answers[cloudletId] ?? ['ok'];
              let prepared = 0;
              const act: Answerer = (c) => {
                if (c.kind !== 'prepare') return { ok: true };
                const a = script[prepared++ % script.length];
                return a === 'silent' ? 'silent' : { ok: a === 'ok', reason: 'scripted refusal' };
              };
              attachController(s, cloudletId, act);
            }
            // A neighbour on the same node makes some resizes not fit.
            if (setup.neighbour > 0) await s.request('p2', request(base, base + hour, setup.neighbour, { preferredCloudletId: 'cA' }), systemActor);
            const made = await s.request('p1', request(base, base + hour, setup.cpu, { preferredCloudletId: 'cA' }), systemActor);
            const pending: Promise<unknown>[] = [];
            for (const o of ops) {
              const quarter = 15 * 60_000;
              const change: Promise<unknown> =
                o.kind === 'resize' ? s.resize(made.id, node(o.cpu, 1024, 10, 100), base + o.skip * quarter, systemActor, 'property')
                : o.kind === 'approve' ? s.approve(made.id, systemActor, 'property')
                : o.kind === 'decline' ? s.decline(made.id, systemActor, 'property')
                : o.kind === 'cancel' ? s.cancel(made.id, systemActor, 'property')
                : s.terminate(made.id, systemActor, 'property');
              pending.push(change.catch((e: unknown) => {
                // Refusals (wrong state, does not fit) are part of the game; anything else is a bug.
                if (!(e instanceof DomainError) || (e.code !== ErrorCode.Conflict && e.code !== ErrorCode.InvalidParams)) throw e;
              }));
              if (o.wait) await Promise.all(pending.splice(0));
            }
            await Promise.all(pending);
            const r = s.get(made.id);
            const moves = (r.transitions ?? []).map((t) => `${t.from} -> ${t.to}`);
            const bad = (r.transitions ?? []).filter((t) => !(allowed[String(t.from)] ?? []).includes(t.to));
            expect(bad.map((t) => `${t.from} -> ${t.to}`), moves.join(', ')).toEqual([]);
            expect(r.transitions?.at(-1)?.to).toBe(r.state);
            expect((r.transitions ?? []).slice(0, -1).filter((t) => finalStates.includes(t.to))).toEqual([]);
            expect(invariantProblems(s), moves.join(', ')).toEqual([]);
            if (finalStates.includes(r.state)) expect(s.index.holdOf(made.id)).toBeUndefined();
          } finally {
            s.close();
          }
        },
      ),
      { numRuns: 60 },
    );
  });
});
