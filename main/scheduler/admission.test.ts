import { afterEach, describe, expect, test, vi } from 'vitest';
import { AdmissionIndex, type AdmissionRequest } from './admission.ts';
import { Inventory } from './inventory.ts';
import { Scheduler } from './scheduler.ts';
import { NodeTimeline } from './timeline.ts';
import { systemActor } from './audit.ts';
import { T0, flat, hour, minute, node, request, testConfig } from '../../test/support/schedulerFixtures.ts';
import { resolveProfile, table2Profile } from '../cli/reservationTimes.ts';
import type { SchedulerConfigInput } from './config.ts';

const open: Scheduler[] = [];
afterEach(() => {
  for (const s of open.splice(0)) s.close();
});

function scheduler(overrides: Partial<SchedulerConfigInput> = {}): Scheduler {
  const s = new Scheduler(testConfig(overrides), { now: () => T0 - hour, log: () => undefined });
  open.push(s);
  return s;
}

const actor = { name: 'test', role: 'provider' };
const h = (n: number): number => T0 + n * hour;

describe('admission over time with sub-slot profiles', () => {
  // The paper's Table 2 shape: one slot split into sub-slots with different capacities.
  // One node of 8 cores (no ISP share here), already holding 4 cores from 09:00 to 10:00.
  const single = {
    ispShare: 0,
    topology: { pops: [{ id: 'A' }], links: [], cloudlets: [{ id: 'cA', popId: 'A', nodes: [{ id: 'a1', capacity: node(8) }] }] },
  };

  test('a profile that peaks where the node is free is admitted', async () => {
    const s = scheduler(single);
    await s.request('p1', request(h(1), h(2), 4), actor);
    const profile = [
      { from: h(0), to: h(1), capacity: { cpu: 6, memMiB: 1024, diskGiB: 1, netMbps: 10 } },
      { from: h(1), to: h(2), capacity: { cpu: 4, memMiB: 1024, diskGiB: 1, netMbps: 10 } },
      { from: h(2), to: h(3), capacity: { cpu: 8, memMiB: 1024, diskGiB: 1, netMbps: 10 } },
    ];
    const r = await s.request('p2', { ...request(h(0), h(3), 0), profile }, actor);
    expect(r.state).toBe('pending_approval');
    expect(r.nodeId).toBe('a1');
  });

  test('a decline names the resource and the interval that failed', async () => {
    const s = scheduler(single);
    await s.request('p1', request(h(1), h(2), 4), actor);
    const profile = [
      { from: h(0), to: h(1), capacity: { cpu: 2, memMiB: 1024, diskGiB: 1, netMbps: 10 } },
      { from: h(1), to: h(2), capacity: { cpu: 5, memMiB: 1024, diskGiB: 1, netMbps: 10 } },
      { from: h(2), to: h(3), capacity: { cpu: 2, memMiB: 1024, diskGiB: 1, netMbps: 10 } },
    ];
    const r = await s.request('p2', { ...request(h(0), h(3), 0), profile }, actor);
    expect(r.state).toBe('declined');
    expect(r.reason).toContain('cpu');
    expect(r.reason).toContain('2030-01-01T09:00:00Z to 2030-01-01T10:00:00Z');
    const explanation = s.explainRequest('p2', { ...request(h(0), h(3), 0), profile });
    expect(explanation.shortfall).toMatchObject({ resource: 'cpu', from: h(1), to: h(2), needed: 5, free: 4 });
  });

  test('back-to-back reservations share a node without overlapping', async () => {
    const s = scheduler(single);
    expect((await s.request('p1', request(h(0), h(1), 8), actor)).state).toBe('pending_approval');
    expect((await s.request('p2', request(h(1), h(2), 8), actor)).state).toBe('pending_approval');
    expect((await s.request('p2', request(h(0) + 59 * minute, h(1) + minute, 1), actor)).state).toBe('declined');
  });
});

