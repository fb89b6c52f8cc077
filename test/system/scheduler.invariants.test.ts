/**
 * The scheduler's invariants under load, with real processes and sockets: a
 * `pcctl scheduler` daemon on a real SQLite file, three controllers on real
 * WebSocket connections that accept, refuse or stay silent at random, and
 * 24 clients running about 2,200 random operations at once (reserve, with
 * repeated client request ids; approve; decline; cancel; resize both ways;
 * terminate). Reservations start within seconds, so running VIs are resized
 * and expire during the run.
 *
 * Meanwhile an independent sweep reads the database through its own
 * read-only connection: at every instant, no node holds more than its
 * capacity (nor tenants more than their share), and every reservation's
 * `paid` equals the sum of its ledger. The daemon is killed with SIGKILL in
 * the middle; the restart checks the store itself before serving, every
 * reservation acknowledged before the kill is still there, and the sweep
 * holds to the end. Finally a tampered copy of the database is refused at
 * start-up with a clear error.
 */
import type { ChildProcess } from 'node:child_process';
import { copyFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, test } from 'vitest';
import { RpcClient } from '../../main/protocol/client.ts';
import type { ControllerCommand, Reservation, ReservationRequest } from '../../main/protocol/domain.ts';
import { RpcError } from '../../main/protocol/errors.ts';
import { schedulerApi, type SchedulerApi } from '../../main/protocol/schedulerApi.ts';
import { Inventory } from '../../main/scheduler/inventory.ts';
import { overbookings, recomputeFromHolds } from '../../main/scheduler/recompute.ts';
import type { HoldRow } from '../../main/scheduler/store.ts';
import { node, testConfig, tokens } from '../support/schedulerFixtures.ts';
import { exited, spawnScheduler, writeSchedulerConfig, type SchedulerProcess } from '../support/schedulerProcess.ts';
import { seededRandom } from '../../main/console/experiments/seededRandom.ts';

const dir = mkdtempSync(join(tmpdir(), 'pcloud-sched-inv-'));
const config = testConfig(
  {
    slotMs: 1000,
    holdTimeoutMs: 150,
    reconnectWaitMs: 3000,
    groupCommitMs: 2,
    approval: { autoApprove: ['p2'], autoApproveAll: false },
    limits: { maxPending: 2000, requestsPerSecond: 100_000, requestBurst: 100_000 },
  },
  dir,
);
const configFile = writeSchedulerConfig(config, dir);
const inventory = new Inventory(config.topology, config.ispShare);
const children: ChildProcess[] = [];
const clients: RpcClient<SchedulerApi>[] = [];
/** Commands the controllers were sent, by kind. */
const told: Record<string, number> = {};

afterAll(async () => {
  for (const c of clients) c.close();
  for (const c of children) {
    if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await exited(c);
  }
});

async function connect(url: string, token: string): Promise<RpcClient<SchedulerApi>> {
  const c = new RpcClient(schedulerApi, { url, token, timeoutMs: 20_000 });
  clients.push(c);
  await c.connect();
  return c;
}

async function startDaemon(): Promise<SchedulerProcess> {
  const d = await spawnScheduler(configFile);
  children.push(d.child);
  return d;
}

/** A controller on a real connection: accepts most commands, refuses or ignores some. */
async function controller(url: string, cloudletId: 'cA' | 'cC' | 'cD', random: () => number): Promise<void> {
  const c = await connect(url, tokens[cloudletId]);
  await c.call('controller.hello', {});
  await c.subscribe('controller.commands', {}, (cmd: ControllerCommand) => {
    told[cmd.kind] = (told[cmd.kind] ?? 0) + 1;
    const x = random();
    const odds = cmd.kind === 'prepare' ? [0.7, 0.85] : cmd.kind === 'resize' ? [0.6, 0.8] : cmd.kind === 'start' ? [0.9, 1] : [1, 1];
    if (x >= (odds[1] as number)) return; // silent: the scheduler's hold timeout passes
    const ok = x < (odds[0] as number);
    c.call('controller.answer', { commandId: cmd.commandId, ok, ...(ok ? {} : { reason: `random refusal of ${cmd.kind}` }) }).catch(() => undefined);
  });
}

