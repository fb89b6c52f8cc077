/**
 * Runs the paper's experiments one at a time, for pcctl and the console
 * alike. A run takes a lock file in the data folder (pid and process start
 * time, so a crashed run's lock is recognised as stale and a reused pid is
 * not taken for a live run), reports progress (step, fraction, an estimate
 * of the time left), undoes everything the experiment registered in
 * reverse order, also on failure, and writes results.json, one SVG per
 * figure and report.md under experiments/<name>/<timestamp>/.
 */
import { chmodSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { Conflict, NotFound, Unavailable } from '../../protocol/errors.ts';
import type { ComparisonRow, ExperimentProgress, ExperimentRun, ExperimentSummary } from '../../protocol/consoleApi.ts';
import { processStartTime } from '../labSupervisor.ts';
import type { Experiment, ExperimentResult, HostFacts } from './experiment.ts';
import { renderChart } from './svgChart.ts';

export function hostFacts(): HostFacts {
  return {
    root: process.getuid?.() === 0,
    cores: cpus().length,
    kernel: `${process.platform} ${release()}`,
    cpuModel: cpus()[0]?.model.trim() ?? 'unknown CPU',
    loadAverage: loadavg()[0] ?? 0,
  };
}

export function experimentsDir(dataDir: string): string {
  return join(dataDir, 'experiments');
}

const LockSchema = z.object({ pid: z.number().int(), startTime: z.string().nullable(), name: z.string(), startedAt: z.number() });
type Lock = z.infer<typeof LockSchema>;

/** An experiment runs here or in another process (pcctl beside the console): the reason it cannot start. */
export class ExperimentBusy extends Conflict {
  override name = 'ExperimentBusy';
}

const ResultsFileSchema = z.object({
  name: z.string(),
  quick: z.boolean(),
  startedAt: z.number(),
  seconds: z.number(),
  table: z.array(z.object({ quantity: z.string(), unit: z.string(), ours: z.number().nullable(), paper: z.number().nullable(), ratio: z.number().nullable() })),
  why: z.string(),
  notes: z.array(z.string()),
  figures: z.array(z.object({ id: z.string(), title: z.string(), file: z.string() })),
});

const stamp = (ms: number): string => new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z').replace(/:/g, '-');
/** A number as the report tables print it: 3 significant digits or so, '-' for none. */
export const formatNumber = (v: number | null): string => (v === null ? '-' : Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(2));

export interface RunOptions {
  quick: boolean;
  /** Instead of experiments/<name>/<timestamp>/ in the data folder. */
  outDir?: string;
}

export class ExperimentRunner {
  private readonly listeners = new Set<(p: ExperimentProgress) => void>();
  /** Undo of what the current run started, in the order started; emptied as it is run. */
  private undo: { what: string; fn: () => void | Promise<void> }[] = [];
  private currentTmp: string | undefined;
  private status: ExperimentProgress | null = null;
  private readonly byName: Map<string, Experiment>;
  private readonly dataDir: string;
  readonly experiments: readonly Experiment[];
  private readonly fixedHost: HostFacts | undefined;

  /** `host`: fixed facts (tests); by default they are read at each list and run. */
  constructor(dataDir: string, experiments: readonly Experiment[], host?: HostFacts) {
    this.dataDir = dataDir;
    this.experiments = experiments;
    this.fixedHost = host;
    this.byName = new Map(experiments.map((e) => [e.name, e]));
  }

  private get host(): HostFacts {
    return this.fixedHost ?? hostFacts();
  }

  list(): ExperimentSummary[] {
    return this.experiments.map((e) => ({ name: e.name, title: e.title, paper: e.paper, needs: e.needs(this.host), estimateSeconds: e.estimateSeconds }));
  }

  current(): ExperimentProgress | null {
    return this.status;
  }

  onProgress(listener: (p: ExperimentProgress) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(p: ExperimentProgress): void {
    this.status = p;
    for (const l of this.listeners) l(p);
  }

  private lockFile(): string {
    return join(experimentsDir(this.dataDir), 'running.json');
  }

  /** Takes the lock, or says who holds it; a lock whose process is gone (or is another one by now) is stale and taken over. */
  private lock(name: string): void {
    mkdirSync(experimentsDir(this.dataDir), { recursive: true, mode: 0o700 });
    const mine: Lock = { pid: process.pid, startTime: processStartTime(process.pid), name, startedAt: Date.now() };
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const fd = openSync(this.lockFile(), 'wx', 0o600);
        writeFileSync(fd, JSON.stringify(mine));
        closeSync(fd);
        return;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      let held: Lock | null;
      try {
        held = LockSchema.parse(JSON.parse(readFileSync(this.lockFile(), 'utf8')));
      } catch {
        held = null; // half written by a crash: stale
      }
      const alive = held !== null && processStartTime(held.pid) !== null && (held.startTime === null || processStartTime(held.pid) === held.startTime);
      if (held && alive) {
        throw new ExperimentBusy(`experiment "${held.name}" is running (pid ${held.pid}, since ${new Date(held.startedAt).toISOString()}): one experiment at a time, they measure the same machine`);
      }
      rmSync(this.lockFile(), { force: true });
    }
    throw new ExperimentBusy(`could not take ${this.lockFile()}: another run took it first`);
  }

  /** Removes the lock if it is still this process's (after an abandoned run, another may hold it by now). */
  private releaseLock(): void {
    try {
      if (LockSchema.parse(JSON.parse(readFileSync(this.lockFile(), 'utf8'))).pid === process.pid) rmSync(this.lockFile(), { force: true });
    } catch {
      // gone already, or unreadable: not ours to remove
    }
  }

  /**
   * Checks that `name` can start here (known, runnable, nothing else running) and starts it.
   * Resolves with the first progress at once; `finished` settles when the run ends.
   */
  start(name: string, options: RunOptions): { progress: ExperimentProgress; finished: Promise<ExperimentRun> } {
    const experiment = this.byName.get(name);
    if (!experiment) throw new NotFound(`no experiment "${name}" (known: ${this.experiments.map((e) => e.name).join(', ')})`);
    const needs = experiment.needs(this.host);
    if (needs) throw new Unavailable(`experiment "${name}" cannot run on this host: it needs ${needs}. Runnable here: ${this.list().filter((e) => !e.needs).map((e) => e.name).join(', ') || 'none'}`);
    if (this.status?.state === 'running') throw new ExperimentBusy(`experiment "${this.status.name}" is running: one experiment at a time`);
    this.lock(name);
    const startedAt = Date.now();
    const outDir = options.outDir ?? join(experimentsDir(this.dataDir), name, stamp(startedAt));
    const estimate = options.quick ? experiment.estimateSeconds.quick : experiment.estimateSeconds.full;
    const base = { name, quick: options.quick, startedAt, outDir, error: null };
    this.emit({ ...base, state: 'running', step: 'starting', fraction: 0, secondsLeft: estimate });
    const finished = this.execute(experiment, options.quick, outDir, startedAt, estimate);
    return { progress: this.status as ExperimentProgress, finished };
  }

  /** Runs `name` to its end (pcctl): the finished run, or the experiment's error. */
  run(name: string, options: RunOptions): Promise<ExperimentRun> {
    return this.start(name, options).finished;
  }

  private async execute(experiment: Experiment, quick: boolean, outDir: string, startedAt: number, estimate: number): Promise<ExperimentRun> {
    const base = { name: experiment.name, quick, startedAt, outDir };
    this.undo = [];
    const tmp = mkdtempSync(join(tmpdir(), `pcloud-exp-${experiment.name}-`));
    // Traversable, not listable: a lab in here runs VIs as users of their own, who reach their folders below.
    chmodSync(tmp, 0o711);
    this.currentTmp = tmp;
    let fraction = 0;
    let step = 'starting';
    const host = this.host;
    try {
      mkdirSync(outDir, { recursive: true, mode: 0o755 });
      const result = await experiment.run({
        quick,
        host,
        tmpDir: tmp,
        outDir,
        progress: (s, done, total) => {
          step = s;
          fraction = Math.min(1, Math.max(0, total > 0 ? done / total : 0));
          const elapsed = (Date.now() - startedAt) / 1000;
          // The pace so far once a tenth is done; before that the experiment's own estimate.
          const secondsLeft = fraction >= 0.1 ? (elapsed * (1 - fraction)) / fraction : Math.max(0, estimate - elapsed);
          this.emit({ ...base, state: 'running', step, fraction, secondsLeft, error: null });
        },
        cleanup: (what, fn) => void this.undo.push({ what, fn }),
      });
      const run = this.write(experiment, quick, outDir, startedAt, host, result);
      this.emit({ ...base, state: 'done', step: 'done', fraction: 1, secondsLeft: 0, error: null });
      return run;
    } catch (e) {
      this.emit({ ...base, state: 'failed', step, fraction, secondsLeft: 0, error: (e as Error).message });
      throw e;
    } finally {
      await this.cleanUp(experiment.name);
    }
  }

  /** Runs the undo list in reverse order (each step once, whatever fails), removes the scratch folder and the lock. */
  private async cleanUp(name: string): Promise<void> {
    const problems: string[] = [];
    for (let u = this.undo.pop(); u; u = this.undo.pop()) {
      try {
        await u.fn();
      } catch (e) {
        problems.push(`${u.what}: ${(e as Error).message}`);
      }
    }
    if (this.currentTmp) rmSync(this.currentTmp, { recursive: true, force: true });
    this.currentTmp = undefined;
    this.releaseLock();
    if (problems.length) process.stderr.write(`experiment ${name}: cleanup problems: ${problems.join('; ')}\n`);
  }

  /**
   * Undoes what the running experiment started, at once (pcctl interrupted, the console closing):
   * its namespaces, processes and data planes go, and the lock with them. The run itself then fails.
   */
  async abandon(): Promise<void> {
    if (this.status?.state !== 'running') return;
    await this.cleanUp(this.status.name);
  }

  private write(experiment: Experiment, quick: boolean, outDir: string, startedAt: number, host: HostFacts, result: ExperimentResult): ExperimentRun {
    const seconds = (Date.now() - startedAt) / 1000;
    const table: ComparisonRow[] = result.table.map((r) => ({ ...r, ratio: r.ours !== null && r.paper !== null && r.paper !== 0 ? r.ours / r.paper : null }));
    const figures = result.figures.map((f) => ({ id: f.id, title: f.chart.title, file: `${f.id}.svg`, svg: renderChart(f.chart) }));
    for (const f of figures) writeFileSync(join(outDir, f.file), f.svg);
    writeFileSync(join(outDir, 'results.json'), `${JSON.stringify({
      name: experiment.name, title: experiment.title, quick, startedAt, seconds, host, table, why: result.why, notes: result.notes,
      figures: figures.map(({ id, title, file }) => ({ id, title, file })), series: result.figures.map((f) => ({ id: f.id, series: f.chart.series })), data: result.data,
    }, null, 2)}\n`);
    const lines = [
      `# ${experiment.title} (${experiment.name}${quick ? ', quick' : ''})`,
      '',
      `Run ${new Date(startedAt).toISOString()}, ${seconds.toFixed(0)} s, on ${host.cores} cores (${host.cpuModel}), ${host.kernel}${host.root ? ', as root' : ''}; load average ${host.loadAverage.toFixed(1)} at the start.`,
      '',
      `Paper: ${experiment.paper}`,
      '',
      ...result.notes.map((n) => `- ${n}`),
      '',
      '| quantity | unit | ours | paper | ours / paper |',
      '| --- | --- | ---: | ---: | ---: |',
      ...table.map((r) => `| ${r.quantity} | ${r.unit} | ${formatNumber(r.ours)} | ${formatNumber(r.paper)} | ${r.ratio === null ? '-' : r.ratio.toFixed(2)} |`),
      '',
      `Why they differ: ${result.why}`,
      '',
      ...figures.map((f) => `![${f.title}](${f.file})`),
      '',
    ];
    writeFileSync(join(outDir, 'report.md'), lines.join('\n'));
    return { name: experiment.name, quick, dir: outDir, startedAt, seconds, table, why: result.why, notes: result.notes, figures: figures.map(({ id, title, svg }) => ({ id, title, svg })) };
  }

  /** The newest finished run of `name` in the data folder (a run with --out elsewhere is not found here). */
  lastRun(name: string): ExperimentRun | null {
    const dir = join(experimentsDir(this.dataDir), name);
    if (!existsSync(dir)) return null;
    for (const entry of readdirSync(dir).sort().reverse()) {
      const file = join(dir, entry, 'results.json');
      if (!existsSync(file)) continue;
      const r = ResultsFileSchema.parse(JSON.parse(readFileSync(file, 'utf8')));
      const figures = r.figures.map((f) => ({ id: f.id, title: f.title, svg: readFileSync(join(dir, entry, f.file), 'utf8') }));
      return { name: r.name, quick: r.quick, dir: join(dir, entry), startedAt: r.startedAt, seconds: r.seconds, table: r.table, why: r.why, notes: r.notes, figures };
    }
    return null;
  }
}