describe("the paper's Table 2: a request whose capacity grows at tM", () => {
  // <1 core, 256 MB, 300 GB, 1 Gbps> over [t0, tM], then <2 cores, 1 GB, 900 GB, 5 Gbps> over [tM, t1]:
  // the profile pcctl reserve --help shows, resolved at the scheduler's clock (t0 = now + 10 min,
  // tM = now + 40 min, t1 = now + 100 min).
  const now = T0 - hour;
  const table2 = resolveProfile(table2Profile, 'Table 2', now, minute);
  const [first, second] = table2 as [(typeof table2)[0], (typeof table2)[0]];
  const [t0, tM, t1] = [first.from, first.to, second.to];
  const table2Request = { ...request(t0, t1, 0), profile: table2 };
  const oneNode = (capacity: ReturnType<typeof node>) => ({
    ispShare: 0,
    topology: { pops: [{ id: 'A' }], links: [], cloudlets: [{ id: 'cA', popId: 'A', nodes: [{ id: 'a1', capacity }] }] },
  });

  test('resolves to two contiguous sub-slots with the paper\'s capacities', () => {
    expect([t0, tM, t1]).toEqual([now + 10 * minute, now + 40 * minute, now + 100 * minute]);
    expect(table2.map((p) => p.capacity)).toEqual([
      { cpu: 1, memMiB: 256, diskGiB: 300, netMbps: 1000 },
      { cpu: 2, memMiB: 1024, diskGiB: 900, netMbps: 5000 },
    ]);
  });

  test('is admitted on a node that offers exactly its peak', async () => {
    const s = scheduler(oneNode(node(2, 1024, 900, 5000)));
    const r = await s.request('p1', table2Request, actor);
    expect(r.state).toBe('pending_approval');
    expect(r.nodeId).toBe('a1');
  });

  test('fits beside a reservation that fills the node before tM, where its flat peak would not', async () => {
    const s = scheduler(oneNode(node(4, 16384, 1000, 10_000)));
    expect((await s.request('p2', request(t0, tM, 3), actor)).state).toBe('pending_approval');
    expect(s.explainRequest('p1', { ...request(t0, t1, 0), profile: flat(t0, t1, second.capacity) }).decision).toBe('declined');
    expect((await s.request('p1', table2Request, actor)).state).toBe('pending_approval');
  });

  test('is declined when the node is full after tM, naming cpu and [tM, t1]', async () => {
    const s = scheduler(oneNode(node(4, 16384, 1000, 10_000)));
    expect((await s.request('p2', request(tM, t1, 3), actor)).state).toBe('pending_approval');
    const explanation = s.explainRequest('p1', table2Request);
    expect(explanation.decision).toBe('declined');
    expect(explanation.shortfall).toMatchObject({ resource: 'cpu', from: tM, to: t1, needed: 2, free: 1 });
    const r = await s.request('p1', table2Request, actor);
    expect(r.state).toBe('declined');
    expect(r.reason).toContain('cpu');
  });
});

describe('proximity', () => {
  test('the closest cloudlet by shortest RTT path wins, not the one with a direct link', async () => {
    const s = scheduler();
    // Fill cA (two nodes of 8 cores, 6 for tenants after the 25% share).
    await s.request('p1', request(h(0), h(1), 6), actor);
    await s.request('p1', request(h(0), h(1), 6), actor);
    // C is 10 ms away through B; D is 12 ms through B and C (its direct link is 30 ms).
    const r = await s.request('p1', request(h(0), h(1), 6), actor);
    expect(r.cloudletId).toBe('cC');
    const again = await s.request('p1', request(h(0), h(1), 6), actor);
    expect(again.cloudletId).toBe('cD');
  });

  test('a preferred cloudlet is honoured when it fits, and ignored when it does not', async () => {
    const s = scheduler();
    const preferred = await s.request('p1', request(h(0), h(1), 6, { preferredCloudletId: 'cD' }), actor);
    expect(preferred.cloudletId).toBe('cD');
    const full = await s.request('p1', request(h(0), h(1), 6, { preferredCloudletId: 'cD' }), actor);
    expect(full.cloudletId).toBe('cA');
  });

  test('inside a cloudlet the best fit is chosen', async () => {
    const s = scheduler();
    const first = await s.request('p1', request(h(0), h(1), 2), actor);
    const second = await s.request('p1', request(h(0), h(1), 2), actor);
    // The second lands on the already used node: it leaves less room there.
    expect(second.nodeId).toBe(first.nodeId);
  });

  test('explain lists every candidate with why it was rejected', async () => {
    const s = scheduler();
    const e = s.explainRequest('p1', request(h(0), h(1), 7));
    expect(e.decision).toBe('declined');
    expect(e.candidates.map((c) => [c.cloudletId, c.distanceMs])).toEqual([['cA', 0], ['cC', 10], ['cD', 12]]);
    expect(e.candidates[0]?.skipped).toContain('largest node here offers 6');
    const ok = s.explainRequest('p1', request(h(0), h(1), 3));
    expect(ok.chosen?.cloudletId).toBe('cA');
    expect(ok.candidates[1]?.skipped).toContain('not considered');
    expect(ok.headroom?.points[0]?.free.cpu).toBe(6);
  });
});

