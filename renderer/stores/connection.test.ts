import { createTestingPinia } from '@pinia/testing';
import { setActivePinia } from 'pinia';
import { beforeEach, expect, test, vi } from 'vitest';
import type { ConnectionStatus } from '../../main/protocol/consoleApi.ts';
import { setApiForTests, type ConsoleBridge } from '../api/index.ts';
import { useConnectionStore } from './connection.ts';

const status = (over: Partial<ConnectionStatus>): ConnectionStatus => ({
  kind: 'lab',
  name: 'deterlab',
  schedulerUrl: 'ws://127.0.0.1:1',
  state: 'starting',
  message: '',
  progress: null,
  ...over,
});

beforeEach(() => setActivePinia(createTestingPinia({ stubActions: false, createSpy: vi.fn })));

test('the epoch moves when a connection comes up or its target changes, not on every status', async () => {
  let push: (s: ConnectionStatus) => void = () => undefined;
  setApiForTests({
    subscribe: vi.fn(async (_t: string, _p: unknown, onItem: (s: ConnectionStatus) => void) => {
      push = onItem;
      return async () => undefined;
    }),
  } as unknown as ConsoleBridge);
  const store = useConnectionStore();
  await store.watch();
  push(status({ state: 'starting' }));
  expect(store.epoch).toBe(0);
  push(status({ state: 'connected' }));
  expect(store.epoch).toBe(1);
  push(status({ state: 'connected', message: 'still here' }));
  expect(store.epoch).toBe(1);
  push(status({ state: 'reconnecting' }));
  push(status({ state: 'connected' }));
  expect(store.epoch).toBe(2);
  push(status({ state: 'connected', name: 'globalwan', schedulerUrl: 'ws://127.0.0.1:2' }));
  expect(store.epoch).toBe(3);
  expect(store.connected).toBe(true);
});

test('a failed switch says why', async () => {
  setApiForTests({ connection: { useProfile: vi.fn(async () => Promise.reject(new Error('no saved profile "x" [rpc -32006]'))) } } as unknown as ConsoleBridge);
  const store = useConnectionStore();
  await store.useProfile('x');
  expect(store.lastError).toBe('no saved profile "x"');
});
