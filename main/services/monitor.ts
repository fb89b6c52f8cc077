/**
 * monitor: the built-in long-running service. It reports its own resource use
 * (CPU time, resident memory, pid as seen inside its sandbox, hostname) as one
 * JSON line per interval on stdout, which the controller keeps in the VI's
 * output log. Packet services come with the data plane; this one proves the
 * sandbox, the limits and the supervision.
 *
 * Options (the service spec's args): --interval-ms N (default 1000),
 * --burn-cores F (spin to use about F cores, to exercise CPU caps),
 * --alloc-mib N (hold N MiB, to exercise memory caps), --crash-after-ms N
 * (exit with status 3 after N ms, to exercise crash handling), --children N
 * (fork N idle helpers, so a VI is a process tree).
 *
 * SIGTERM ends it cleanly (status 0): as pid 1 of a pid namespace it only
 * receives the signals it handles, so the handler is what makes a graceful
 * stop possible.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { integerArg, numberArg, runsAsProgram, type ServiceDescriptor } from './sdk/descriptor.ts';

export const descriptor: ServiceDescriptor = {
  program: 'monitor',
  summary: 'reports its own CPU, memory and sandbox view once per interval (proves sandbox, limits and supervision)',
  mode: 'transparent',
  port: { kind: 'ring', layout: 'single' },
  args: z.strictObject({
    'interval-ms': integerArg(50, 3_600_000).describe('milliseconds between reports (default 1000)').optional(),
    'burn-cores': numberArg(0, 64).describe('spin to use about this many cores').optional(),
    'alloc-mib': integerArg(0, 65_536).describe('hold this many MiB').optional(),
    'crash-after-ms': integerArg(0, 86_400_000).describe('exit with status 3 after this many ms').optional(),
    children: integerArg(0, 16).describe('fork this many idle helpers').optional(),
  }) as z.ZodType<Record<string, string>>,
  availability: () => null,
};

if (runsAsProgram('monitor', import.meta.url)) {
  const { values } = parseArgs({
    options: {
      'interval-ms': { type: 'string', default: '1000' },
      'burn-cores': { type: 'string', default: '0' },
      'alloc-mib': { type: 'string', default: '0' },
      'crash-after-ms': { type: 'string' },
      children: { type: 'string', default: '0' },
      helper: { type: 'boolean', default: false },
    },
    strict: false,
  });

  const num = (v: string | boolean | undefined, fallback: number): number => {
    const n = Number(v);
    return Number.isFinite(n) && n >= 0 ? n : fallback;
  };

  if (values.helper) {
    // An idle child: stays until its parent's process group is stopped.
    setInterval(() => undefined, 60_000);
  } else {
    const intervalMs = Math.max(50, num(values['interval-ms'], 1000));
    const burn = Math.min(64, num(values['burn-cores'], 0));
    const held: Buffer[] = [];
    for (let i = 0; i < Math.min(65_536, num(values['alloc-mib'], 0)); i++) held.push(Buffer.alloc(1024 * 1024, i & 255));

    const helpers: ChildProcess[] = [];
    for (let i = 0; i < Math.min(16, num(values.children, 0)); i++) {
      helpers.push(spawn(process.execPath, [...process.execArgv, process.argv[1] ?? '', '--helper'], { stdio: 'ignore' }));
    }

    let last = process.cpuUsage();
    let lastAt = Date.now();
    const report = (): void => {
      const now = Date.now();
      const cpu = process.cpuUsage(last);
      last = process.cpuUsage();
      const cores = (cpu.user + cpu.system) / 1000 / Math.max(1, now - lastAt);
      lastAt = now;
      const line = { at: now, service: 'monitor', pid: process.pid, host: hostname(), cores: Number(cores.toFixed(3)), rssMiB: Number((process.memoryUsage.rss() / 1048576).toFixed(1)), heldMiB: held.length };
      process.stdout.write(`${JSON.stringify(line)}\n`);
    };
    const timer = setInterval(report, intervalMs);
    report();

    // Burn in slices so timers and signals still run.
    if (burn > 0) {
      const spin = (): void => {
        const until = Date.now() + 10 * Math.min(1, burn);
        while (Date.now() < until) Math.sqrt(Math.random());
        setTimeout(spin, Math.max(0, 10 * (1 - Math.min(1, burn))));
      };
      spin();
    }

    const crashAfter = values['crash-after-ms'];
    if (crashAfter !== undefined) {
      setTimeout(() => {
        process.stderr.write('monitor: crashing on purpose (--crash-after-ms)\n');
        process.exit(3);
      }, num(crashAfter, 0));
    }

    const stop = (): void => {
      clearInterval(timer);
      for (const h of helpers) h.kill('SIGTERM');
      process.stdout.write(`${JSON.stringify({ at: Date.now(), service: 'monitor', stopping: true })}\n`);
      process.exit(0);
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  }
}
