/**
 * Misbehaving clients of a scheduler, as their own process so that what they
 * cost on the client side does not slow the test's well-behaved client:
 *
 *   node test/support/abusiveClients.ts URL SETTINGS_JSON
 *
 * SETTINGS_JSON: { tokens: { slowReader, flooder, costly, fullVerifier, subscriber },
 *                  bookedOut: ReservationRequest, durationMs }
 *
 * - slow reader: connections that stop reading, then ask for 10,000-row lists;
 * - flooder: one provider on many connections sending booked-out requests as
 *   fast as it may (64 in flight per connection);
 * - costly: a viewer looping over costly reads (lists of 10,000 rows, verify,
 *   explain);
 * - full verifier: an operator looping over full audit verifications;
 * - subscriber: connections with 64 subscriptions each that stop reading.
 *
 * Every loop ends after `durationMs` (and each is bounded in count). Prints one
 * JSON line of counts when done, then exits.
 */
import { WebSocket } from 'ws';

interface Settings {
  tokens: { slowReader: string; flooder: string; costly: string; fullVerifier: string; subscriber: string };
  bookedOut: unknown;
  durationMs: number;
  /** Run only these abusers (all when absent). */
  only?: string[];
}

const [url, raw] = process.argv.slice(2);
if (!url || !raw) throw new Error('usage: abusiveClients.ts URL SETTINGS_JSON');
const settings = JSON.parse(raw) as Settings;
const deadline = Date.now() + settings.durationMs;
const live = (): boolean => Date.now() < deadline;
const counts = { sent: 0, answered: 0, refused: 0, refusedConnections: 0, dropped: 0 };
const sockets = new Set<WebSocket>();

/** An authenticated raw socket; replies are counted, never parsed beyond their error code. */
async function open(token: string, onReply?: () => void): Promise<WebSocket | undefined> {
  const ws = new WebSocket(url as string, { perMessageDeflate: false });
  sockets.add(ws);
  ws.on('error', () => undefined);
  ws.on('close', (code) => {
    sockets.delete(ws);
    if (code === 1006 || code === 4430) counts.dropped++;
  });
  try {
    await new Promise<void>((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
  } catch {
    return undefined;
  }
  ws.send(JSON.stringify({ jsonrpc: '2.0', id: 0, method: 'rpc.auth', params: { token, contract: 'scheduler', version: 1 } }));
  const ok = await new Promise<boolean>((resolve) => {
    ws.once('message', (data) => resolve(!String(data).includes('"error"')));
    ws.once('close', () => resolve(false));
  });
  if (!ok) {
    counts.refusedConnections++;
    ws.close();
    return undefined;
  }
  ws.on('message', (data) => {
    counts.answered++;
    // Error replies are short; a result can be megabytes and is not looked into.
    if ((data as Buffer).length < 600 && String(data).includes('"error"')) counts.refused++;
    onReply?.();
  });
  return ws;
}

const call = (ws: WebSocket, id: number, method: string, params: unknown): void => {
  if (ws.readyState !== WebSocket.OPEN) return;
  counts.sent++;
  ws.send(JSON.stringify({ jsonrpc: '2.0', id, method, params }));
};

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function slowReader(): Promise<void> {
  for (let round = 0; round < 40 && live(); round++) {
    const ws = await open(settings.tokens.slowReader);
    if (!ws) {
      await pause(200);
      continue;
    }
    ws.pause();
    for (let i = 1; i <= 50 && live() && ws.readyState === WebSocket.OPEN; i++) {
      call(ws, i, 'reservation.list', { limit: 10_000 });
      await pause(20);
    }
  }
}

/** One provider on 40 lanes; a lane that is disconnected connects again (at most 10 times). */
async function flooder(): Promise<void> {
  await Promise.all(
    Array.from({ length: 40 }, async () => {
      for (let attempt = 0; attempt < 10 && live(); attempt++) {
        const ws = await open(settings.tokens.flooder);
        if (!ws) {
          await pause(100);
          continue;
        }
        let id = 0;
        let inFlight = 0;
        let wake: (() => void) | undefined;
        ws.on('message', () => {
          inFlight--;
          wake?.();
        });
        while (live() && id < 20_000 && ws.readyState === WebSocket.OPEN) {
          while (inFlight < 64 && id < 20_000) {
            inFlight++;
            call(ws, ++id, 'reservation.request', settings.bookedOut);
          }
          await new Promise<void>((resolve) => {
            wake = resolve;
            setTimeout(resolve, 50);
          });
        }
      }
    }),
  );
}

/** Sends one call at a time and waits for its answer (or the end). */
async function loop(token: string, next: (i: number) => [string, unknown]): Promise<void> {
  let answered: (() => void) | undefined;
  const ws = await open(token, () => answered?.());
  if (!ws) return;
  for (let i = 1; i <= 100_000 && live() && ws.readyState === WebSocket.OPEN; i++) {
    const [method, params] = next(i);
    await new Promise<void>((resolve) => {
      answered = resolve;
      setTimeout(resolve, 2000);
      call(ws, i, method, params);
    });
  }
}

async function subscriber(): Promise<void> {
  const connections = await Promise.all(Array.from({ length: 30 }, () => open(settings.tokens.subscriber)));
  for (const ws of connections) {
    if (!ws) continue;
    for (let i = 0; i < 64; i++) call(ws, i + 1, 'rpc.subscribe', { topic: 'scheduler.events', subscription: `s${i}` });
  }
  await pause(500);
  for (const ws of connections) ws?.pause();
  while (live()) await pause(100);
}

const costlyCalls: [string, unknown][] = [
  ['reservation.list', { limit: 10_000 }],
  ['audit.verify', {}],
  ['audit.list', { limit: 10_000 }],
  ['admission.explain', { request: settings.bookedOut, providerId: 'p2' }],
  ['resources.headroom', { from: Date.now(), to: Date.now() + 86_400_000 }],
];

const abusers: Record<string, () => Promise<void>> = {
  slowReader,
  flooder,
  costly: () => loop(settings.tokens.costly, (i) => costlyCalls[i % costlyCalls.length] as [string, unknown]),
  fullVerifier: () => loop(settings.tokens.fullVerifier, () => ['audit.verify', { full: true }]),
  subscriber,
};
await Promise.all(Object.entries(abusers).filter(([name]) => !settings.only || settings.only.includes(name)).map(([, run]) => run()));
process.stdout.write(`${JSON.stringify(counts)}\n`);
for (const ws of sockets) ws.terminate();
process.exit(0);
