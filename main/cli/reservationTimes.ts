/**
 * How people write times and capacity profiles to pcctl. A time is `now`,
 * `+N` with s, m, h or d (from now), ISO 8601 (2030-01-01T10:00Z), or epoch
 * milliseconds; relative times are rounded up to the scheduler's slot, because
 * reservations start and end on slot boundaries. A profile file is a JSON
 * array of sub-slots whose `from` and `to` take the same forms, so the paper's
 * Table 2 can be written once and reused at any date.
 */
import { readFileSync } from 'node:fs';
import type { Profile, Resources } from '../protocol/domain.ts';
import { UsageError } from './command.ts';

export const timeForms = 'now, +N[s|m|h|d] from now, ISO 8601 (2030-01-01T10:00Z) or epoch milliseconds';

/** How pcctl prints an instant, everywhere: `2030-01-01 10:00Z` (seconds only when not zero). */
export function formatTime(ms: number): string {
  return new Date(ms).toISOString().replace('T', ' ').replace(/:00\.000Z$/, 'Z').replace(/\.000Z$/, 'Z');
}

/** The instant `raw` names; `what` says where it came from in errors ("--from", "profile[1].to"). */
export function parseTime(raw: string | number, what: string, now: number, slotMs: number): number {
  const up = (ms: number): number => Math.ceil(ms / slotMs) * slotMs;
  if (typeof raw === 'number') {
    if (!Number.isSafeInteger(raw) || raw < 0) throw new UsageError(`${what} ${raw}: expected ${timeForms}`);
    return raw;
  }
  const text = raw.trim();
  if (text === 'now') return up(now);
  const rel = /^\+(\d+(?:\.\d+)?)([smhd])$/.exec(text);
  if (rel) {
    const unit = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[rel[2] as 's' | 'm' | 'h' | 'd'];
    return up(now + Number(rel[1]) * unit);
  }
  if (/^\d{10,}$/.test(text)) return Number(text);
  // ISO 8601 only: Date.parse also takes loose forms ("1 2 3") that would surprise.
  const ms = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/.test(text) ? Date.parse(text) : Number.NaN;
  if (Number.isNaN(ms)) throw new UsageError(`${what} ${JSON.stringify(raw)}: expected ${timeForms}`);
  return ms;
}

/**
 * The capacity profile of the paper's sample request (Table 2), whose capacity
 * varies over the slot: 1 core, 256 MB, 300 GB, 1 Gb/s from t0 to tM, then
 * 2 cores, 1 GB, 900 GB, 5 Gb/s from tM to t1. Here t0 is 10 minutes from
 * now, tM 40 minutes and t1 100 minutes.
 */
export const table2Profile = [
  { from: '+10m', to: '+40m', capacity: { cpu: 1, memMiB: 256, diskGiB: 300, netMbps: 1000 } },
  { from: '+40m', to: '+100m', capacity: { cpu: 2, memMiB: 1024, diskGiB: 900, netMbps: 5000 } },
] as const satisfies readonly { from: string; to: string; capacity: Resources }[];

export const profileFileHelp = `--profile FILE: a JSON array of contiguous sub-slots covering [--from, --to]; each has
  "from" and "to" (${timeForms}) and "capacity" {cpu (cores), memMiB, diskGiB, netMbps}.
  The paper's Table 2 (capacity that grows at tM):
    [
${table2Profile.map((s) => `      ${JSON.stringify(s)}`).join(',\n')}
    ]
  With --profile, --from and --to default to the first sub-slot's start and the last one's end.`;

/** Reads a profile file, resolving its times; errors name the sub-slot and field. */
export function readProfile(file: string, now: number, slotMs: number): Profile {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new UsageError(`cannot read profile ${file}: ${(e as Error).message}`);
  }
  return resolveProfile(raw, file, now, slotMs);
}

export function resolveProfile(raw: unknown, where: string, now: number, slotMs: number): Profile {
  if (!Array.isArray(raw) || raw.length === 0) throw new UsageError(`${where}: a profile is a non-empty JSON array of sub-slots {from, to, capacity}`);
  return raw.map((s: unknown, i) => {
    const at = `${where}: profile[${i}]`;
    if (typeof s !== 'object' || s === null) throw new UsageError(`${at}: expected {from, to, capacity}`);
    const { from, to, capacity } = s as { from?: unknown; to?: unknown; capacity?: unknown };
    const time = (v: unknown, field: string): number => {
      if (typeof v !== 'string' && typeof v !== 'number') throw new UsageError(`${at}.${field} is missing: expected ${timeForms}`);
      return parseTime(v, `${at}.${field}`, now, slotMs);
    };
    if (typeof capacity !== 'object' || capacity === null) throw new UsageError(`${at}.capacity is missing: expected {cpu, memMiB, diskGiB, netMbps}`);
    return { from: time(from, 'from'), to: time(to, 'to'), capacity: capacity as Resources };
  });
}
