/**
 * forward: the service that returns every packet unchanged, on a ring port.
 * It exists for tests and benchmarks (the cost of the data plane and a VI
 * hop with no work in the VI), and as the smallest example of the SDK.
 */
import { runRingService } from './sdk/ringService.ts';

const { received } = await runRingService({ onBatch: (batch) => batch.forwardAll() });
process.stdout.write(`forward: stopped after ${received} packets\n`);
