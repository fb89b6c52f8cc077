/**
 * The closed preload: exposes one object, `window.pcloud`, whose functions are
 * generated from the console contract. It never exposes ipcRenderer, and it
 * drops the IPC event (which carries `sender`) before calling a listener.
 * Runs sandboxed, so it is bundled to CommonJS with its few imports inlined.
 */
import { contextBridge, ipcRenderer } from 'electron';
import { bridgeOf } from '../main/protocol/contract.ts';
import { consoleApi, consoleIpc } from '../main/protocol/consoleApi.ts';

type Envelope = { ok: true; result: unknown } | { ok: false; error: { code: number; message: string } };

function unwrap(envelope: Envelope): unknown {
  // contextBridge keeps only an Error's message, so the code rides along in it.
  if (!envelope.ok) throw new Error(`${envelope.error.message} [rpc ${envelope.error.code}]`);
  return envelope.result;
}

const listeners = new Map<string, (item: unknown, lost: number) => void>();
let nextSubscription = 1;

// Items handed to listeners and not yet acknowledged: main sends only a window
// of unacknowledged items (main/shell/ipcBinding.ts), so acknowledge in
// batches once the listeners have run.
let delivered = 0;

ipcRenderer.on(consoleIpc.event, (_event, subscription: string, item: unknown, lost: number) => {
  listeners.get(subscription)?.(item, lost);
  if (delivered++ === 0) {
    setTimeout(() => {
      ipcRenderer.send(consoleIpc.ack, delivered);
      delivered = 0;
    }, 0);
  }
});

async function subscribe(topic: string, params: unknown, onItem: (item: unknown, lost: number) => void): Promise<() => Promise<void>> {
  const subscription = `p${nextSubscription++}`;
  listeners.set(subscription, onItem);
  try {
    unwrap((await ipcRenderer.invoke(consoleIpc.subscribe, subscription, topic, params)) as Envelope);
  } catch (e) {
    listeners.delete(subscription);
    throw e;
  }
  return async () => {
    if (listeners.delete(subscription)) await ipcRenderer.invoke(consoleIpc.unsubscribe, subscription);
  };
}

const bridge = bridgeOf(consoleApi, async (method, params) => unwrap((await ipcRenderer.invoke(consoleIpc.call, method, params)) as Envelope), subscribe);

contextBridge.exposeInMainWorld('pcloud', bridge);
