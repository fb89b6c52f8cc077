/**
 * A small multi-PoP inventory for scheduler tests, and a fake controller
 * that answers commands the way a test wants.
 *
 *   A --5ms-- B --5ms-- C --2ms-- D,  and A --30ms-- D (slower than A-B-C-D).
 *   cloudlet cA at A (nodes a1, a2), cC at C (c1), cD at D (d1); 8 cpu each.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ControllerCommand, Profile, ReservationRequest, Resources } from '../../main/protocol/domain.ts';
import { parseSchedulerConfig, type SchedulerConfig, type SchedulerConfigInput } from '../../main/scheduler/config.ts';
import { holdingStates } from '../../main/protocol/domain.ts';
import { indexDifferences, overbookings, recomputeFromHolds } from '../../main/scheduler/recompute.ts';
import type { Scheduler } from '../../main/scheduler/scheduler.ts';

export const T0 = Date.UTC(2030, 0, 1, 8, 0);
export const minute = 60_000;
export const hour = 3_600_000;

export const tokens = {
  viewer: 'viewer-token-0123456789abcdef',
  operator: 'operator-token-0123456789abcdef',
  p1: 'provider-p1-token-0123456789abcdef',
  p2: 'provider-p2-token-0123456789abcdef',
  isp: 'provider-isp-token-0123456789abcdef',
  cA: 'controller-cA-token-0123456789abcdef',
  cC: 'controller-cC-token-0123456789abcdef',
  cD: 'controller-cD-token-0123456789abcdef',
};

export const node = (cpu: number, memMiB = 16384, diskGiB = 500, netMbps = 10_000): Resources => ({ cpu, memMiB, diskGiB, netMbps });

export function testConfig(overrides: Partial<SchedulerConfigInput> = {}, dir = mkdtempSync(join(tmpdir(), 'pcloud-sched-'))): SchedulerConfig {
  const raw = {
    listen: { host: '127.0.0.1', port: 0 },
    database: join(dir, 'scheduler.sqlite'),
    tokens: [
      { token: tokens.viewer, role: 'viewer', name: 'noc-viewer' },
      { token: tokens.operator, role: 'operator', name: 'noc-operator' },
      { token: tokens.p1, role: 'provider', name: 'alice', providerId: 'p1' },
      { token: tokens.p2, role: 'provider', name: 'bob', providerId: 'p2' },
      { token: tokens.isp, role: 'provider', name: 'isp-ops', providerId: 'isp' },
      { token: tokens.cA, role: 'controller', name: 'ctl-a', cloudletId: 'cA' },
      { token: tokens.cC, role: 'controller', name: 'ctl-c', cloudletId: 'cC' },
      { token: tokens.cD, role: 'controller', name: 'ctl-d', cloudletId: 'cD' },
    ],
    slotMs: minute,
    ispShare: 0.25,
    holdTimeoutMs: 300,
    // Tests of behaviour drive many requests from few principals: the budgets are tested
    // on their own (protocol/server.test.ts, system/scheduler.abuse.test.ts).
    limits: { requestsPerSecond: 100_000, requestBurst: 100_000 },
    providers: [
      { id: 'p1', prefixes: ['203.0.113.0/24'] },
      { id: 'p2', prefixes: ['198.51.100.0/24'] },
    ],
    topology: {
      pops: [{ id: 'A' }, { id: 'B' }, { id: 'C' }, { id: 'D' }],
      links: [
        { a: 'A', b: 'B', rttMs: 5, capacityMbps: 10_000 },
        { a: 'B', b: 'C', rttMs: 5, capacityMbps: 10_000 },
        { a: 'C', b: 'D', rttMs: 2, capacityMbps: 10_000 },
        { a: 'A', b: 'D', rttMs: 30, capacityMbps: 1_000 },
      ],
      cloudlets: [
        { id: 'cA', popId: 'A', nodes: [{ id: 'a1', capacity: node(8) }, { id: 'a2', capacity: node(8) }] },
        { id: 'cC', popId: 'C', nodes: [{ id: 'c1', capacity: node(8) }] },
        { id: 'cD', popId: 'D', nodes: [{ id: 'd1', capacity: node(8) }] },
      ],
    },
    ...overrides,
  };
  // Controller tokens only for cloudlets the (possibly overridden) topology has.
  const cloudlets = new Set(raw.topology.cloudlets.map((c) => c.id));
  return parseSchedulerConfig({ ...raw, tokens: raw.tokens.filter((t) => !('cloudletId' in t) || cloudlets.has(String(t.cloudletId))) });
}

export function flat(t0: number, t1: number, capacity: Resources): Profile {
  return [{ from: t0, to: t1, capacity }];
}

export function request(t0: number, t1: number, cpu: number, extra: Partial<ReservationRequest> = {}): ReservationRequest {
  return {
    requestorPopId: 'A',
    t0,
    t1,
    profile: flat(t0, t1, { cpu, memMiB: 1024, diskGiB: 10, netMbps: 100 }),
    service: { mode: 'transparent', program: 'monitor', args: {}, rules: [] },
    ...extra,
  };
}

/** What a fake controller does with each command kind. */
export type Answerer = (c: ControllerCommand) => { ok: boolean; reason?: string } | 'silent';

/**
 * Attaches an in-process controller for `cloudletId` to a scheduler's hub: it
 * records every command and answers as `answer` says, after `delayMs` (a
 * number, or per command). Returns what it was told.
 */
export function attachController(
  s: Scheduler,
  cloudletId: string,
  answer: Answerer = () => ({ ok: true }),
  delayMs: number | ((c: ControllerCommand) => number) = 0,
): ControllerCommand[] {
  const seen: ControllerCommand[] = [];
  s.hub.attach(cloudletId, `fake-${cloudletId}`, {
    push: (cmd) => {
      seen.push(cmd);
      const a = answer(cmd);
      if (a === 'silent') return;
      const delay = typeof delayMs === 'number' ? delayMs : delayMs(cmd);
      setTimeout(() => s.hub.answer(cloudletId, { commandId: cmd.commandId, ...a }), delay);
    },
    end: () => undefined,
  });
  return seen;
}

/**
 * Every broken invariant of a scheduler and its database, described: a node
 * over capacity at some instant, `paid` not the ledger's sum, holds out of
 * step with states, the index not what the holds table recomputes to.
 */
export function invariantProblems(s: Scheduler): string[] {
  s.store.flush();
  const naive = recomputeFromHolds(s.store.allHolds());
  return [
    ...overbookings(naive, s.inventory),
    ...s.store.paidMismatches(20).map((m) => `${m.id}: paid ${m.paid}, ledger ${m.ledger}`),
    ...s.store.holdsOutOfStep(holdingStates, 20).map((m) => `${m.id} is ${m.state} with ${m.holds} hold(s)`),
    ...indexDifferences(s.index, naive),
  ];
}
