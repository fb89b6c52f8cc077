// Test-only VI program on the VI side of a ring port, run in a worker thread:
// 'forward' returns every packet unchanged (the forward service);
// 'spoof' forwards and also emits, per batch, a copy of the first packet with
// its IPv4 destination replaced by 198.19.66.66 (no rule captures it, either
// way round).
// Stops when stop[0] becomes non-zero; reports the packets it handled.
import { parentPort, workerData } from 'node:worker_threads';
import { RingClient } from '../dataplane.ts';

const { socketPath, mode, stop } = workerData as { socketPath: string; mode: 'forward' | 'spoof'; stop: Int32Array };
const client = RingClient.connect(socketPath);
const batch = client.newBatch(64);
let handled = 0;
let spoofed = 0;
parentPort?.postMessage({ ready: true });
while (Atomics.load(stop, 0) === 0) {
  const n = client.receive(batch, 20);
  if (n === 0) continue;
  handled += n;
  batch.forwardAll();
  if (mode === 'spoof') {
    const copy = batch.frame(0).slice();
    // IPv4 destination at 14 + 16 (untagged frames in these tests).
    copy.set([198, 19, 66, 66], 30);
    batch.emit(copy);
    spoofed++;
  }
  client.send(batch, 1000);
}
client.close();
parentPort?.postMessage({ handled, spoofed });
