/**
 * How a service inside a VI tells the controller what it did, without a
 * channel of its own: two files in the VI's directory ($PCLOUD_VI_DIR, the
 * one place the VI may write).
 *
 * - `service-counters.json`: the service's own counters (packets, hits,
 *   alerts, ratios...), one flat object of numbers, replaced atomically
 *   (written aside, then renamed) so a reader never sees half of it. The
 *   controller adds it to the VI's usage as it is, so the console shows the
 *   numbers without knowing the service.
 * - `service-events.jsonl`: events that should become alarms (an IDS alert),
 *   one JSON object per line, appended. The controller reads what was added
 *   since its last read.
 *
 * Both are written by the VI, so the controller treats them as untrusted
 * input (size-bounded, schema-checked).
 */
import { appendFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const serviceCountersFile = 'service-counters.json';
export const serviceEventsFile = 'service-events.jsonl';

export type ServiceCounters = Record<string, number>;

/** An event for the controller: `kind` names the alarm kind, the rest is kept with it. */
export interface ServiceEvent {
  kind: string;
  subject: string;
  message: string;
  severity: 'info' | 'warning' | 'critical';
  detail: Record<string, string | number | null>;
}

export class ServiceReport {
  readonly dir: string;

  /** `dir` defaults to $PCLOUD_VI_DIR (set by the controller), else the working directory. */
  constructor(dir = process.env.PCLOUD_VI_DIR ?? process.cwd()) {
    this.dir = dir;
  }

  counters(values: ServiceCounters): void {
    const file = join(this.dir, serviceCountersFile);
    writeFileSync(`${file}.tmp`, `${JSON.stringify(values)}\n`);
    renameSync(`${file}.tmp`, file);
  }

  events(batch: readonly ServiceEvent[]): void {
    if (batch.length === 0) return;
    appendFileSync(join(this.dir, serviceEventsFile), batch.map((e) => `${JSON.stringify(e)}\n`).join(''));
  }
}
