/**
 * `pcctl scheduler --config FILE`: runs the ISP-wide resource scheduler in
 * the foreground until SIGINT or SIGTERM, then stops accepting calls and
 * commits what is queued before exiting.
 */
import { parseArgs } from 'node:util';
import { ConfigError, loadSchedulerConfig } from '../scheduler/config.ts';
import { startScheduler } from '../scheduler/daemon.ts';
import type { Command } from './command.ts';

const usage = `usage: pcctl scheduler --config FILE

Runs the scheduler daemon. FILE is JSON: listen {host, port, tls?}, database,
tokens, topology {pops, links, cloudlets}, ispShare, pricing, approval, slotMs,
horizonDays, holdTimeoutMs (see resources/scheduler.example.json).
`;

export const schedulerCommands: Record<string, Command> = {
  scheduler: {
    summary: 'run the ISP-wide resource scheduler (--config FILE)',
    async run(args) {
      const { values } = parseArgs({ args, options: { config: { type: 'string' }, help: { type: 'boolean' } }, strict: true });
      if (values.help) {
        process.stdout.write(usage);
        return 0;
      }
      if (!values.config) {
        process.stderr.write(`pcctl scheduler: --config FILE is required\n\n${usage}`);
        return 2;
      }
      let config;
      try {
        config = loadSchedulerConfig(values.config);
      } catch (e) {
        if (e instanceof ConfigError) {
          process.stderr.write(`pcctl scheduler: ${e.message}\n`);
          return 2;
        }
        throw e;
      }
      const running = await startScheduler(config);
      process.stdout.write(`scheduler listening on ${running.url} (database ${config.database})\n`);
      await new Promise<void>((resolve) => {
        const stop = (signal: string): void => {
          process.stdout.write(`scheduler: ${signal}, shutting down\n`);
          void running.close().then(resolve);
        };
        process.once('SIGINT', () => stop('SIGINT'));
        process.once('SIGTERM', () => stop('SIGTERM'));
      });
      return 0;
    },
  },
};
