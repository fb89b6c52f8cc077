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
/** States in which a reservation may be cancelled or resized: it holds capacity and no controller is preparing it. */
export const cancellableStates: readonly ReservationState[] = holdingStates.filter((s) => s !== 'confirming');
/** States in which a reservation is its cloudlet controller's business: being prepared, prepared, or running. */
export const assignedStates: readonly ReservationState[] = ['confirming', 'scheduled', 'active'];

/**
 * What a controller raises alarms about: its VIs (crashed, over a limit, lost, spoofing, an IDS
 * alert of an ids service), its nodes, its link to the scheduler and its front-end router.
 */
export const alarmKinds = ['vi_crashed', 'vi_over_limit', 'node_down', 'scheduler_unreachable', 'vi_lost', 'spoofing', 'ids', 'router'] as const;
export type AlarmKind = (typeof alarmKinds)[number];
/** The kinds a service inside a VI may raise through its events file (never one about nodes or the controller). */
export const serviceAlarmKinds: readonly AlarmKind[] = ['ids'];

/** Why a VI's data-plane port dropped a packet (its counters per direction, `drops` by reason). */
export const viDropReasons = ['ring_full', 'policed', 'spoofing', 'too_big', 'port_error', 'quarantined'] as const;
export type ViDropReason = (typeof viDropReasons)[number];

export const viStates = ['starting', 'running', 'stopping', 'stopped', 'failed', 'terminated'] as const;
export type ViState = (typeof viStates)[number];
/** States a VI never leaves: its process is gone and its rules are removed. */
export const endedViStates: readonly ViState[] = ['stopped', 'failed', 'terminated'];
/** VIs the topology draws: every one still there, and a failed one until it is cleared, so its failure is seen. */
export const shownViStates: readonly ViState[] = viStates.filter((s) => s === 'failed' || !endedViStates.includes(s));

/** What the data plane did with a sampled packet (a sample's verdict). */
export const sampleVerdicts = ['to_vi', 'legacy', 'drop', 'forward', 'spoofing', 'policed'] as const;
export type SampleVerdict = (typeof sampleVerdicts)[number];

/**
 * The name an operator gives the console (a person, where a NOC shift may share one token),
 * sent with acknowledgements: trimmed, one line without control characters, at most this long.
 * The controller's schema checks it; the console says why before sending.
 */
export const operatorNameMaxLength = 64;
export function operatorNameProblem(name: string): string {
  const trimmed = name.trim();
  if (!trimmed) return 'give a name';
  if (trimmed.length > operatorNameMaxLength) return `at most ${operatorNameMaxLength} characters`;
  if (/\p{Cc}/u.test(trimmed)) return 'one line, no control characters';
  return '';
}
