/**
 * In-process schedulers and their clients for tests, closed after each test.
 * Call at the top of a test file: `const { start, client } = schedulerHarness();`
 */
import { afterEach } from 'vitest';
import { RpcClient } from '../../main/protocol/client.ts';
import { schedulerApi, type SchedulerApi } from '../../main/protocol/schedulerApi.ts';
import type { SchedulerConfig, SchedulerConfigInput } from '../../main/scheduler/config.ts';
import { startScheduler, type RunningScheduler } from '../../main/scheduler/daemon.ts';
import { testConfig } from './schedulerFixtures.ts';

export function schedulerHarness() {
  const running: RunningScheduler[] = [];
  const clients: RpcClient<SchedulerApi>[] = [];

  /** Closes every client and scheduler started so far (also done after each test). */
  async function closeAll(): Promise<void> {
    for (const c of clients.splice(0)) c.close();
    await Promise.all(running.splice(0).map((r) => r.close()));
  }
  afterEach(closeAll);

  /** A scheduler on loopback: from a whole config, or from overrides of the test config. */
  async function start(config: SchedulerConfig | Partial<SchedulerConfigInput> = {}): Promise<RunningScheduler> {
    const full = 'tokens' in config && 'database' in config ? (config as SchedulerConfig) : testConfig(config as Partial<SchedulerConfigInput>);
    const r = await startScheduler(full, { log: () => undefined });
    running.push(r);
    return r;
  }

  async function client(r: RunningScheduler, token: string): Promise<RpcClient<SchedulerApi>> {
    const c = new RpcClient(schedulerApi, { url: r.url, token, timeoutMs: 10_000 });
    clients.push(c);
    await c.connect();
    return c;
  }

  return { start, client, closeAll };
}
