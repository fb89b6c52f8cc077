/**
 * The console API over the headless host's WebSocket, for a renderer running
 * in a plain browser. It speaks the same JSON-RPC as every daemon: rpc.auth
 * first (with the URL's single-use token, exchanged for a session token kept in
 * sessionStorage so a reload still works), then calls and subscriptions.
 */
import type { ConsoleApi } from '../../main/protocol/consoleApi.ts';
import type { Bridge } from '../../main/protocol/contract.ts';
import { ApiError } from './apiError.ts';

const contractName: ConsoleApi['name'] = 'console';
const contractVersion: ConsoleApi['version'] = 1;
const sessionKey = 'pcloud.sessionToken';

type ItemListener = (item: unknown, lost: number) => void;

interface WireMessage {
  id?: number;
  method?: string;
  params?: { subscription?: string; item?: unknown; lost?: number };
  result?: unknown;
  error?: { code: number; message: string };
}

/** Takes the token from `#token=...` once and removes it from the address bar. */
export function takeLaunchToken(location: Location, history: History): string | undefined {
  const match = /(?:^#|&)token=([A-Za-z0-9_-]+)/.exec(location.hash);
  if (!match) return undefined;
  history.replaceState(null, '', location.pathname + location.search);
  return match[1];
}

export async function connectWsBridge(url: string, token: string | undefined): Promise<Bridge<ConsoleApi>> {
  const presented = token ?? sessionStorage.getItem(sessionKey) ?? undefined;
  if (!presented) throw new ApiError(-32001, 'no access token: open the URL the headless host printed (it ends with #token=...)');
  const ws = new WebSocket(url);
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  const listeners = new Map<string, ItemListener>();
  let nextId = 1;
  let nextSubscription = 1;
  let closedReason: string | undefined;

  ws.addEventListener('message', (event: MessageEvent<string>) => {
    const message = JSON.parse(event.data) as WireMessage;
    if (message.method === 'rpc.event' && message.params?.subscription) {
      listeners.get(message.params.subscription)?.(message.params.item, message.params.lost ?? 0);
      return;
    }
    if (message.method === 'rpc.end' && message.params?.subscription) {
      listeners.delete(message.params.subscription);
      return;
    }
    if (typeof message.id !== 'number') return;
    const waiter = pending.get(message.id);
    pending.delete(message.id);
    if (message.error) waiter?.reject(new ApiError(message.error.code, message.error.message));
    else waiter?.resolve(message.result);
  });
  ws.addEventListener('close', (event: CloseEvent) => {
    closedReason = `connection to the console host closed (${event.code}${event.reason ? `: ${event.reason}` : ''})`;
    for (const waiter of pending.values()) waiter.reject(new ApiError(-32008, closedReason));
    pending.clear();
  });
  await new Promise<void>((resolve, reject) => {
    ws.addEventListener('open', () => resolve(), { once: true });
    ws.addEventListener('error', () => reject(new ApiError(-32008, `cannot reach the console host at ${url}`)), { once: true });
  });

  const call = (method: string, params: unknown): Promise<unknown> => {
    if (closedReason) return Promise.reject(new ApiError(-32008, closedReason));
    const id = nextId++;
    return new Promise((resolve, reject) => {
      pending.set(id, { resolve, reject });
      ws.send(JSON.stringify({ jsonrpc: '2.0', id, method, params }));
    });
  };

  const auth = (await call('rpc.auth', { token: presented, contract: contractName, version: contractVersion, client: 'console-renderer' })) as {
    sessionToken?: string;
  };
  if (auth.sessionToken) sessionStorage.setItem(sessionKey, auth.sessionToken);

  const subscribe = async (topic: string, params: unknown, onItem: ItemListener): Promise<() => Promise<void>> => {
    const subscription = `r${nextSubscription++}`;
    listeners.set(subscription, onItem);
    try {
      await call('rpc.subscribe', { topic, subscription, params });
    } catch (e) {
      listeners.delete(subscription);
      throw e;
    }
    return async () => {
      if (listeners.delete(subscription)) await call('rpc.unsubscribe', { subscription }).catch(() => undefined);
    };
  };

  // `bridge.terminal.open(p)` calls "terminal.open": the names come from the contract's types.
  return new Proxy({} as Bridge<ConsoleApi>, {
    get(_target, namespace: string) {
      if (namespace === 'subscribe') return subscribe;
      return new Proxy({}, { get: (_t, name: string) => (params: unknown) => call(`${namespace}.${name}`, params) });
    },
  });
}
