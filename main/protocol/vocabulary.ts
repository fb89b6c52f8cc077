/**
 * The values every layer names the same way: resources, reservation states
 * and VI states. Plain constants with no imports, so that the renderer may
 * import them as values (the one module of main/protocol/ it may; the lint
 * layer rules say so) and nobody spells a state list out again.
 */

/** `<cpu, memory, disk, network>`, in the order the admission index stores them. */
export const resourceNames = ['cpu', 'memMiB', 'diskGiB', 'netMbps'] as const;
export type ResourceName = (typeof resourceNames)[number];

/** DESIGN.md section 4: requested -> pending_approval -> approved -> confirming -> scheduled -> active -> an end. */
export const reservationStates = [
  'requested',
  'pending_approval',
  'approved',
  'confirming',
  'scheduled',
  'active',
  'expired',
  'cancelled',
  'terminated',
  'declined',
  'failed',
] as const;
export type ReservationState = (typeof reservationStates)[number];

/** States in which a reservation holds capacity on its node. */
export const holdingStates: readonly ReservationState[] = ['pending_approval', 'approved', 'confirming', 'scheduled', 'active'];
/** States a reservation never leaves. */
export const finalStates: readonly ReservationState[] = ['expired', 'cancelled', 'terminated', 'declined', 'failed'];

/** Why a VI's data-plane port dropped a packet (its counters per direction, `drops` by reason). */
export const viDropReasons = ['ring_full', 'policed', 'spoofing', 'too_big', 'port_error', 'quarantined'] as const;
export type ViDropReason = (typeof viDropReasons)[number];

export const viStates = ['starting', 'running', 'stopping', 'stopped', 'failed', 'terminated'] as const;
export type ViState = (typeof viStates)[number];
/** States a VI never leaves: its process is gone and its rules are removed. */
export const endedViStates: readonly ViState[] = ['stopped', 'failed', 'terminated'];
