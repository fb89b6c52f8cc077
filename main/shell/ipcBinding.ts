/**
 * Serves the console API over Electron IPC: the same dispatcher as the
 * headless host, with Electron's sender checks in front. Only the app's own
 * window, its main frame, loaded from our app:// origin, may call.
 */
import { ipcMain, type BrowserWindow, type IpcMainInvokeEvent } from 'electron';
import type { ConsoleBackend } from '../console/consoleBackend.ts';
import { consoleIpc } from '../protocol/consoleApi.ts';
import { toRpcError } from '../protocol/dispatcher.ts';
import { ErrorCode, RpcError } from '../protocol/errors.ts';
import type { Principal } from '../protocol/roles.ts';
import { appOrigin } from './appScheme.ts';

// The desktop user is the operator at this seat.
const localOperator: Principal = { role: 'operator', name: 'desktop' };

export function bindConsoleIpc(window: BrowserWindow, backend: ConsoleBackend): () => void {
  const contents = window.webContents;
  const connectionId = `window-${contents.id}`;
  const abort = new AbortController();
  const subscriptions = new Map<string, () => void>();

  const checkSender = (event: IpcMainInvokeEvent): void => {
    const frame = event.senderFrame;
    if (event.sender !== contents || !frame || frame !== contents.mainFrame || !frame.url.startsWith(`${appOrigin}/`)) {
      throw new RpcError(ErrorCode.Forbidden, 'IPC from an unexpected frame was refused');
    }
  };
  const envelope = async (event: IpcMainInvokeEvent, run: () => Promise<unknown>) => {
    try {
      checkSender(event);
      return { ok: true, result: await run() };
    } catch (e) {
      const error = toRpcError(e);
      return { ok: false, error: { code: error.code, message: error.message } };
    }
  };
  const ctx = { principal: localOperator, signal: abort.signal, connectionId };

  ipcMain.handle(consoleIpc.call, (event, method: unknown, params: unknown) =>
    envelope(event, () => backend.dispatcher.call(String(method), params, ctx)),
  );
  ipcMain.handle(consoleIpc.subscribe, (event, subscription: unknown, topic: unknown, params: unknown) =>
    envelope(event, async () => {
      const id = String(subscription).slice(0, 64);
      if (subscriptions.has(id)) throw new RpcError(ErrorCode.Conflict, `subscription ${id} exists`);
      let ended = false;
      const stop = await backend.dispatcher.subscribe(
        String(topic),
        params,
        {
          push: (item) => {
            if (!ended && !contents.isDestroyed()) contents.send(consoleIpc.event, id, item, 0);
          },
          end: () => {
            ended = true;
            subscriptions.delete(id);
          },
        },
        ctx,
      );
      if (ended) stop();
      else subscriptions.set(id, stop);
      return {};
    }),
  );
  ipcMain.handle(consoleIpc.unsubscribe, (event, subscription: unknown) =>
    envelope(event, async () => {
      const id = String(subscription);
      subscriptions.get(id)?.();
      subscriptions.delete(id);
      return {};
    }),
  );

  return () => {
    abort.abort();
    for (const stop of subscriptions.values()) stop();
    subscriptions.clear();
    for (const channel of [consoleIpc.call, consoleIpc.subscribe, consoleIpc.unsubscribe]) ipcMain.removeHandler(channel);
    backend.disconnect(connectionId);
  };
}
