/**
 * Refusals: what a declined reservation request leaves behind.
 *
 * A declined request holds nothing. Keeping each one as a reservation (its
 * row, two transitions and two audit entries: about 1.5 KB) made a flood of
 * booked-out requests cost storage and commit time for nothing. Instead they
 * are counted per provider, request shape and reason kind in the refusals
 * table: a repeated refusal updates one row (count, first and last seen, the
 * latest reason). The client still gets a reservation-shaped reply in state
 * `declined` carrying the full reason; its id names the refusal record that
 * `refusal.list` shows, not a reservation (it was never stored as one).
 *
 * The shape is coarse on purpose (requestor PoP, preferred cloudlet, and the
 * duration and each resource's peak rounded up to a power of two), so a client
 * that varies its request a little still lands on the same few rows.
 */
import { createHash } from 'node:crypto';
import type { Reservation, ReservationRequest } from '../protocol/domain.ts';
import type { Refusal } from '../protocol/schedulerApi.ts';
import type { Decision } from './admission.ts';
import type { RefusalRow, Store } from './store.ts';

/** The smallest power of two at or above x (0 stays 0): the bucket a peak or a duration falls in. */
function bucket(x: number): number {
  return x <= 0 ? 0 : 2 ** Math.ceil(Math.log2(x));
}

/** The coarse shape of a request that repeated refusals are counted under. */
export function refusalShape(req: ReservationRequest): string {
  const peak = { cpu: 0, memMiB: 0, diskGiB: 0, netMbps: 0 };
  for (const s of req.profile) {
    peak.cpu = Math.max(peak.cpu, s.capacity.cpu);
    peak.memMiB = Math.max(peak.memMiB, s.capacity.memMiB);
    peak.diskGiB = Math.max(peak.diskGiB, s.capacity.diskGiB);
    peak.netMbps = Math.max(peak.netMbps, s.capacity.netMbps);
  }
  const minutes = bucket(Math.ceil((req.t1 - req.t0) / 60_000));
  return (
    `from ${req.requestorPopId}, ${req.preferredCloudletId ? `prefers ${req.preferredCloudletId}` : 'any cloudlet'}, up to ${minutes} min, ` +
    `cpu <= ${bucket(peak.cpu)}, mem <= ${bucket(peak.memMiB)} MiB, disk <= ${bucket(peak.diskGiB)} GiB, net <= ${bucket(peak.netMbps)} Mbps`
  );
}

/** Why, in a word and a resource: larger-than-any-node:cpu, booked-out:memMiB, no-candidate. */
export function refusalKind(decision: Decision): string {
  if (!decision.refusal || decision.refusal === 'no-candidate' || !decision.shortfall) return 'no-candidate';
  return `${decision.refusal}:${decision.shortfall.resource}`;
}

export function refusalId(providerId: string, shape: string, kind: string): string {
  return `refusal-${createHash('sha256').update(JSON.stringify([providerId, shape, kind])).digest('hex').slice(0, 16)}`;
}

/**
 * Counts a declined request and answers it. `r` is the reservation the
 * request would have become; the reply keeps its shape so clients read a
 * decline the same way as before.
 */
export async function recordRefusal(store: Store, r: Reservation, req: ReservationRequest, decision: Decision): Promise<Reservation> {
  const shape = refusalShape(req);
  const kind = refusalKind(decision);
  const id = refusalId(r.providerId, shape, kind);
  await store.commit(store.begin().refusal({ id, provider_id: r.providerId, shape, kind, last_at: r.createdAt, last_reason: decision.reason }));
  return { ...r, id, state: 'declined', cloudletId: null, nodeId: null, paid: 0, reason: decision.reason };
}

export function refusalFromRow(row: RefusalRow): Refusal {
  return { id: row.id, providerId: row.provider_id, shape: row.shape, kind: row.kind, count: row.count, firstAt: row.first_at, lastAt: row.last_at, lastReason: row.last_reason };
}
