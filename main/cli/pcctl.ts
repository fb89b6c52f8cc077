/**
 * pcctl: the command line for operators and service providers. Each command
 * is one entry in `commands`; each group of commands lives in its own file
 * (schedulerCommands.ts, reservationCommands.ts) and is registered here.
 */
import { parseArgs } from 'node:util';
import pkg from '../../package.json' with { type: 'json' };
import { UsageError, type Command } from './command.ts';
import { controllerCommands } from './controllerCommands.ts';
import { experimentCommands } from './experimentCommands.ts';
import { labCommands } from './labCommands.ts';
import { reservationCommands } from './reservationCommands.ts';
import { schedulerCommands } from './schedulerCommands.ts';

const commands: Record<string, Command> = {
  version: {
    summary: 'print the version',
    run: async () => {
      process.stdout.write(`pcctl ${pkg.version}\n`);
      return 0;
    },
  },
  ...schedulerCommands,
  ...reservationCommands,
  ...labCommands,
  ...controllerCommands,
  ...experimentCommands,
};

function usage(): string {
  const width = Math.max(...Object.keys(commands).map((c) => c.length));
  const lines = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`);
  return `usage: pcctl <command> [options]\n\ncommands:\n${lines.join('\n')}\n\npcctl <command> --help shows a command's options.\n`;
}

export async function runPcctl(argv: string[]): Promise<number> {
  const { positionals } = parseArgs({ args: argv, strict: false, allowPositionals: true });
  const name = positionals[0];
  if (name === 'help' || (!name && (argv.includes('--help') || argv.includes('-h')))) {
    process.stdout.write(usage());
    return 0;
  }
  if (!name) {
    process.stderr.write(usage());
    return 2;
  }
  const command = Object.hasOwn(commands, name) ? commands[name] : undefined;
  if (!command) {
    process.stderr.write(`pcctl: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  return command.run(argv.slice(argv.indexOf(name) + 1));
}

runPcctl(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    // A usage error already names its command ("pcctl cloudlet: --url is required").
    const usageError = e instanceof UsageError;
    process.stderr.write(usageError ? `${e.message}\n` : `pcctl: ${(e as Error).message}\n`);
    process.exitCode = usageError ? 2 : 1;
  },
);
