/**
 * Serves the console API over Electron IPC: the same dispatcher as the
 * headless host, with Electron's sender checks in front. Only the app's own
 * window, its main frame, loaded from our app:// origin, may call.
 *
 * Back-pressure: `webContents.send` never says the renderer is behind, so
 * the preload acknowledges the items it has handed to listeners, and at most
 * `ipcItemWindow` items are sent unacknowledged. Beyond that they wait in the
 * same bounded queues as over WebSocket (protocol/subscriptions.ts), so a
 * busy renderer loses its oldest items and is told how many.
 */
import { ipcMain, type BrowserWindow, type IpcMainEvent, type IpcMainInvokeEvent } from 'electron';
import type { ConsoleBackend } from '../console/consoleBackend.ts';
import { consoleIpc } from '../protocol/consoleApi.ts';
import { toRpcError } from '../protocol/dispatcher.ts';
import { ErrorCode, RpcError } from '../protocol/errors.ts';
import { defaultLimits } from '../protocol/limits.ts';
import type { Principal } from '../protocol/roles.ts';
import { Subscriptions } from '../protocol/subscriptions.ts';
import { appOrigin } from './appScheme.ts';

// The desktop user is the operator at this seat.
const localOperator: Principal = { role: 'operator', name: 'desktop' };

/** Items sent to the renderer and not yet acknowledged, at most. */
export const ipcItemWindow = 256;

export function bindConsoleIpc(window: BrowserWindow, backend: ConsoleBackend): () => void {
  const contents = window.webContents;
  const connectionId = `window-${contents.id}`;
  const abort = new AbortController();
  let unacknowledged = 0;
  const subscriptions = new Subscriptions(
    {
      ready: () => !contents.isDestroyed() && unacknowledged < ipcItemWindow,
      deliver: (id, item, lost) => {
        unacknowledged++;
        contents.send(consoleIpc.event, id, item, lost);
      },
      // The renderer learns of ended relays from connection.changes; nothing to send.
      ended: () => undefined,
    },
    defaultLimits,
  );

  const checkSender = (event: IpcMainInvokeEvent | IpcMainEvent): void => {
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
      // The window's one user is the operator at this machine: the message is theirs to see.
      const error = toRpcError(e, { expose: true });
      return { ok: false, error: { code: error.code, message: error.message } };
    }
  };
  const ctx = { principal: localOperator, signal: abort.signal, connectionId };

  ipcMain.handle(consoleIpc.call, (event, method: unknown, params: unknown) =>
    envelope(event, () => backend.dispatcher.call(String(method), params, ctx)),
  );
  ipcMain.handle(consoleIpc.subscribe, (event, subscription: unknown, topic: unknown, params: unknown) =>
    envelope(event, async () => {
      await subscriptions.open(String(subscription).slice(0, 64), (sink) => backend.dispatcher.subscribe(String(topic), params, sink, ctx));
      return {};
    }),
  );
  ipcMain.handle(consoleIpc.unsubscribe, (event, subscription: unknown) =>
    envelope(event, async () => {
      subscriptions.cancel(String(subscription));
      return {};
    }),
  );
  const onAck = (event: IpcMainEvent, count: unknown): void => {
    try {
      checkSender(event);
    } catch {
      return;
    }
    if (typeof count !== 'number' || !Number.isInteger(count) || count < 1) return;
    unacknowledged = Math.max(0, unacknowledged - count);
    subscriptions.pump();
  };
  ipcMain.on(consoleIpc.ack, onAck);

  return () => {
    abort.abort();
    subscriptions.closeAll();
    for (const channel of [consoleIpc.call, consoleIpc.subscribe, consoleIpc.unsubscribe]) ipcMain.removeHandler(channel);
    ipcMain.removeListener(consoleIpc.ack, onAck);
    backend.disconnect(connectionId);
  };
}
