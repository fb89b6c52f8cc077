/**
 * `pcctl experiment list | run <name> [--quick] [--out DIR] [--json]`: the
 * paper's experiments (main/console/experiments/). A run reports its steps
 * and the time left on stderr, writes results.json, the SVGs and report.md,
 * and prints the report's table.
 */
import { parseArgs } from 'node:util';
import { defaultDataDir } from '../console/dataDir.ts';
import { experiments } from '../console/experiments/catalog.ts';
import { ExperimentRunner, formatNumber as fmt } from '../console/experiments/runner.ts';
import { UsageError, type Command } from './command.ts';

const usage = `usage: pcctl experiment list [--json]
       pcctl experiment run <name> [--quick] [--out DIR] [--json]

The paper's experiments on this machine. Results go to
$PCLOUD_DATA_DIR/experiments/<name>/<timestamp>/ (default: the console's data
folder) or to --out DIR: results.json, one SVG per figure, report.md.
--quick runs a smaller version (at most 2 minutes).
`;

export const experimentCommands: Record<string, Command> = {
  experiment: {
    summary: "list or run the paper's experiments (list | run <name> [--quick])",
    async run(args) {
      const { values, positionals } = parseArgs({
        args,
        options: { quick: { type: 'boolean', default: false }, out: { type: 'string' }, json: { type: 'boolean', default: false }, help: { type: 'boolean', default: false } },
        allowPositionals: true,
        strict: true,
      });
      const [action, name] = positionals;
      if (values.help || !action) {
        process.stdout.write(usage);
        return action || values.help ? 0 : 2;
      }
      const runner = new ExperimentRunner(defaultDataDir(), experiments);
      if (action === 'list') {
        const list = runner.list();
        if (values.json) {
          process.stdout.write(`${JSON.stringify(list, null, 2)}\n`);
          return 0;
        }
        const width = Math.max(...list.map((e) => e.name.length));
        for (const e of list) {
          process.stdout.write(`${e.name.padEnd(width)}  ${e.needs ? `needs: ${e.needs}` : `runnable (quick ~${e.estimateSeconds.quick} s, full ~${e.estimateSeconds.full} s)`}\n${' '.repeat(width + 2)}${e.title}\n`);
        }
        const runnable = list.filter((e) => !e.needs).map((e) => e.name);
        process.stdout.write(`\nrunnable here: ${runnable.join(', ') || 'none'}\n`);
        return 0;
      }
      if (action !== 'run') throw new UsageError(`pcctl experiment: unknown action "${action}": use list or run`);
      if (!name) throw new UsageError('pcctl experiment run: name an experiment (pcctl experiment list shows them)');
      let lastLine = '';
      runner.onProgress((p) => {
        if (p.state !== 'running') return;
        const line = `[${Math.round(p.fraction * 100)}%] ${p.step}, about ${Math.ceil(p.secondsLeft)} s left`;
        if (line !== lastLine) process.stderr.write(`${line}\n`);
        lastLine = line;
      });
      // Interrupted: undo what the run started (namespaces, VIs, data planes) before leaving.
      for (const signal of ['SIGINT', 'SIGTERM'] as const) {
        process.once(signal, () => {
          process.stderr.write(`pcctl experiment: ${signal}, undoing what ${name} started\n`);
          void runner.abandon().finally(() => process.exit(130));
        });
      }
      const run = await runner.run(name, { quick: values.quick, ...(values.out ? { outDir: values.out } : {}) });
      if (values.json) {
        process.stdout.write(`${JSON.stringify({ ...run, figures: run.figures.map((f) => ({ id: f.id, title: f.title })) }, null, 2)}\n`);
        return 0;
      }
      process.stdout.write(`${name}${run.quick ? ' (quick)' : ''}: ${run.seconds.toFixed(0)} s, written to ${run.dir}\n\n`);
      process.stdout.write(`${'quantity'.padEnd(44)} ${'unit'.padEnd(6)} ${'ours'.padStart(9)} ${'paper'.padStart(9)} ${'ratio'.padStart(7)}\n`);
      for (const r of run.table) {
        process.stdout.write(`${r.quantity.padEnd(44)} ${r.unit.padEnd(6)} ${fmt(r.ours).padStart(9)} ${fmt(r.paper).padStart(9)} ${(r.ratio === null ? '-' : r.ratio.toFixed(2)).padStart(7)}\n`);
      }
      process.stdout.write(`\n${run.why}\n`);
      return 0;
    },
  },
};
