import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import type { ConnectionStatus } from '../protocol/consoleApi.ts';
import { ConnectionManager, type LabHandle } from './connectionManager.ts';
import { ProfileStore, fileModeVault } from './profiles.ts';

test('switching labs says so before the old lab has finished stopping, so nobody sees it as still connected', async () => {
  const seen: { name: string; state: ConnectionStatus['state']; message: string; oldLabStopped: boolean }[] = [];
  let oldLabStopped = false;
  let finishStop: () => void = () => undefined;
  const handle = (topology: string, slowStop: boolean): LabHandle => ({
    topology,
    // Nothing listens on port 1 of loopback: the scheduler connection is refused and retried later.
    schedulerUrl: 'ws://127.0.0.1:1',
    operatorToken: 'operator-token-0123456789',
    stop: () =>
      slowStop
        ? new Promise<void>((resolve) => {
            finishStop = () => {
              oldLabStopped = true;
              resolve();
            };
          })
        : Promise.resolve(),
  });
  const manager = new ConnectionManager({
    lab: { start: async (topology) => handle(topology, topology === 'deterlab') },
    profiles: new ProfileStore(mkdtempSync(join(tmpdir(), 'pcloud-connections-')), fileModeVault),
    backoff: { initialMs: 60_000, maxMs: 60_000 },
  });
  manager.onChange((s) => seen.push({ name: s.name, state: s.state, message: s.message, oldLabStopped }));
  await manager.useLab('deterlab');
  seen.length = 0;
  const switching = manager.useLab('globalwan');
  await expect.poll(() => seen.length).toBeGreaterThan(0);
  expect(seen[0]).toMatchObject({ name: 'globalwan', state: 'starting', oldLabStopped: false });
  expect(seen[0]?.message).toContain('stopping the deterlab lab');
  finishStop();
  await switching;
  expect(seen.at(-1)).toMatchObject({ name: 'globalwan', state: 'reconnecting' });
  await manager.close();
});

test("the lab's mode (and why) is in the status while that lab is the connection, and gone after a switch", async () => {
  const manager = new ConnectionManager({
    lab: {
      start: async (topology) => ({
        topology,
        schedulerUrl: 'ws://127.0.0.1:1',
        operatorToken: 'operator-token-0123456789',
        ...(topology === 'deterlab' ? { mode: { kind: 'userspace' as const, reason: 'building namespaces, links and routers needs root' } } : {}),
        stop: () => Promise.resolve(),
      }),
    },
    profiles: new ProfileStore(mkdtempSync(join(tmpdir(), 'pcloud-connections-')), fileModeVault),
    backoff: { initialMs: 60_000, maxMs: 60_000 },
  });
  const status = await manager.useLab('deterlab');
  expect(status.labMode).toEqual({ kind: 'userspace', reason: 'building namespaces, links and routers needs root' });
  expect((await manager.useLab('globalwan')).labMode).toBeUndefined();
  await manager.close();
});
