/**
 * The SDK for services written in TypeScript on a ring port (DESIGN.md
 * section 6, the paper's section 4.2): the service gets batches of packets and
 * gives each a verdict (drop by leaving it out, forward it, forward it
 * modified), and may add packets of its own; the SDK moves the batches.
 *
 * The controller opens the VI's port before it starts the VI and names its
 * Unix socket in PCLOUD_VI_RING. The loop spins briefly, then blocks in the
 * native receive for at most `idleMs`, and yields to the event loop between
 * rounds, so SIGTERM (the controller's stop) is handled within that time.
 * When the socket is created anew (the controller restarted and opened the
 * port again), the service reconnects.
 */
import { statSync } from 'node:fs';
import { RingClient, type RingBatch } from '../../../native/dataplane.ts';
import type { ServiceCounters } from './serviceCounters.ts';

export type { RingBatch };

export interface RingService {
  /** One round: the received frames are batch.frame(0..count-1); build the output with forward, replace, emit. */
  onBatch(batch: RingBatch): void;
  /** Called when a round received nothing (timers, housekeeping). */
  onIdle?(): void;
  /** The service's own counters: written for the controller after busy rounds and idle ones (throttled), and at stop. */
  counters?: ServiceCounters;
}

export interface RingServiceOptions {
  /** The port's socket (default: $PCLOUD_VI_RING). */
  socketPath?: string;
  /** Frames per round (default 64). */
  batchSize?: number;
  /** Longest block in one receive, which bounds how late a stop is noticed (default 100 ms). */
  idleMs?: number;
  /** Stops the loop when aborted (default: on SIGTERM or SIGINT). */
  signal?: AbortSignal;
}

const yieldToEventLoop = (): Promise<void> => new Promise((r) => setImmediate(r));

function inode(path: string): number {
  try {
    return statSync(path).ino;
  } catch {
    return -1;
  }
}

/** Runs `service` until stopped; resolves with the frames it received. */
export async function runRingService(service: RingService, options: RingServiceOptions = {}): Promise<{ received: number }> {
  const socketPath = options.socketPath ?? process.env.PCLOUD_VI_RING;
  if (!socketPath) throw new Error('no ring port: PCLOUD_VI_RING is not set (is this VI attached to the data plane with a ring port?)');
  let signal = options.signal;
  if (!signal) {
    const stop = new AbortController();
    process.once('SIGTERM', () => stop.abort());
    process.once('SIGINT', () => stop.abort());
    signal = stop.signal;
  }
  const idleMs = options.idleMs ?? 100;
  let received = 0;
  let ino = inode(socketPath);
  let client = RingClient.connect(socketPath);
  let batch = client.newBatch(options.batchSize ?? 64);
  let idleSince = Date.now();
  try {
    while (!signal.aborted) {
      const n = client.receive(batch, idleMs);
      if (n > 0) {
        received += n;
        service.onBatch(batch);
        if (batch.outCount > 0) client.send(batch, 1000);
        idleSince = Date.now();
        service.counters?.flush();
        // A busy service still lets signals in now and then.
        if ((received & 0x3fff) < n) await yieldToEventLoop();
        continue;
      }
      service.onIdle?.();
      service.counters?.flush();
      await yieldToEventLoop();
      if (Date.now() - idleSince > 1000) {
        idleSince = Date.now();
        const now = inode(socketPath);
        if (now !== ino && now !== -1) {
          client.close();
          client = RingClient.connect(socketPath);
          batch = client.newBatch(options.batchSize ?? 64);
          ino = now;
        }
      }
    }
  } finally {
    client.close();
    service.counters?.flush(true);
  }
  return { received };
}
