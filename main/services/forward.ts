/**
 * forward: the service that returns every packet unchanged. It exists for
 * tests and benchmarks (the cost of the data plane and a VI hop with no work
 * in the VI), and as the smallest example of the SDK.
 *
 * On a ring port it is an SDK batch loop. On a tap port (PCLOUD_VI_TAPS) the
 * kernel does the work: a tc mirred redirect sends whatever arrives on eth0
 * back out of eth0 (or from in0 out of out0 for a bump in the wire). That
 * needs the VI to be root in its own namespaces (a user namespace), which a
 * root controller gives where the host allows it.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { runsAsProgram, type ServiceDescriptor } from './sdk/descriptor.ts';
import { runRingService } from './sdk/ringService.ts';

export const descriptor: ServiceDescriptor = {
  program: 'forward',
  summary: 'returns every packet unchanged (tests, benchmarks, the smallest SDK example)',
  mode: 'transparent',
  port: { kind: 'ring', layout: 'single' },
  portKinds: ['ring', 'tap'],
  args: z.strictObject({}),
  availability: () => null,
};

/** tc from PATH or the usual system directories (a VI's PATH may lack sbin). */
function tc(...args: string[]): void {
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/sbin'];
  const file = dirs.map((d) => join(d, 'tc')).find((f) => existsSync(f));
  if (!file) throw new Error('forward on a tap port needs tc (iproute2), which is not installed');
  try {
    execFileSync(file, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (e) {
    throw new Error(`forward: tc ${args.join(' ')} failed (is the VI root in its own network namespace?): ${(e as { stderr?: Buffer }).stderr?.toString().trim() ?? (e as Error).message}`, { cause: e });
  }
}

async function forwardOnTaps(taps: readonly string[]): Promise<void> {
  const from = taps[0] ?? 'eth0';
  const to = taps[1] ?? from;
  tc('qdisc', 'add', 'dev', from, 'ingress');
  tc('filter', 'add', 'dev', from, 'parent', 'ffff:', 'protocol', 'all', 'u32', 'match', 'u32', '0', '0', 'action', 'mirred', 'egress', 'redirect', 'dev', to);
  process.stdout.write(`forward: ${from} -> ${to} by tc mirred\n`);
  // The kernel forwards; this process only holds the VI open until it is stopped.
  const alive = setInterval(() => undefined, 1 << 30);
  await new Promise((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  clearInterval(alive);
}

const taps = (process.env.PCLOUD_VI_TAPS ?? '').split(',').filter(Boolean);
if (runsAsProgram('forward', import.meta.url) && taps.length) {
  await forwardOnTaps(taps);
} else if (runsAsProgram('forward', import.meta.url)) {
  const { received } = await runRingService({ onBatch: (batch) => batch.forwardAll() });
  process.stdout.write(`forward: stopped after ${received} packets\n`);
}