describe('the ISP share', () => {
  test('tenants stop at capacity minus the share; the ISP may use the share', async () => {
    const s = scheduler({ topology: { pops: [{ id: 'A' }], links: [], cloudlets: [{ id: 'cA', popId: 'A', nodes: [{ id: 'a1', capacity: node(8) }] }] } });
    expect((await s.request('p1', request(h(0), h(1), 6), actor)).state).toBe('pending_approval');
    const over = await s.request('p2', request(h(0), h(1), 1), actor);
    expect(over.state).toBe('declined');
    expect((await s.request('isp', request(h(0), h(1), 2), actor)).state).toBe('pending_approval');
    expect((await s.request('isp', request(h(0), h(1), 1), actor)).state).toBe('declined');
  });

  test('ISP use does not let tenants past physical capacity', async () => {
    const s = scheduler({ topology: { pops: [{ id: 'A' }], links: [], cloudlets: [{ id: 'cA', popId: 'A', nodes: [{ id: 'a1', capacity: node(8) }] }] } });
    await s.request('isp', request(h(0), h(1), 7), actor);
    expect((await s.request('p1', request(h(0), h(1), 2), actor)).state).toBe('declined');
    expect((await s.request('p1', request(h(0), h(1), 1), actor)).state).toBe('pending_approval');
  });
});