/** Everything the sweep finds wrong in one consistent snapshot of the database. */
function sweep(db: Database.Database): string[] {
  return db.transaction(() => {
    const holds = db.prepare('SELECT * FROM holds').all() as HoldRow[];
    const paid = db
      .prepare(
        `SELECT r.id, r.paid_micros AS paid, COALESCE(SUM(l.amount_micros), 0) AS ledger FROM reservations r
         LEFT JOIN ledger l ON l.reservation_id = r.id GROUP BY r.id HAVING paid != ledger`,
      )
      .all() as { id: string; paid: number; ledger: number }[];
    return [...overbookings(recomputeFromHolds(holds), inventory), ...paid.map((p) => `${p.id}: paid ${p.paid} micros, ledger ${p.ledger}`)];
  })();
}

interface Load {
  done: number;
  unexpected: string[];
  acked: Set<string>;
}

/** `workers` loops of random operations until `stop()` says so. */
async function runLoad(url: string, random: () => number, ids: string[], load: Load, stop: () => boolean, workers = 24): Promise<void> {
  const [p1, p2, op] = await Promise.all([connect(url, tokens.p1), connect(url, tokens.p2), connect(url, tokens.operator)]);
  // Mostly the newest few, so that changes to one reservation often meet.
  const pick = (): string | undefined => (random() < 0.8 ? ids[ids.length - 1 - Math.floor(random() * Math.min(ids.length, 10))] : ids[Math.floor(random() * ids.length)]);
  const reserveRequest = (): ReservationRequest => {
    // Half start within seconds, so running VIs get resized (and their controllers asked) during the run.
    const t0 = (Math.floor(Date.now() / 1000) + 2 + Math.floor(random() * (random() < 0.5 ? 2 : 20))) * 1000;
    const parts = 1 + Math.floor(random() * 3);
    let at = t0;
    const profile = Array.from({ length: parts }, () => {
      const from = at;
      at += (1 + Math.floor(random() * 8)) * 1000;
      return { from, to: at, capacity: node(0.5 * (1 + Math.floor(random() * 5)), 1024, 10, 100) };
    });
    return {
      requestorPopId: (['A', 'B', 'C', 'D'] as const)[Math.floor(random() * 4)] as string,
      t0,
      t1: at,
      profile,
      service: { mode: 'transparent', program: 'monitor', args: {}, rules: [] },
      // Now and then the same client request id again, often while the first is in flight.
      ...(random() < 0.1 ? { clientRequestId: `again-${Math.floor(random() * 40)}` } : {}),
    };
  };
  /** Confirmed reservations with their slots: the ones running now are resized more often. */
  const confirmed: { id: string; t0: number; t1: number }[] = [];
  const noteConfirmed = (r: Reservation): void => {
    if (r.state === 'scheduled') confirmed.push({ id: r.id, t0: r.t0, t1: r.t1 });
  };
  const running = (): string | undefined => {
    const now = Date.now();
    const list = confirmed.filter((c) => c.t0 <= now && now < c.t1);
    return list[Math.floor(random() * list.length)]?.id;
  };
  const change = async (id: string | undefined): Promise<void> => {
    const x = random();
    const provider = random() < 0.5 ? p1 : p2;
    if (x < 0.4 || !id) {
      const r = await provider.call('reservation.request', reserveRequest());
      // A refusal is counted (refusal.list), not stored as a reservation: nothing of it to survive or to change.
      if (r.state === 'declined' && r.id.startsWith('refusal-')) return;
      load.acked.add(r.id);
      ids.push(r.id);
      noteConfirmed(r);
    } else if (x < 0.55) noteConfirmed(await op.call('reservation.approve', { id }));
    else if (x < 0.62) await op.call('reservation.decline', { id, reason: 'random decline' });
    else if (x < 0.75) await op.call('reservation.cancel', { id, reason: 'random cancel' });
    else if (x < 0.95) {
      const target = (random() < 0.6 ? running() : undefined) ?? id;
      await op.call('reservation.resize', { id: target, capacity: node(0.5 * Math.floor(random() * 12), 1024, 10, 100), reason: 'random resize' });
    }
    else await op.call('reservation.terminate', { id, reason: 'random terminate' });
  };
  // Now and then two or three changes to one reservation at once.
  const one = async (): Promise<void> => {
    const id = pick();
    if (random() < 0.7 || !id) return change(id);
    const outcomes = await Promise.allSettled(Array.from({ length: 2 + Math.floor(random() * 2) }, () => change(id)));
    const failed = outcomes.find((o) => o.status === 'rejected');
    if (failed) throw failed.reason;
  };
  const expected = /Conflict|InvalidParams|NotFound/;
  await Promise.all(
    Array.from({ length: workers }, async () => {
      while (!stop()) {
        try {
          await one();
        } catch (e) {
          // Refusals are the point; a provider may not touch another's reservation (NotFound). Anything else is a defect,
          // unless the daemon was just killed under the call.
          if (stop()) return;
          if (!(e instanceof RpcError) || !expected.test(e.name)) load.unexpected.push((e as Error).message);
        }
        load.done++;
      }
    }),
  );
}

