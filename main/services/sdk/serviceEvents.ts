/**
 * Events a service inside a VI raises for the controller to turn into alarms
 * (an IDS alert), beside its counters (serviceCounters.ts): one JSON object
 * per line, appended to `service-events.jsonl` in the VI's directory
 * ($PCLOUD_VI_DIR, the one place the VI may write). The controller reads what
 * was added since its last read; it was written by the VI, so the controller
 * treats it as untrusted input (size-bounded, schema-checked).
 */
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { serviceAlarmKinds } from '../../protocol/vocabulary.ts';

export const SERVICE_EVENTS_FILE = 'service-events.jsonl';

/**
 * An event for the controller: `kind` is the alarm kind it raises, `detail` is kept with the alarm.
 * A service that saw the same thing many times in one interval (an IDS dropping a flood) raises it
 * once with `detail.count` (and `detail.first`/`detail.last`), not once per occurrence.
 */
export interface ServiceEvent {
  kind: string;
  subject: string;
  message: string;
  severity: 'info' | 'warning' | 'critical';
  detail: Record<string, string | number | null>;
}

/** What the controller accepts from a VI's events file; anything else is skipped. */
export const ServiceEventSchema = z.strictObject({
  kind: z.string().refine((k) => serviceAlarmKinds.some((s) => s === k), `one of ${serviceAlarmKinds.join(', ')}`),
  subject: z.string().max(200),
  message: z.string().max(500),
  severity: z.enum(['info', 'warning', 'critical']),
  detail: z.record(z.string().max(32), z.union([z.string().max(200), z.number(), z.null()])).refine((d) => Object.keys(d).length <= 16, 'at most 16 details'),
});

/** The most occurrences one event may stand for (a VI's claim is bounded like the rest of its input). */
export const MAX_EVENT_COUNT = 1_000_000;

/** How many occurrences an event stands for: its `detail.count` when a whole number in 1..MAX_EVENT_COUNT, else 1. */
export function occurrencesOf(e: ServiceEvent): number {
  const c = e.detail.count;
  return typeof c === 'number' && Number.isInteger(c) && c >= 1 && c <= MAX_EVENT_COUNT ? c : 1;
}

/** One line of the events file, or null when it is not a valid event. */
export function parseServiceEvent(line: string): ServiceEvent | null {
  try {
    const parsed = ServiceEventSchema.safeParse(JSON.parse(line));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

/** Appends events (without a directory, e.g. run by hand, they are dropped). */
export function raiseServiceEvents(batch: readonly ServiceEvent[], dir: string | undefined = process.env.PCLOUD_VI_DIR): void {
  if (batch.length === 0 || !dir) return;
  appendFileSync(join(dir, SERVICE_EVENTS_FILE), batch.map((e) => `${JSON.stringify(e)}\n`).join(''));
}