describe('request validation says what, where and what would be right', () => {
  const s = (): Scheduler => scheduler();
  test.each([
    ['t1 before t0', request(h(2), h(1), 1), /params\.t1: .* must be after t0/],
    ['off the slot grid', request(h(0) + 30_000, h(1), 1), /params\.t0: .* not on a 1-minute slot boundary: use .*08:00:00.* or .*08:01:00/],
    ['in the past', request(h(-2), h(1), 1), /params\.t0: .* is in the past/],
    ['beyond the horizon', request(h(0), h(24 * 31), 1), /params\.t1: .* beyond the 30-day horizon/],
    ['unknown PoP', request(h(0), h(1), 1, { requestorPopId: 'Z' }), /params\.requestorPopId: unknown PoP "Z" \(known: A, B, C, D\)/],
    ['unknown cloudlet', request(h(0), h(1), 1, { preferredCloudletId: 'cX' }), /params\.preferredCloudletId: unknown cloudlet "cX"/],
  ])('%s', async (_name, req, message) => {
    await expect(s().request('p1', req, actor)).rejects.toThrow(message);
  });

  test('sub-slots must be contiguous and cover [t0, t1]', async () => {
    const c = { cpu: 1, memMiB: 1, diskGiB: 1, netMbps: 1 };
    const gap = { ...request(h(0), h(3), 1), profile: [{ from: h(0), to: h(1), capacity: c }, { from: h(1) + 5 * minute, to: h(3), capacity: c }] };
    await expect(s().request('p1', gap, actor)).rejects.toThrow(/params\.profile\[1\]\.from: sub-slot 1 ends at .*09:00.* but sub-slot 2 starts at .*09:05.*: sub-slots must be contiguous/);
    const short = { ...request(h(0), h(3), 1), profile: [{ from: h(0), to: h(2), capacity: c }] };
    await expect(s().request('p1', short, actor)).rejects.toThrow(/params\.profile\[0\]\.to: the last sub-slot ends at .* but the slot ends at t1/);
  });

  test('demux rules may only claim the provider\'s own prefixes', async () => {
    const rule = (dstPrefix: string, ownershipProof?: string) => ({
      ...request(h(0), h(1), 1),
      service: { mode: 'visible' as const, program: 'ids', args: {}, rules: [{ priority: 10, match: { dstPrefix }, action: 'to_vi' as const, samplingRate: 0, ...(ownershipProof ? { ownershipProof } : {}) }] },
    });
    await expect(s().request('p1', rule('198.51.100.0/25', 'roa:1'), actor)).rejects.toThrow(/dstPrefix: provider p1 has no verified ownership of 198.51.100.0\/25/);
    await expect(s().request('p1', rule('203.0.113.0/25'), actor)).rejects.toThrow(/ownershipProof: a rule naming destination prefix/);
    const ok = await s().request('p1', rule('203.0.113.0/25', 'roa:1'), actor);
    expect(ok.state).toBe('pending_approval');
    await expect(s().request('isp', rule('198.51.100.0/24'), actor)).rejects.toThrow(/would capture another tenant's traffic/);
  });
});

describe('lifecycle of a held reservation', () => {
  test('cancelling or declining gives the capacity back', async () => {
    const s = scheduler({ topology: { pops: [{ id: 'A' }], links: [], cloudlets: [{ id: 'cA', popId: 'A', nodes: [{ id: 'a1', capacity: node(8) }] }] } });
    const a = await s.request('p1', request(h(0), h(1), 6), actor);
    expect((await s.request('p2', request(h(0), h(1), 6), actor)).state).toBe('declined');
    await s.cancel(a.id, systemActor, 'changed my mind');
    const b = await s.request('p2', request(h(0), h(1), 6), actor);
    expect(b.state).toBe('pending_approval');
    await s.decline(b.id, { name: 'noc', role: 'operator' }, 'not this week');
    expect((await s.request('p1', request(h(0), h(1), 6), actor)).state).toBe('pending_approval');
    expect(s.get(b.id).transitions?.map((t) => t.to)).toEqual(['requested', 'pending_approval', 'declined']);
    expect(s.verifyAudit().ok).toBe(true);
  });
});

describe('refusals are decided from the summaries', () => {
  // Three cloudlets of four 8-cpu nodes (6 for tenants), each node holding 1 cpu somewhere in a 4-day window.
  const topology = {
    pops: [{ id: 'A' }, { id: 'B' }, { id: 'C' }],
    links: [{ a: 'A', b: 'B', rttMs: 5, capacityMbps: 1000 }, { a: 'B', b: 'C', rttMs: 5, capacityMbps: 1000 }],
    cloudlets: ['A', 'B', 'C'].map((p) => ({ id: `c${p}`, popId: p, nodes: [1, 2, 3, 4].map((i) => ({ id: `${p}${i}`, capacity: node(8) })) })),
  };

  function bookedOut(): { index: AdmissionIndex; req: AdmissionRequest } {
    const index = new AdmissionIndex(new Inventory(testConfig({ topology }).topology, 0.25));
    index.trimBefore(h(0));
    index.inventory.nodes.forEach((n, i) => index.place(`r${i}`, n.id, [{ from: h(24 * (i % 4)), to: h(24 * (i % 4) + 5), capacity: { cpu: 1, memMiB: 1, diskGiB: 1, netMbps: 1 } }], false));
    const t1 = h(4 * 24);
    return { index, req: { providerId: 'p1', isp: false, requestorPopId: 'A', preferredCloudletId: null, t0: h(0), t1, profile: [{ from: h(0), to: t1, capacity: { cpu: 6, memMiB: 1, diskGiB: 1, netMbps: 1 } }] } };
  }

  test('a booked-out request walks only the nodes of the cloudlet its reason names', () => {
    const { index, req } = bookedOut();
    const walks = vi.spyOn(NodeTimeline.prototype, 'firstViolation');
    try {
      const pruned = index.decide(req);
      const prunedWalks = walks.mock.calls.length;
      walks.mockClear();
      const walked = index.decide(req, { exhaustive: true });
      expect(pruned).toEqual(walked);
      expect(pruned).toMatchObject({ chosen: null, refusal: 'booked-out', reason: expect.stringContaining('the closest miss is node A1 in cloudlet cA, with 5 free where 6 is needed') });
      // cA is walked to name the closest miss; cB and cC are skipped from their summaries.
      expect(prunedWalks).toBe(4);
      expect(walks.mock.calls.length).toBe(12);
    } finally {
      walks.mockRestore();
    }
  });

  test('a cloudlet freed by a release is walked again and admits', () => {
    const { index, req } = bookedOut();
    for (const i of [4, 5, 6, 7]) index.release(`r${i}`);
    expect(index.decide(req).chosen).toEqual({ cloudletId: 'cB', nodeId: 'B1' });
    expect(index.decide(req, { exhaustive: true }).chosen).toEqual({ cloudletId: 'cB', nodeId: 'B1' });
  });
});
