// Child process of the data-plane measurements (dataplaneMeasure.ts): runs
// the VXLAN load generator once with the options given as JSON in argv[2]
// (frame as a byte array) and prints the result as JSON, so that its CPU
// time is not the data plane's and the caller's event loop keeps running.
import { runVxlanLoad } from '../index.ts';
import type { LoadOptions } from '../index.ts';

const options = JSON.parse(process.argv[2] ?? '{}') as Omit<LoadOptions, 'frame'> & { frame: number[] };
console.log(JSON.stringify(runVxlanLoad({ ...options, frame: Uint8Array.from(options.frame) })));
