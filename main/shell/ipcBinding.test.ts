/**
 * The Electron IPC binding's sender checks. Electron cannot run on these build
 * machines, so `electron` is replaced by a minimal stand-in recording the
 * handlers; what is tested is our code: who may call, and what it returns.
 */
import { beforeEach, describe, expect, test, vi } from 'vitest';
import { ErrorCode } from '../protocol/errors.ts';

type Handler = (event: unknown, ...args: unknown[]) => Promise<unknown>;
type Listener = (event: unknown, ...args: unknown[]) => void;
const handlers = new Map<string, Handler>();
const listeners = new Map<string, Listener>();

vi.mock('electron', () => ({
  ipcMain: {
    handle: (channel: string, fn: Handler) => handlers.set(channel, fn),
    removeHandler: (channel: string) => handlers.delete(channel),
    on: (channel: string, fn: Listener) => listeners.set(channel, fn),
    removeListener: (channel: string, fn: Listener) => listeners.get(channel) === fn && listeners.delete(channel),
  },
}));

const { bindConsoleIpc, ipcItemWindow } = await import('./ipcBinding.ts');
const { createConsoleBackend } = await import('../console/consoleBackend.ts');
const { fileModeVault } = await import('../console/profiles.ts');
const { consoleIpc } = await import('../protocol/consoleApi.ts');

function fakeWindow() {
  const mainFrame = { url: 'app://console/index.html' };
  const sent: unknown[][] = [];
  const contents = { id: 7, mainFrame, isDestroyed: () => false, send: (...args: unknown[]) => sent.push(args) };
  return { window: { webContents: contents }, contents, mainFrame, sent };
}

/** Progress reports the stand-in lab makes before failing: one connection.changes item each. */
let labProgressSteps = 0;

describe('console IPC', () => {
  let w: ReturnType<typeof fakeWindow>;
  let unbind: () => void;

  beforeEach(() => {
    handlers.clear();
    listeners.clear();
    labProgressSteps = 0;
    w = fakeWindow();
    const backend = createConsoleBackend({
      version: '0.0.0-test',
      transport: 'electron',
      dataDir: '/tmp',
      vault: fileModeVault,
      lab: {
        start: (_topology, onProgress) => {
          for (let i = 1; i <= labProgressSteps; i++) onProgress(i, labProgressSteps, `step ${i}`);
          return Promise.reject(new Error('no lab in this test'));
        },
      },
    });
    unbind = bindConsoleIpc(w.window as never, backend);
    return () => unbind();
  });

  const call = (event: unknown, method: string, params: unknown) => (handlers.get(consoleIpc.call) as Handler)(event, method, params);

  test("the app's own main frame on app:// gets the answer", async () => {
    await expect(call({ sender: w.contents, senderFrame: w.mainFrame }, 'app.info', {})).resolves.toMatchObject({ ok: true, result: { transport: 'electron' } });
  });

  test('a subframe, another window, or a page navigated elsewhere is refused', async () => {
    const forbidden = { ok: false, error: { code: ErrorCode.Forbidden } };
    await expect(call({ sender: w.contents, senderFrame: { url: 'app://console/index.html' } }, 'app.info', {})).resolves.toMatchObject(forbidden);
    await expect(call({ sender: fakeWindow().contents, senderFrame: w.mainFrame }, 'app.info', {})).resolves.toMatchObject(forbidden);
    w.mainFrame.url = 'https://evil.example/';
    await expect(call({ sender: w.contents, senderFrame: w.mainFrame }, 'app.info', {})).resolves.toMatchObject(forbidden);
  });

  test('errors keep their wire code and params are schema-checked', async () => {
    const event = { sender: w.contents, senderFrame: w.mainFrame };
    await expect(call(event, 'terminal.input', { sessionId: 'nope', data: 'x' })).resolves.toMatchObject({ ok: false, error: { code: ErrorCode.InvalidParams } });
    await expect(call(event, 'no.such', {})).resolves.toMatchObject({ ok: false, error: { code: ErrorCode.MethodNotFound } });
  });

  test('items wait for acknowledgement, are bounded while the renderer is behind, and the loss is counted', async () => {
    const event = { sender: w.contents, senderFrame: w.mainFrame };
    const subscribe = handlers.get(consoleIpc.subscribe) as Handler;
    await expect(subscribe(event, 's1', 'connection.changes', {})).resolves.toMatchObject({ ok: true });
    labProgressSteps = 5000;
    await call(event, 'connection.useLab', { topology: 'tiny' });
    const items = () => w.sent.filter((m) => m[0] === consoleIpc.event);
    // Nothing acknowledged yet: only one window's worth went to the renderer.
    expect(items()).toHaveLength(ipcItemWindow);
    const ack = listeners.get(consoleIpc.ack) as Listener;
    let seen = 0;
    while (seen < items().length) {
      const batch = items().length - seen;
      seen = items().length;
      ack(event, batch);
    }
    const lost = items().reduce((n, m) => n + (m[3] as number), 0);
    // Status changes: the subscription's first item, 1 "starting", 5000 progress reports, 1 "failed".
    const produced = 1 + 1 + 5000 + 1;
    expect(lost).toBeGreaterThan(0);
    expect(items().length + lost).toBe(produced);
    expect(items().at(-1)?.[2]).toMatchObject({ state: 'failed' }); // the newest survives
  });

  test('an acknowledgement from another frame gives no credit', async () => {
    const event = { sender: w.contents, senderFrame: w.mainFrame };
    await (handlers.get(consoleIpc.subscribe) as Handler)(event, 's1', 'connection.changes', {});
    labProgressSteps = 1000;
    await call(event, 'connection.useLab', { topology: 'tiny' });
    (listeners.get(consoleIpc.ack) as Listener)({ sender: fakeWindow().contents, senderFrame: w.mainFrame }, 1000);
    expect(w.sent.filter((m) => m[0] === consoleIpc.event)).toHaveLength(ipcItemWindow);
  });

  test('unbinding removes every handler', () => {
    unbind();
    expect([...handlers.keys()]).toEqual([]);
    expect([...listeners.keys()]).toEqual([]);
  });
});
