/**
 * How the console reads on screen: one time format everywhere
 * ("2026-12-01 13:51", the operator's local zone, named once in the header),
 * capacities with their units, money with the scheduler's currency, states as
 * words with a tone (colour plus shape, via StatusBadge).
 */
import type { Reservation, ReservationState, Resources } from '../../../main/protocol/domain.ts';

export const resourceLabels: Record<keyof Resources, { name: string; unit: string; one?: string }> = {
  cpu: { name: 'CPU', unit: 'cores', one: 'core' },
  memMiB: { name: 'Memory', unit: 'MiB' },
  diskGiB: { name: 'Disk', unit: 'GiB' },
  netMbps: { name: 'Network', unit: 'Mb/s' },
};

export const resourceKeys = Object.keys(resourceLabels) as (keyof Resources)[];

export function formatTime(ms: number): string {
  const d = new Date(ms);
  const pad = (n: number): string => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** The local zone the times are in, said once (in the header): "times in Europe/Berlin (UTC+01:00)". */
export function timeZoneLabel(at = Date.now()): string {
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || 'local time';
  const offset = -new Date(at).getTimezoneOffset();
  const sign = offset < 0 ? '-' : '+';
  const abs = Math.abs(offset);
  return `times in ${zone} (UTC${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')})`;
}

export function formatClock(ms: number): string {
  const d = new Date(ms);
  return `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
}

export function formatDuration(ms: number): string {
  const minutes = Math.round(ms / 60_000);
  if (minutes < 60) return `${minutes} min`;
  const hours = minutes / 60;
  return hours < 48 ? `${Number.isInteger(hours) ? hours : hours.toFixed(1)} h` : `${(hours / 24).toFixed(1)} d`;
}

export function formatAmount(value: number, unit: string): string {
  return `${roundAmount(value).toLocaleString('en-US')} ${unit}`;
}

/** An amount of one resource with its unit, singular where it reads so ("1 core", "16384 MiB"). */
export function formatQuantity(value: number, resource: keyof Resources): string {
  const label = resourceLabels[resource];
  const rounded = roundAmount(value);
  return `${rounded} ${rounded === 1 && label.one ? label.one : label.unit}`;
}

/** Whole numbers from 100 up, two decimals below: how amounts are shown. */
export function roundAmount(value: number): number {
  return Math.abs(value) >= 100 ? Math.round(value) : Math.round(value * 100) / 100;
}

export function formatResources(r: Resources): string {
  return resourceKeys.map((k) => formatQuantity(r[k], k)).join(' · ');
}

export function formatMoney(value: number, currency = 'EUR'): string {
  return `${value.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 })} ${currency}`;
}

type Tone = 'ok' | 'warn' | 'bad' | 'idle';

export const stateTone: Record<ReservationState, Tone> = {
  requested: 'warn',
  pending_approval: 'warn',
  approved: 'warn',
  confirming: 'warn',
  scheduled: 'ok',
  active: 'ok',
  expired: 'idle',
  cancelled: 'idle',
  terminated: 'bad',
  declined: 'bad',
  failed: 'bad',
};

export function stateLabel(state: ReservationState): string {
  return state.replace('_', ' ');
}

/**
 * Why cancelling now refunds nothing, in the scheduler's terms (pricing.ts):
 * only a scheduled, paid reservation is refunded, and only before it starts.
 */
export function noRefundReason(r: Pick<Reservation, 'state' | 'paid' | 't0'>, now: number): string {
  if (r.state === 'active' || now >= r.t0) return `it started at ${formatTime(r.t0)}, and a started reservation is not refunded`;
  if (r.state !== 'scheduled' || r.paid <= 0) return `nothing has been charged for it yet (it is ${stateLabel(r.state)})`;
  return 'the refund for the time left before its start rounds to nothing';
}

const resourceJson = /\{"cpu":[^{}]*\}/g;
const isoTime = /\b\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z\b/g;

/**
 * A scheduler reason as a person reads it: a resize's capacity is written as
 * JSON, times in ISO 8601 UTC, and the slot's ends as t0 and t1; show
 * "2 cores · 1024 MiB · …", the console's one time format, and "start time"
 * and "end time".
 */
export function readableReason(reason: string): string {
  return reason
    .replace(resourceJson, (json) => {
      try {
        return formatResources(JSON.parse(json) as Resources);
      } catch {
        return json;
      }
    })
    .replace(isoTime, (iso) => formatTime(Date.parse(iso)))
    .replace(/\bt0\b/g, 'start time')
    .replace(/\bt1\b/g, 'end time');
}
