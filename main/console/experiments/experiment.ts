/**
 * What an experiment is: one of the paper's evaluation runs (sec. 5), with
 * what it needs on this host, a run that reports progress and registers an
 * undo for everything it starts, and a result the runner turns into
 * results.json, one SVG per figure and report.md.
 */
import type { ComparisonRow } from '../../protocol/consoleApi.ts';
import type { ChartSpec } from './svgChart.ts';

export interface HostFacts {
  root: boolean;
  cores: number;
  kernel: string;
  cpuModel: string;
  /** 1-minute load average when the run started: other work on the machine shows in every number. */
  loadAverage: number;
}

export interface ExperimentContext {
  readonly quick: boolean;
  readonly host: HostFacts;
  /** A scratch folder removed after the run. */
  readonly tmpDir: string;
  /** Where the run writes its outputs (the experiment may add files of its own). */
  readonly outDir: string;
  /** Reports what runs now; `done` of `total` units of work (units the experiment chose). */
  progress(step: string, done: number, total: number): void;
  /** Undo for something just started (namespaces, processes, data planes): run in reverse order at the end, also on failure. */
  cleanup(what: string, undo: () => void | Promise<void>): void;
}

export interface Figure {
  id: string;
  chart: ChartSpec;
}

export interface ExperimentResult {
  figures: Figure[];
  /** Ours beside the paper's; the runner computes the ratios. */
  table: Omit<ComparisonRow, 'ratio'>[];
  /** A sentence (or three) on why ours and the paper's differ. */
  why: string;
  /** What was run, in the report's words (sizes, counts, repetitions, scale). */
  notes: string[];
  /** Everything measured, for results.json. */
  data: unknown;
}

export interface Experiment {
  name: string;
  title: string;
  /** What the paper reports, in a line. */
  paper: string;
  /** Null when `host` can run it, else what is missing. */
  needs(host: HostFacts): string | null;
  estimateSeconds: { quick: number; full: number };
  run(ctx: ExperimentContext): Promise<ExperimentResult>;
}
