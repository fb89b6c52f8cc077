/**
 * The scheduler's wire contract: what providers, operators, viewers and
 * cloudlet controllers may ask of the ISP-wide resource scheduler.
 *
 * How the scheduler reaches a controller: every controller connects to the
 * scheduler as a client with the `controller` role (bound to its cloudlet),
 * calls `controller.hello`, subscribes to `controller.commands`, and answers
 * each command it receives (prepare, commit, abort, start, stop, resize) with
 * `controller.answer` carrying the command's id. The scheduler waits for the
 * answer up to the hold timeout; no answer counts as a refusal. Reports flow
 * the other way with `controller.report`. After either side restarts, the
 * controller reconciles with `controller.assignments`.
 *
 * Additive changes only: the cloudlet controller and the console build on it.
 */
import { z } from 'zod';
import { defineContract, method, topic } from './contract.ts';
import {
  AuditEntrySchema,
  BundleChunkFields,
  CloudletStatusSchema,
  ControllerAnswerSchema,
  ControllerCommandSchema,
  ControllerReportSchema,
  LedgerEntrySchema,
  MoneySchema,
  ReservationRequestSchema,
  ReservationSchema,
  ReservationStateSchema,
  ResourcesSchema,
  reservationStates,
  TimeMsSchema,
  TopologySchema,
} from './domain.ts';
import { listCost, rowsCost } from './limits.ts';
import { IdSchema, type Role } from './roles.ts';

const ReservationIdSchema = z.string().min(1).max(64);
const ReasonSchema = z.string().min(1, 'say why').max(1024);
const limit = z.number().int().min(1).max(10_000).default(500);
/** A state filter names each state at most once: longer lists are refused as params, never reach SQL. */
const states = z.array(ReservationStateSchema).max(reservationStates.length, `at most ${reservationStates.length} states (each once)`);

/**
 * Request-budget weights (limits.ts) of the costly calls, in plain requests:
 * lists by their limit and then their rows (`listCost`, `rowsCost`), a full audit verification walks the whole
 * chain, an explanation or a headroom query walks every candidate node, and
 * a reservation request is committed to disk even when it is declined.
 */
export const fullAuditVerifyCost = 500;
/** A reservation request writes durable state (with an fsync) whatever the answer: 20 a second per provider by default, 100 at once. */
export const requestCost = 10;

/** One resource that did not fit, where and when: what a decline names. */
export const ShortfallSchema = z.object({
  resource: z.enum(['cpu', 'memMiB', 'diskGiB', 'netMbps']),
  from: TimeMsSchema,
  to: TimeMsSchema,
  needed: z.number(),
  free: z.number(),
});
export type Shortfall = z.infer<typeof ShortfallSchema>;

export const NodeVerdictSchema = z.object({
  nodeId: IdSchema,
  fits: z.boolean(),
  /** For a fit: the smallest leftover share over the slot (best fit = smallest). */
  leftover: z.number().nullable(),
  shortfall: ShortfallSchema.nullable(),
  reason: z.string(),
});

export const CloudletVerdictSchema = z.object({
  cloudletId: IdSchema,
  popId: IdSchema,
  /** Shortest RTT path from the requestor's PoP (null: unreachable). */
  distanceMs: z.number().nullable(),
  preferred: z.boolean(),
  /** Why the whole cloudlet was skipped, or null when its nodes were checked. */
  skipped: z.string().nullable(),
  nodesChecked: z.number().int(),
  nodesFitting: z.number().int(),
  /** Up to 32 node verdicts, fitting ones first. */
  nodes: z.array(NodeVerdictSchema),
});

export const HeadroomPointSchema = z.object({ from: TimeMsSchema, to: TimeMsSchema, free: ResourcesSchema });

export const ExplanationSchema = z.object({
  decision: z.enum(['admitted', 'declined']),
  chosen: z.object({ cloudletId: IdSchema, nodeId: IdSchema }).nullable(),
  /** One sentence: why this node, or which resource and interval failed. */
  reason: z.string(),
  shortfall: ShortfallSchema.nullable(),
  candidates: z.array(CloudletVerdictSchema),
  /** Free capacity (after the ISP share) of the chosen node, or the best declined one, over [t0, t1]. */
  headroom: z.object({ nodeId: IdSchema, points: z.array(HeadroomPointSchema) }).nullable(),
  /** The tiered price this request would be charged. */
  price: MoneySchema,
});
export type Explanation = z.infer<typeof ExplanationSchema>;

/**
 * Declined requests counted per provider, request shape and reason kind. A
 * declined `reservation.request` is answered in state `declined` with its
 * reason, but is not stored as a reservation: the reply's id names one of these.
 */
