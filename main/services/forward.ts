/**
 * forward: the service that returns every packet unchanged, on a ring port.
 * It exists for tests and benchmarks (the cost of the data plane and a VI
 * hop with no work in the VI), and as the smallest example of the SDK.
 */
import { z } from 'zod';
import { runsAsProgram, type ServiceDescriptor } from './sdk/descriptor.ts';
import { runRingService } from './sdk/ringService.ts';

export const descriptor: ServiceDescriptor = {
  program: 'forward',
  summary: 'returns every packet unchanged (tests, benchmarks, the smallest SDK example)',
  mode: 'transparent',
  port: { kind: 'ring', layout: 'single' },
  args: z.strictObject({}),
  availability: () => null,
};

if (runsAsProgram('forward', import.meta.url)) {
  const { received } = await runRingService({ onBatch: (batch) => batch.forwardAll() });
  process.stdout.write(`forward: stopped after ${received} packets\n`);
}