describe('scheduler invariants under concurrent random operations, kill -9 and restart', () => {
  test('holds never exceed capacity and paid always equals the ledger, before, across and after a kill -9', async () => {
    const random = seededRandom(20261201);
    const first = await startDaemon();
    await Promise.all((['cA', 'cC', 'cD'] as const).map((c) => controller(first.url, c, random)));
    const db = new Database(config.database, { readonly: true });
    // Each distinct problem once, with the sweep that first saw it.
    const problems = new Map<string, string>();
    const note = (when: string): void => {
      for (const p of sweep(db)) if (!problems.has(p)) problems.set(p, `${when}: ${p}`);
    };
    let sweeps = 0;
    const sweeper = setInterval(() => note(`sweep ${++sweeps}`), 100);
    try {
      const ids: string[] = [];
      const before: Load = { done: 0, unexpected: [], acked: new Set() };
      let killed = false;
      const killAt = 1500;
      await runLoad(first.url, random, ids, before, () => {
        if (!killed && before.done >= killAt) {
          killed = true;
          first.child.kill('SIGKILL');
        }
        return killed;
      });
      await exited(first.child);
      expect(before.unexpected).toEqual([]);
      expect(before.acked.size).toBeGreaterThan(200);
      note('after the kill');

      // The restart checks the store itself (it would refuse to listen otherwise).
      const second = await startDaemon();
      await Promise.all((['cA', 'cC', 'cD'] as const).map((c) => controller(second.url, c, random)));
      const op = await connect(second.url, tokens.operator);
      const { reservations } = await op.call('reservation.list', { limit: 10_000 });
      const stored = new Set(reservations.map((r) => r.id));
      expect([...before.acked].filter((id) => !stored.has(id))).toEqual([]);

      const after: Load = { done: 0, unexpected: [], acked: new Set() };
      // At least 700 more operations, and on until the controllers have been told every kind of
      // command (a quiet machine gets through 700 before any reservation runs), at most 60 s.
      const corners = ['prepare', 'start', 'resize', 'stop'];
      const until = Date.now() + 60_000;
      await runLoad(second.url, random, ids, after, () => after.done >= 700 && (corners.every((kind) => (told[kind] ?? 0) > 0) || Date.now() > until));
      expect(after.unexpected).toEqual([]);
      clearInterval(sweeper);
      note('at the end');
      expect([...problems.values()].slice(0, 20)).toEqual([]);
      expect(sweeps).toBeGreaterThan(10);
      expect((await op.call('audit.verify', {})).ok).toBe(true);
      const statesNow = async (): Promise<Set<string>> => new Set((await op.call('reservation.list', { limit: 10_000 })).reservations.map((r) => r.state));
      // The run reached every corner: refusals, confirmations, running VIs and their ends (a slow
      // machine may take a little longer to bring the first running VI to its end time).
      await expect.poll(async () => (await statesNow()).has('expired'), { timeout: 30_000, interval: 500 }).toBe(true);
      const states = await statesNow();
      for (const s of ['declined', 'cancelled', 'scheduled', 'expired']) expect(states).toContain(s);
      for (const kind of corners) expect(told[kind] ?? 0, `${kind} commands`).toBeGreaterThan(0);

      second.child.kill('SIGTERM');
      await exited(second.child);
    } finally {
      clearInterval(sweeper);
      db.close();
    }

    // A copy whose ledger no longer adds up is refused at start-up, with the reason.
    const tamperedDir = mkdtempSync(join(tmpdir(), 'pcloud-sched-inv-bad-'));
    const tampered = testConfig({ slotMs: 1000 }, tamperedDir);
    copyFileSync(config.database, tampered.database);
    const bad = new Database(tampered.database);
    const victim = bad.prepare('SELECT reservation_id AS id FROM ledger LIMIT 1').get() as { id: string };
    bad.prepare('UPDATE reservations SET paid_micros = paid_micros + 1 WHERE id = ?').run(victim.id);
    bad.close();
    const attempt = spawnScheduler(writeSchedulerConfig(tampered, tamperedDir));
    attempt.then((d) => children.push(d.child), () => undefined);
    await expect(attempt).rejects.toThrow(
      new RegExp(`scheduler exited \\(1\\) before listening:[\\s\\S]*is inconsistent, refusing to serve it[\\s\\S]*reservation ${victim.id}: paid`),
    );
  });
});
