// Child process of the data-plane measurements (native/dataplaneMeasure.ts): runs
// the VXLAN load generator with the options given as JSON (frame as a byte
// array) and prints the result as JSON, so that its CPU time is not the data
// plane's and the caller's event loop keeps running. Once with the options
// in argv[2]; or, with --serve, once per line of stdin, one result line each
// (a generator kept for many short runs, without a process start per run).
import { createInterface } from 'node:readline';
import { runVxlanLoad } from './index.ts';
import type { LoadOptions } from './index.ts';

type WireOptions = Omit<LoadOptions, 'frame'> & { frame: number[] };
const runOnce = (options: WireOptions) => runVxlanLoad({ ...options, frame: Uint8Array.from(options.frame) });

if (process.argv[2] === '--serve') {
  for await (const line of createInterface({ input: process.stdin })) {
    try {
      process.stdout.write(`${JSON.stringify(runOnce(JSON.parse(line) as WireOptions))}\n`);
    } catch (e) {
      process.stdout.write(`${JSON.stringify({ error: (e as Error).message })}\n`);
    }
  }
} else {
  console.log(JSON.stringify(runOnce(JSON.parse(process.argv[2] ?? '{}') as WireOptions)));
}
