/**
 * A service's own counters (packets encrypted, ESP rejected by reason, hits,
 * compression ratio...), reported into its VI's usage so that a console shows
 * them without knowing the service. The service writes them, at most every
 * `everyMs`, as one small JSON file in its VI directory ($PCLOUD_VI_DIR, the
 * one place a VI may write); the controller reads that file with every usage
 * sample (viSupervisor.ts). Written to a temporary name and renamed, so the
 * controller never reads half a file.
 */
import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** The file's name in the VI directory; the controller reads it from there. */
export const SERVICE_COUNTERS_FILE = 'service-counters.json';
/** At most this many counters are reported (the controller ignores a file with more). */
export const MAX_SERVICE_COUNTERS = 32;

export class ServiceCounters {
  readonly values: Record<string, number> = {};
  private readonly file: string | undefined;
  private readonly everyMs: number;
  private writtenAt = 0;

  /** `dir`: where to write (default $PCLOUD_VI_DIR; without one, counters are kept but not written). */
  constructor(dir: string | undefined = process.env.PCLOUD_VI_DIR, everyMs = 500) {
    this.file = dir ? join(dir, SERVICE_COUNTERS_FILE) : undefined;
    this.everyMs = everyMs;
  }

  add(name: string, n = 1): void {
    this.values[name] = (this.values[name] ?? 0) + n;
  }

  set(name: string, value: number): void {
    this.values[name] = value;
  }

  /** Writes the counters if `everyMs` passed since the last write (or `force`). */
  flush(force = false): void {
    const now = Date.now();
    if (!this.file || (!force && now - this.writtenAt < this.everyMs)) return;
    this.writtenAt = now;
    const tmp = `${this.file}.tmp`;
    writeFileSync(tmp, JSON.stringify({ at: now, counters: this.values }));
    renameSync(tmp, this.file);
  }
}
