/**
 * The scheduler daemon as a real process: one provider sends the same
 * `clientRequestId` several times at once while another provider's requests
 * share the same group commits. Every repeat gets the first request's answer,
 * the other provider is answered, exactly one reservation is stored, and the
 * daemon stays up.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, test } from 'vitest';
import { RpcClient } from '../../main/protocol/client.ts';
import { schedulerApi, type SchedulerApi } from '../../main/protocol/schedulerApi.ts';
import { hour, request, testConfig, tokens } from '../support/schedulerFixtures.ts';
import { exited, spawnScheduler, writeSchedulerConfig } from '../support/schedulerProcess.ts';

const dir = mkdtempSync(join(tmpdir(), 'pcloud-sched-dup-'));
const config = testConfig({ groupCommitMs: 5, limits: { maxPending: 1000, requestsPerSecond: 10_000, requestBurst: 10_000 } }, dir);
const children: ChildProcess[] = [];
afterAll(async () => {
  for (const c of children) {
    if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
    await exited(c);
  }
});

describe('a repeated clientRequestId', () => {
  test('in flight at once: every repeat gets the first answer, others in the same batch are answered, the daemon stays up', async () => {
    const daemon = await spawnScheduler(writeSchedulerConfig(config, dir));
    children.push(daemon.child);
    const connect = async (token: string): Promise<RpcClient<SchedulerApi>> => {
      const c = new RpcClient(schedulerApi, { url: daemon.url, token, timeoutMs: 15_000 });
      await c.connect();
      return c;
    };
    const [p1, p1again, p2] = await Promise.all([connect(tokens.p1), connect(tokens.p1), connect(tokens.p2)]);
    const t0 = (Math.floor(Date.now() / hour) + 2) * hour;
    const calls = [
      ...Array.from({ length: 6 }, (_, i) => ({ who: 'dup-1', call: (i % 2 ? p1again : p1).call('reservation.request', request(t0, t0 + hour, 1, { clientRequestId: 'dup-1' })) })),
      ...Array.from({ length: 20 }, () => ({ who: 'p2', call: p2.call('reservation.request', request(t0, t0 + hour, 0.25)) })),
      ...Array.from({ length: 6 }, (_, i) => ({ who: 'dup-2', call: (i % 2 ? p1again : p1).call('reservation.request', request(t0, t0 + hour, 2, { clientRequestId: 'dup-2' })) })),
    ];
    const settled = await Promise.allSettled(calls.map((c) => c.call));
    const failures = settled.flatMap((s, i) => (s.status === 'rejected' ? [`${calls[i]?.who}: ${(s.reason as Error).message}`] : []));
    expect(failures).toEqual([]);
    const answers = settled.map((s, i) => ({ who: calls[i]?.who, r: (s as PromiseFulfilledResult<Awaited<(typeof calls)[number]['call']>>).value }));
    for (const who of ['dup-1', 'dup-2']) {
      const mine = answers.filter((a) => a.who === who);
      expect(new Set(mine.map((a) => a.r.id)).size).toBe(1);
      expect(mine.every((a) => a.r.state === 'pending_approval')).toBe(true);
    }
    expect(new Set(answers.filter((a) => a.who === 'p2').map((a) => a.r.id)).size).toBe(20);
    expect(daemon.child.exitCode).toBeNull();

    // After the first is durable, a repeat is answered from the store, with the same reservation.
    const later = await p1.call('reservation.request', request(t0, t0 + hour, 1, { clientRequestId: 'dup-1' }));
    expect(later.id).toBe(answers.find((a) => a.who === 'dup-1')?.r.id);
    await p1.call('scheduler.info', {});
    for (const c of [p1, p1again, p2]) c.close();

    const db = new Database(config.database, { readonly: true });
    try {
      const rows = db.prepare('SELECT client_request_id AS id, COUNT(*) AS n FROM reservations WHERE client_request_id IS NOT NULL GROUP BY client_request_id ORDER BY 1').all();
      expect(rows).toEqual([{ id: 'dup-1', n: 1 }, { id: 'dup-2', n: 1 }]);
    } finally {
      db.close();
    }
    expect(daemon.child.exitCode).toBeNull();
  });
});
