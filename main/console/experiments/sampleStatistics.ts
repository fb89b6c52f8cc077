/**
 * Summaries of repeated measurements, one definition for the experiments and
 * the benchmark scripts, so a "median" or a "p99" means the same in every
 * report and JSON row.
 */

/** The arithmetic mean; 0 for no values (a report's row then says 0, not NaN). */
export function mean(values: readonly number[]): number {
  return values.reduce((s, v) => s + v, 0) / Math.max(1, values.length);
}

/**
 * The middle value, the mean of the middle two for an even count; NaN for
 * none. One run disturbed by the shared machine does not move it.
 */
export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((x, y) => x - y);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** The nearest-rank percentile (p in 0..1) of values sorted ascending; NaN for none. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))] as number;
}
