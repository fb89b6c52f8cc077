import { createTestingPinia } from '@pinia/testing';
import { setActivePinia } from 'pinia';
import { beforeEach, describe, expect, test, vi } from 'vitest';
import { ApiError, setApiForTests, type ConsoleBridge } from '../api/index.ts';
import { nextTick } from 'vue';
import { useConnectionStore } from './connection.ts';
import { useTerminalsStore } from './terminals.ts';

function fakeApi(overrides: Partial<ConsoleBridge['terminal']> = {}) {
  let n = 0;
  const terminal = {
    open: vi.fn(async () => ({ sessionId: `t${++n}`, attachToken: `tok${n}`, title: 'local: /bin/sh' })),
    close: vi.fn(async () => ({})),
    input: vi.fn(async () => ({})),
    resize: vi.fn(async () => ({})),
    list: vi.fn(async () => []),
    ...overrides,
  };
  setApiForTests({ terminal, app: { info: vi.fn() }, subscribe: vi.fn() } as unknown as ConsoleBridge);
  return terminal;
}

describe('terminals store', () => {
  beforeEach(() => {
    setActivePinia(createTestingPinia({ stubActions: false, createSpy: vi.fn }));
  });

  test('opening a terminal adds a tab in front, starting, with its attach token', async () => {
    fakeApi();
    const store = useTerminalsStore();
    await store.open();
    await store.open();
    expect(store.tabs.map((t) => t.sessionId)).toEqual(['t1', 't2']);
    expect(store.activeId).toBe('t2');
    expect(store.tabs[1]).toMatchObject({ state: 'starting', attachToken: 'tok2' });
  });

  test('the attach token can be taken once', async () => {
    fakeApi();
    const store = useTerminalsStore();
    await store.open();
    expect(store.takeAttachToken('t1')).toBe('tok1');
    expect(store.takeAttachToken('t1')).toBeUndefined();
  });

  test('a failed open says what failed', async () => {
    fakeApi({ open: vi.fn(async () => Promise.reject(new ApiError(-32007, 'at most 32 terminal sessions per window'))) });
    const store = useTerminalsStore();
    expect(await store.open()).toBeUndefined();
    expect(store.lastError).toBe('Could not open a terminal: at most 32 terminal sessions per window');
    expect(store.tabs).toHaveLength(0);
  });

  test('closing a running tab ends its session and brings its neighbour forward', async () => {
    const api = fakeApi();
    const store = useTerminalsStore();
    await store.open();
    await store.open();
    store.setState('t2', 'running');
    await store.close('t2');
    expect(api.close).toHaveBeenCalledWith({ sessionId: 't2' });
    expect(store.activeId).toBe('t1');
  });

  test('closing an exited tab does not call the backend', async () => {
    const api = fakeApi();
    const store = useTerminalsStore();
    await store.open();
    store.setState('t1', 'exited', 'process exited with code 0');
    await store.close('t1');
    expect(api.close).not.toHaveBeenCalled();
    expect(store.activeId).toBeUndefined();
  });
});

describe('terminals on a connection', () => {
  beforeEach(() => {
    setActivePinia(createTestingPinia({ stubActions: false, createSpy: vi.fn }));
  });

  test('a pcctl tab is marked ended when the console switches to another connection; a local shell stays', async () => {
    fakeApi();
    const connection = useConnectionStore();
    connection.apply({ kind: 'lab', name: 'deterlab', schedulerUrl: 'ws://127.0.0.1:1', state: 'connected', message: '', progress: null });
    const store = useTerminalsStore();
    await store.open({ kind: 'connection' });
    await store.open();
    store.setState('t1', 'running');
    store.setState('t2', 'running');
    connection.apply({ kind: 'lab', name: 'globalwan', schedulerUrl: null, state: 'starting', message: 'stopping the deterlab lab', progress: null });
    await nextTick();
    expect(store.tabs[0]).toMatchObject({ state: 'exited', exitSummary: 'ended: the console left lab deterlab' });
    expect(store.tabs[1]).toMatchObject({ state: 'running' });
    // The process's own exit frame that follows does not overwrite why it ended.
    store.setState('t1', 'exited', 'process ended by SIGHUP');
    expect(store.tabs[0]?.exitSummary).toBe('ended: the console left lab deterlab');
  });
});
