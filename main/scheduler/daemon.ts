/**
 * The scheduler as a running service: the core, its store, and the
 * JSON-RPC server (loopback unless TLS is configured; see protocol/listen.ts).
 * Used by `pcctl scheduler --config FILE`, the embedded lab, and tests.
 */
import type { AddressInfo } from 'node:net';
import { TokenStore } from '../protocol/auth.ts';
import { createDispatcher } from '../protocol/dispatcher.ts';
import { limitsFrom } from '../protocol/limits.ts';
import type { Principal } from '../protocol/roles.ts';
import { schedulerApi } from '../protocol/schedulerApi.ts';
import { RpcServer } from '../protocol/server.ts';
import { schedulerHandlers } from './api.ts';
import type { SchedulerConfig } from './config.ts';
import { Scheduler, type SchedulerOptions } from './scheduler.ts';

export interface RunningScheduler {
  readonly scheduler: Scheduler;
  readonly server: RpcServer;
  readonly address: AddressInfo;
  readonly url: string;
  close(): Promise<void>;
}

function principalOf(t: SchedulerConfig['tokens'][number]): Principal {
  switch (t.role) {
    case 'provider':
      return { role: 'provider', name: t.name, providerId: t.providerId };
    case 'controller':
      return { role: 'controller', name: t.name, cloudletId: t.cloudletId };
    default:
      return { role: t.role, name: t.name };
  }
}

export async function startScheduler(config: SchedulerConfig, options: SchedulerOptions = {}): Promise<RunningScheduler> {
  const scheduler = new Scheduler(config, options);
  const { handlers, topics } = schedulerHandlers(scheduler);
  const server = new RpcServer({
    dispatcher: createDispatcher(schedulerApi, handlers, topics),
    tokens: new TokenStore(config.tokens.map((t) => ({ token: t.token, principal: principalOf(t) }))),
    limits: limitsFrom(config.limits),
    ...(options.log ? { log: options.log } : {}),
  });
  let address: AddressInfo;
  try {
    address = await server.listen(config.listen.host, config.listen.port, config.listen.tls);
  } catch (e) {
    scheduler.close();
    throw e;
  }
  scheduler.start();
  const scheme = config.listen.tls ? 'wss' : 'ws';
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  let closed = false;
  return {
    scheduler,
    server,
    address,
    url: `${scheme}://${host}:${address.port}`,
    async close() {
      if (closed) return;
      closed = true;
      await server.close();
      scheduler.close();
    },
  };
}