export const RefusalSchema = z.object({
  id: z.string(),
  providerId: IdSchema,
  /** Coarse: requestor PoP, preferred cloudlet, duration and peaks rounded up to powers of two. */
  shape: z.string(),
  /** larger-than-any-node:RESOURCE, booked-out:RESOURCE or no-candidate. */
  kind: z.string(),
  count: z.number().int(),
  firstAt: TimeMsSchema,
  lastAt: TimeMsSchema,
  lastReason: z.string(),
});
export type Refusal = z.infer<typeof RefusalSchema>;

export const SchedulerEventSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('reservation'), at: TimeMsSchema, reservation: ReservationSchema }),
  z.object({ kind: z.literal('cloudlet'), at: TimeMsSchema, cloudletId: IdSchema, status: CloudletStatusSchema, connected: z.boolean() }),
]);
export type SchedulerEvent = z.infer<typeof SchedulerEventSchema>;

const providers: readonly Role[] = ['provider', 'operator'];
const readers: readonly Role[] = ['viewer', 'operator', 'provider'];
const controllers: readonly Role[] = ['controller'];

export const schedulerApi = defineContract({
  name: 'scheduler' as const,
  version: 1 as const,
  methods: {
    'scheduler.info': method({
      summary: 'Version, clock, slot granularity and horizon of this scheduler',
      roles: ['viewer', 'operator', 'provider', 'controller'],
      params: z.object({}),
      result: z.object({
        version: z.string(),
        now: TimeMsSchema,
        slotMs: z.number().int(),
        horizonMs: z.number().int(),
        holdTimeoutMs: z.number().int(),
        currency: z.string(),
      }),
    }),
    'topology.get': method({
      summary: 'PoPs, links, cloudlets and nodes with their last reports and staleness',
      roles: readers,
      params: z.object({}),
      result: TopologySchema,
      cost: () => 5,
    }),
    'resources.headroom': method({
      summary: 'Per node, the least free capacity (after the ISP share) over [from, to)',
      roles: ['viewer', 'operator'],
      params: z.object({ from: TimeMsSchema, to: TimeMsSchema, cloudletId: IdSchema.optional() }),
      result: z.object({ nodes: z.array(z.object({ nodeId: IdSchema, cloudletId: IdSchema, capacity: ResourcesSchema, minFree: ResourcesSchema })) }),
      cost: (p) => (p.cloudletId ? 5 : 50),
    }),
    'reservation.request': method({
      summary: 'Ask for capacity over time; admitted requests wait for approval unless a policy approves them; a declined one is counted in refusal.list, not stored',
      roles: ['provider'],
      params: ReservationRequestSchema,
      result: ReservationSchema,
      // Each request is stored with its transitions and audit entries, admitted or declined.
      cost: () => requestCost,
    }),
    'reservation.get': method({
      summary: 'One reservation with its transitions (providers see their own only)',
      roles: readers,
      params: z.object({ id: ReservationIdSchema }),
      result: ReservationSchema,
    }),
    'reservation.list': method({
      summary: 'Reservations, newest first, filtered by state, provider or cloudlet (providers see their own only)',
      roles: readers,
      params: z.object({
        states: states.optional(),
        providerId: IdSchema.optional(),
        cloudletId: IdSchema.optional(),
        limit,
      }),
      result: z.object({ reservations: z.array(ReservationSchema) }),
      cost: listCost,
      resultCost: (r) => rowsCost(r.reservations.length),
    }),
    'reservation.cancel': method({
      summary: 'Cancel before start: refund F x (tB - tC) / (tB - tA); nothing once started',
      roles: providers,
      params: z.object({ id: ReservationIdSchema, reason: ReasonSchema }),
      result: z.object({ reservation: ReservationSchema, refund: MoneySchema }),
    }),
    'reservation.upload': method({
      summary: "Send a chunk of the reservation's program bundle (a tar archive with manifest.json) on to its cloudlet's controller; chunks in order, the last with the SHA-256 of the whole",
      roles: providers,
      params: z.object({ id: ReservationIdSchema, ...BundleChunkFields, reason: ReasonSchema.default('upload') }),
      result: z.object({ id: z.string(), received: z.number().int(), stored: z.boolean(), detail: z.string() }),
    }),
    'reservation.resize': method({
      summary: 'Change the capacity from `from` (default: the next slot) to t1; shrinking a running VI costs a fine',
      roles: providers,
      params: z.object({ id: ReservationIdSchema, capacity: ResourcesSchema, from: TimeMsSchema.optional(), reason: ReasonSchema.default('resize') }),
      result: z.object({ reservation: ReservationSchema, charge: MoneySchema, refund: MoneySchema, fine: MoneySchema }),
    }),
    'reservation.quote': method({
      summary: 'What a cancel or resize would charge, refund or fine now, without doing it',
      roles: providers,
      params: z.object({
        id: ReservationIdSchema,
        action: z.enum(['cancel', 'resize']),
        capacity: ResourcesSchema.optional(),
        from: TimeMsSchema.optional(),
      }).refine((q) => q.action === 'cancel' || q.capacity !== undefined, { path: ['capacity'], message: 'a resize quote needs the new capacity' }),
      result: z.object({ charge: MoneySchema, refund: MoneySchema, fine: MoneySchema }),
    }),
    'reservation.approve': method({
      summary: 'Approve an admitted request; the scheduler then confirms it with the cloudlet controller',
      roles: ['operator'],
      params: z.object({ id: ReservationIdSchema, reason: ReasonSchema.default('approved') }),
      result: ReservationSchema,
    }),
    'reservation.decline': method({
      summary: 'Decline an admitted request, saying why; its capacity is released',
      roles: ['operator'],
      params: z.object({ id: ReservationIdSchema, reason: ReasonSchema }),
      result: ReservationSchema,
    }),
    'reservation.terminate': method({
      summary: 'End a reservation now (suspect VI): rules are removed first, then the VI is stopped',
      roles: ['operator'],
      params: z.object({ id: ReservationIdSchema, reason: ReasonSchema }),
      result: ReservationSchema,
    }),
    'admission.explain': method({
      summary: 'The whole admission analysis of a request (or of a stored reservation): candidates, rejections, choice, headroom',
      roles: ['provider', 'operator', 'viewer'],
      params: z.union([
        z.object({ reservationId: ReservationIdSchema }),
        z.object({ request: ReservationRequestSchema, providerId: IdSchema.optional() }),
      ]),
      result: ExplanationSchema,
      cost: () => 20,
    }),
    'refusal.list': method({
      summary: 'Declined requests counted per provider, request shape and reason, most recent first (providers see their own only)',
      roles: readers,
      params: z.object({ providerId: IdSchema.optional(), limit }),
      result: z.object({ refusals: z.array(RefusalSchema) }),
    }),
    'ledger.list': method({
      summary: 'Charges, refunds and fines with the balance (providers see their own only)',
      roles: readers,
      params: z.object({ providerId: IdSchema.optional(), reservationId: ReservationIdSchema.optional(), limit }),
      result: z.object({ entries: z.array(LedgerEntrySchema), balance: MoneySchema }),
      cost: listCost,
      resultCost: (r) => rowsCost(r.entries.length),
    }),
    'audit.list': method({
      summary: 'Audit entries after a sequence number, oldest first',
      roles: ['viewer', 'operator'],
      params: z.object({ afterSeq: z.number().int().min(0).default(0), limit }),
      result: z.object({ entries: z.array(AuditEntrySchema) }),
      cost: listCost,
      resultCost: (r) => rowsCost(r.entries.length),
    }),
    'audit.verify': method({
      summary: 'Check the audit hash chain: entries added since the last verified one (checkpointed), or all of them with `full` (operators)',
      roles: ['viewer', 'operator'],
      params: z.object({
        /** Recompute from the first entry instead of from the checkpoint (operators only; costly). */
        full: z.boolean().default(false),
      }),
      result: z.object({
        ok: z.boolean(),
        /** Entries known good: the whole verified chain, not only those checked by this call. */
        entries: z.number().int(),
        brokenAt: z.number().int().nullable(),
        reason: z.string(),
        /** Entries this call recomputed (0 when nothing was added since the checkpoint). */
        checked: z.number().int().optional(),
      }),
      cost: (p) => (p.full ? fullAuditVerifyCost : 5),
    }),
    'controller.hello': method({
      summary: 'A controller introduces itself; returns its cloudlet, nodes and reporting cadence',
      roles: controllers,
      params: z.object({ controllerUrl: z.string().max(512).optional(), software: z.string().max(128).optional() }),
      result: z.object({
        cloudletId: IdSchema,
        nodes: z.array(z.object({ id: IdSchema, capacity: ResourcesSchema })),
        slotMs: z.number().int(),
        reportIntervalMs: z.number().int(),
        staleAfterMs: z.number().int(),
      }),
    }),
    'controller.report': method({
      summary: 'Periodic resource report: total and available per node, node health',
      roles: controllers,
      params: ControllerReportSchema,
      result: z.object({}),
    }),
    'controller.answer': method({
      summary: 'The answer to one command received on controller.commands',
      roles: controllers,
      params: ControllerAnswerSchema,
      result: z.object({ accepted: z.boolean() }),
    }),
    'controller.assignments': method({
      summary: 'Reservations this cloudlet must host now or later (to reconcile after a restart)',
      roles: controllers,
      params: z.object({}),
      result: z.object({ reservations: z.array(ReservationSchema) }),
    }),
  },
  topics: {
    'scheduler.events': topic({
      summary: 'Reservation changes and cloudlet stale/healthy transitions (providers see their own reservations only)',
      roles: readers,
      params: z.object({}),
      item: SchedulerEventSchema,
    }),
    'controller.commands': topic({
      summary: 'Commands for this controller: answer each with controller.answer',
      roles: controllers,
      params: z.object({}),
      item: ControllerCommandSchema,
    }),
  },
});

export type SchedulerApi = typeof schedulerApi;
