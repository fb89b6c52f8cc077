// Worker for demux.concurrency.test.ts: attaches to the main thread's flow
// table and classifies one fixed batch in a loop until told to stop, checking
// that every batch saw exactly one rule generation.
import { parentPort, workerData } from 'node:worker_threads';
import { ClassifyResult, FlowTable } from '../demux.ts';

interface Input {
  handle: number;
  buffer: Uint8Array;
  offsets: Uint32Array;
  lengths: Uint32Array;
  stop: Int32Array;
}

const input = workerData as Input;
const table = FlowTable.attach(input.handle);
const result = new ClassifyResult(input.offsets.length);
let batches = 0;
let mixed = 0;
let misses = 0;
const generations = new Set<number>();
while (Atomics.load(input.stop, 0) === 0 || batches < 10) {
  table.classify(input.buffer, input.offsets, input.lengths, result);
  const first = result.viIds[0] ?? 0;
  for (let i = 0; i < input.offsets.length; i++) {
    if (result.actions[i] !== 1) misses++;
    if (result.viIds[i] !== first) {
      mixed++;
      break;
    }
  }
  generations.add(first);
  batches++;
  if (batches === 1) Atomics.store(input.stop, 1, 1); // tell the main thread we are running
}
parentPort?.postMessage({ batches, mixed, misses, generations: generations.size });
