/**
 * Property tests: whatever sequence of requests, cancels, declines and
 * resizes arrives, no node is ever over capacity (or tenants over the ISP
 * share) at any instant, and the in-memory index equals a naive
 * recomputation from the database's holds table.
 */
import { DomainError, ErrorCode } from '../protocol/errors.ts';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import type { Profile } from '../protocol/domain.ts';
import { systemActor } from './audit.ts';
import { AdmissionIndex, type AdmissionRequest } from './admission.ts';
import { Inventory } from './inventory.ts';
import { indexDifferences, overbookings, recomputeFromHolds, summaryDifferences } from './recompute.ts';
import type { HoldRow } from './store.ts';
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

function profileOf(o: Extract<Op, { kind: 'request' }>, base: number): Profile {
  let at = base + o.start * quarter;
  return o.subSlots.map((x) => {
    const from = at;
    at += x.quarters * quarter;
    return { from, to: at, capacity: { cpu: x.cpu, memMiB: x.mem, diskGiB: 1, netMbps: 10 } };
  });
}

async function apply(s: Scheduler, o: Op, base: number): Promise<void> {
  const live = s.liveReservations().sort((a, b) => (a.id < b.id ? -1 : 1));
  const picked = 'pick' in o ? live[o.pick % Math.max(1, live.length)] : undefined;
  try {
    switch (o.kind) {
      case 'request': {
        const profile = profileOf(o, base);
        const t0 = profile[0]?.from ?? base;
        const at = profile.at(-1)?.to ?? base;
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
    if (!(e instanceof DomainError) || (e.code !== ErrorCode.Conflict && e.code !== ErrorCode.InvalidParams)) throw e;
  }
}

describe('the admission index under random operations', () => {
  test('never over capacity at any instant, and always equal to a recomputation from the database', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 60 }), async (ops) => {
        const s = new Scheduler(testConfig({ database: ':memory:', slotMs: quarter }), { now: () => T0 - hour, log: () => undefined });
        try {
          for (const [i, o] of ops.entries()) {
            if (o.kind === 'request') {
              // The summaries only make the decision cheaper: it equals the exhaustive walk.
              const profile = profileOf(o, T0);
              const req: AdmissionRequest = { providerId: o.provider, isp: o.provider === 'isp', requestorPopId: o.pop, preferredCloudletId: o.preferred ?? null, t0: profile[0]?.from ?? T0, t1: profile.at(-1)?.to ?? T0, profile };
              expect(s.index.decide(req)).toEqual(s.index.decide(req, { exhaustive: true }));
            }
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
      expect(s.index.summary.ready).toBe(true);
      expect(summaryDifferences(s.index, recomputeFromHolds(s.store.allHolds()))).toEqual([]);
    } finally {
      s.close();
    }
  });
});

/**
 * The summaries may only make decisions cheaper: on random inventories and
 * random place, release and trim sequences, the pruned decision equals the
 * exhaustive walk (node, reason, shortfall, refusal kind) for random tenant and
 * ISP requests, and the summaries equal a recomputation from the holds. Blocks
 * of one quarter hour so that most requests cover whole blocks and get pruned.
 */
describe('the free-capacity summaries', () => {
  const nodeCpu = fc.constantFrom(4, 8, 16);
  const inventoryArb = fc.array(fc.array(nodeCpu, { minLength: 1, maxLength: 4 }), { minLength: 2, maxLength: 5 });
  const slotArb = fc.record({ start: fc.integer({ min: 0, max: 60 }), subSlots: fc.array(subSlot, { minLength: 1, maxLength: 3 }) });
  const indexOp = fc.oneof(
    { weight: 6, arbitrary: fc.record({ kind: fc.constant('place' as const), slot: slotArb, isp: fc.boolean(), pop: fc.nat(), preferred: fc.option(fc.nat(), { nil: undefined }) }) },
    { weight: 3, arbitrary: fc.record({ kind: fc.constant('release' as const), pick: fc.nat() }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('trim' as const), quarters: fc.integer({ min: 1, max: 12 }) }) },
    { weight: 4, arbitrary: fc.record({ kind: fc.constant('decide' as const), slot: slotArb, isp: fc.boolean(), pop: fc.nat(), preferred: fc.option(fc.nat(), { nil: undefined }), down: fc.option(fc.nat(), { nil: undefined }) }) },
  );

  const profileOf = (slot: { start: number; subSlots: { quarters: number; cpu: number; mem: number }[] }, base: number): Profile => {
    let at = base + slot.start * quarter;
    return slot.subSlots.map((x) => {
      const from = at;
      at += x.quarters * quarter;
      return { from, to: at, capacity: { cpu: x.cpu, memMiB: x.mem, diskGiB: 1, netMbps: 10 } };
    });
  };

  test('pruned decisions equal the exhaustive walk, and the summaries equal a recomputation', () => {
    fc.assert(
      fc.property(inventoryArb, fc.array(indexOp, { minLength: 1, maxLength: 80 }), (shape, ops) => {
        const pops = shape.map((_, i) => ({ id: `P${i}` }));
        const topology = {
          pops,
          links: pops.slice(1).map((p, i) => ({ a: `P${i}`, b: p.id, rttMs: 1 + i, capacityMbps: 1000 })),
          cloudlets: shape.map((cpus, i) => ({ id: `c${i}`, popId: `P${i}`, nodes: cpus.map((cpu, j) => ({ id: `n${i}-${j}`, capacity: { cpu, memMiB: 16_384, diskGiB: 500, netMbps: 10_000 } })) })),
        };
        const inventory = new Inventory(testConfig({ topology }).topology, 0.25);
        const index = new AdmissionIndex(inventory, { summary: { leafMs: quarter, leaves: 64 } });
        const holds: HoldRow[] = [];
        let trimmed = -Infinity;
        let next = 0;
        const base = T0;
        const requestOf = (o: { slot: Parameters<typeof profileOf>[0]; isp: boolean; pop: number; preferred?: number | undefined }): AdmissionRequest => {
          const profile = profileOf(o.slot, base);
          return {
            providerId: o.isp ? 'isp' : 'p1',
            isp: o.isp,
            requestorPopId: `P${o.pop % pops.length}`,
            preferredCloudletId: o.preferred === undefined ? null : `c${o.preferred % shape.length}`,
            t0: profile[0]?.from ?? base,
            t1: profile.at(-1)?.to ?? base,
            profile,
          };
        };
        for (const o of ops) {
          if (o.kind === 'place' || o.kind === 'decide') {
            const req = requestOf(o);
            const options = o.kind === 'decide' && o.down !== undefined ? { nodeSkip: (id: string) => (id === inventory.nodes[(o.down as number) % inventory.nodes.length]?.id ? 'reported down' : null) } : {};
            const pruned = index.decide(req, options);
            const walked = index.decide(req, { ...options, exhaustive: true });
            expect({ chosen: pruned.chosen, reason: pruned.reason, shortfall: pruned.shortfall, refusal: pruned.refusal }).toEqual({ chosen: walked.chosen, reason: walked.reason, shortfall: walked.shortfall, refusal: walked.refusal });
            const explained = index.decide(req, { ...options, explain: true });
            expect(explained.reason).toBe(walked.reason);
            if (o.kind === 'place' && pruned.chosen) {
              const id = `r${next++}`;
              index.place(id, pruned.chosen.nodeId, req.profile, req.isp);
              for (const s of req.profile) holds.push({ reservation_id: id, node_id: pruned.chosen.nodeId, isp: req.isp ? 1 : 0, from_ms: s.from, to_ms: s.to, cpu: s.capacity.cpu, mem_mib: s.capacity.memMiB, disk_gib: s.capacity.diskGiB, net_mbps: s.capacity.netMbps });
            }
          } else if (o.kind === 'release') {
            const ids = [...new Set(holds.map((h) => h.reservation_id))];
            const id = ids[o.pick % Math.max(1, ids.length)];
            if (id !== undefined) {
              index.release(id);
              holds.splice(0, holds.length, ...holds.filter((h) => h.reservation_id !== id));
            }
          } else {
            trimmed = Math.max(trimmed, base + o.quarters * quarter);
            index.trimBefore(trimmed);
          }
        }
        // After trimBefore the index forgets the past: compare from the trim point on.
        const live = holds.filter((h) => h.to_ms > trimmed).map((h) => ({ ...h, from_ms: Math.max(h.from_ms, trimmed) }));
        expect(summaryDifferences(index, recomputeFromHolds(live))).toEqual([]);
      }),
      { numRuns: 150 },
    );
  });
});
