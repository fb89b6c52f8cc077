/**
 * The Electron IPC binding's sender checks. Electron cannot run on these build
 * machines, so `electron` is replaced by a minimal stand-in recording the
 * handlers; what is tested is our code: who may call, and what it returns.
 */
import { beforeEach, describe, expect, test, vi } from 'vitest';
import { ErrorCode } from '../protocol/errors.ts';

type Handler = (event: unknown, ...args: unknown[]) => Promise<unknown>;
const handlers = new Map<string, Handler>();

vi.mock('electron', () => ({
  ipcMain: {
    handle: (channel: string, fn: Handler) => handlers.set(channel, fn),
    removeHandler: (channel: string) => handlers.delete(channel),
  },
}));

const { bindConsoleIpc } = await import('./ipcBinding.ts');
const { createConsoleBackend } = await import('../console/consoleBackend.ts');
const { fileModeVault } = await import('../console/profiles.ts');
const { consoleIpc } = await import('../protocol/consoleApi.ts');

function fakeWindow() {
  const mainFrame = { url: 'app://console/index.html' };
  const sent: unknown[][] = [];
  const contents = { id: 7, mainFrame, isDestroyed: () => false, send: (...args: unknown[]) => sent.push(args) };
  return { window: { webContents: contents }, contents, mainFrame, sent };
}

describe('console IPC', () => {
  let w: ReturnType<typeof fakeWindow>;
  let unbind: () => void;

  beforeEach(() => {
    handlers.clear();
    w = fakeWindow();
    const backend = createConsoleBackend({
      version: '0.0.0-test',
      transport: 'electron',
      dataDir: '/tmp',
      vault: fileModeVault,
      lab: { start: () => Promise.reject(new Error('no lab in this test')) },
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

  test('unbinding removes every handler', () => {
    unbind();
    expect([...handlers.keys()]).toEqual([]);
  });
});
