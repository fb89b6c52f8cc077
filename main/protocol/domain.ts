/**
 * The domain's words as schemas (DESIGN.md section 4), shared by the
 * scheduler, the controllers, pcctl and the console. Times on the wire are
 * epoch milliseconds (UTC); capacities are plain numbers in the units their
 * names say. Shapes here are checked on every hop, so a bound here is a bound
 * everywhere: keep changes additive.
 */
import { reservationStates, viStates } from './vocabulary.ts';
import { z } from 'zod';
import { IdSchema } from './roles.ts';

/** Epoch milliseconds, UTC. Bounded to years 2000..2200 so arithmetic stays exact. */
export const TimeMsSchema = z
  .number()
  .int('a time is whole epoch milliseconds')
  .min(946_684_800_000, 'a time is epoch milliseconds after 2000-01-01')
  .max(7_258_118_400_000, 'a time is epoch milliseconds before 2200-01-01');

const amount = (unit: string) =>
  z.number().finite(`${unit} must be a finite number`).nonnegative(`${unit} must not be negative`).max(1e9, `${unit} is implausibly large`);

/** `<cpu, memory, disk, network>` of a node, a request or a free view. */
export const ResourcesSchema = z.strictObject({
  cpu: amount('cpu (cores)'),
  memMiB: amount('memMiB'),
  diskGiB: amount('diskGiB'),
  netMbps: amount('netMbps'),
});
export type Resources = z.infer<typeof ResourcesSchema>;

/** One contiguous piece of a capacity profile: `capacity` is held over [from, to). */
export const SubSlotSchema = z.strictObject({
  from: TimeMsSchema,
  to: TimeMsSchema,
  capacity: ResourcesSchema,
});
export type SubSlot = z.infer<typeof SubSlotSchema>;

/** Contiguous sub-slots covering the reservation's [t0, t1] (the paper's Table 2). */
export const ProfileSchema = z.array(SubSlotSchema).min(1, 'a profile has at least one sub-slot').max(256, 'a profile has at most 256 sub-slots');
export type Profile = z.infer<typeof ProfileSchema>;

// ---------------------------------------------------------------- demux rules

const portRange = z.strictObject({ from: z.number().int().min(0).max(65535), to: z.number().int().min(0).max(65535) });
/** "10.1.0.0/16" or "2001:db8::/32"; parsed and checked by whoever installs the rule. */
export const PrefixSchema = z.string().min(3).max(64).regex(/^[0-9A-Fa-f:.]+\/[0-9]{1,3}$/, 'a prefix looks like 10.1.0.0/16 or 2001:db8::/32');

export const DemuxMatchSchema = z.strictObject({
  inPort: z.number().int().min(0).max(65535).optional(),
  ethType: z.number().int().min(0).max(0xffff).optional(),
  ipProto: z.number().int().min(0).max(255).optional(),
  srcPrefix: PrefixSchema.optional(),
  dstPrefix: PrefixSchema.optional(),
  srcPorts: portRange.optional(),
  dstPorts: portRange.optional(),
});
export type DemuxMatch = z.infer<typeof DemuxMatchSchema>;

export const DemuxActionSchema = z.enum(['to_vi', 'legacy', 'drop']);

/** A rule as a provider asks for it; the controller binds `to_vi` to the VI it starts. */
export const DemuxRuleSpecSchema = z.strictObject({
  priority: z.number().int().min(0).max(65535),
  match: DemuxMatchSchema,
  action: DemuxActionSchema,
  /** Fraction of matching packets copied to the ISP's sampler (0 = none). */
  samplingRate: z.number().min(0).max(1).default(0),
  /** Evidence that the provider owns `match.dstPrefix` (e.g. an RPKI ROA reference). */
  ownershipProof: z.string().max(4096).optional(),
});
export type DemuxRuleSpec = z.infer<typeof DemuxRuleSpecSchema>;

// ---------------------------------------------------------------- services

/**
 * How a VI is attached to the data plane (DESIGN.md section 6): `ring`, shared-memory rings for
 * services on our SDK; `tap`, a TAP device in the VI's namespace for unmodified Linux programs
 * (root only), one interface or two for a bump in the wire.
 */
export const ViPortSchema = z.strictObject({
  kind: z.enum(['ring', 'tap']),
  layout: z.enum(['single', 'bump']).default('single'),
});
export type ViPort = z.infer<typeof ViPortSchema>;

export const ServiceSpecSchema = z.strictObject({
  /** Visible services are addressed by clients; transparent ones sit on the path. */
  mode: z.enum(['visible', 'transparent']),
  /** The VI's data-plane port; a ring port when absent. */
  port: ViPortSchema.optional(),
  /** The service program run inside the VI (ids, tunnel, monitor, wanopt, lb, cache...). */
  program: IdSchema,
  args: z.record(z.string().max(64), z.string().max(1024)).default({}),
  rules: z.array(DemuxRuleSpecSchema).max(64, 'at most 64 demux rules per service').default([]),
});
export type ServiceSpec = z.infer<typeof ServiceSpecSchema>;

// ---------------------------------------------------------------- reservations

export { finalStates, holdingStates, reservationStates, resourceNames, type ReservationState, type ResourceName } from './vocabulary.ts';
export const ReservationStateSchema = z.enum(reservationStates);

export const ReservationRequestSchema = z.strictObject({
  requestorPopId: IdSchema,
  preferredCloudletId: IdSchema.optional(),
  t0: TimeMsSchema,
  t1: TimeMsSchema,
  profile: ProfileSchema,
  service: ServiceSpecSchema,
  /** Makes a retried request idempotent per provider. */
  clientRequestId: z.string().min(1).max(128).optional(),
});
export type ReservationRequest = z.infer<typeof ReservationRequestSchema>;

export const TransitionSchema = z.object({
  at: TimeMsSchema,
  from: ReservationStateSchema.nullable(),
  to: ReservationStateSchema,
  actor: z.string(),
  reason: z.string(),
});
export type Transition = z.infer<typeof TransitionSchema>;

/** Money in the ISP's currency units, rounded to micro-units. */
export const MoneySchema = z.number().finite();

/**
 * Whether the front-end router steers a VI's traffic to it, i.e. whether the VI serves traffic:
 * every flow of its rules installed. `detail` names the router and, when not installed, why
 * ("ovs bridge br0 at ...: flows of vi-r-1#0 not installed: ... is ovs-vswitchd running?").
 * The same name wherever it appears: a VI's view, a controller's report, a reservation, a cloudlet.
 */
export const RouterFlowsSchema = z.object({ installed: z.boolean(), detail: z.string().max(2048) });
export type RouterFlows = z.infer<typeof RouterFlowsSchema>;

/** RouterFlows of one VI, by its reservation (in controller reports and the topology). */
export const ReservationRouterFlowsSchema = z.strictObject({ reservationId: z.string().max(128), installed: z.boolean(), detail: z.string().max(2048) });
export type ReservationRouterFlows = z.infer<typeof ReservationRouterFlowsSchema>;

export const ReservationSchema = z.object({
  id: z.string(),
  providerId: IdSchema,
  requestorPopId: IdSchema,
  preferredCloudletId: IdSchema.nullable(),
  t0: TimeMsSchema,
  t1: TimeMsSchema,
  profile: ProfileSchema,
  service: ServiceSpecSchema,
  state: ReservationStateSchema,
  /** Where it was placed; null while not (or no longer) admitted. */
  cloudletId: IdSchema.nullable(),
  nodeId: IdSchema.nullable(),
  /** The price quoted at admission (tiered); charged when it becomes scheduled. */
  price: MoneySchema,
  /** Net amount the provider has paid so far (charges - refunds + fines). */
  paid: MoneySchema,
  createdAt: TimeMsSchema,
  updatedAt: TimeMsSchema,
  /** Why it is in its state (decline reason, failure cause...). */
  reason: z.string(),
  transitions: z.array(TransitionSchema).optional(),
  /**
   * While active: whether its VI serves traffic (router flows installed), from its controller's
   * last report. Absent when unknown or when the cloudlet programs no router.
   */
  routerFlows: RouterFlowsSchema.optional(),
});
export type Reservation = z.infer<typeof ReservationSchema>;

// ---------------------------------------------------------------- topology

export const PopSchema = z.object({ id: IdSchema, name: z.string().max(128) });
export type Pop = z.infer<typeof PopSchema>;

/**
 * A link's load as one end's router counted it (its port's byte counters, two reads apart): bit
 * rates each way, named by the link's own ends (ab: from a towards b).
 */
export const LinkLoadSchema = z.strictObject({
  a: IdSchema,
  b: IdSchema,
  abBps: z.number().nonnegative(),
  baBps: z.number().nonnegative(),
  /** Seconds the rates are averaged over. */
  periodSeconds: z.number().positive(),
  /** When the later of the two reads was taken. */
  at: TimeMsSchema,
  /** The router (PoP) whose port counted it. */
  measuredAt: IdSchema,
});
export type LinkLoad = z.infer<typeof LinkLoadSchema>;

/**
 * A link's load as topology.get shows it. Stale: no report counting it reached the scheduler for
 * longer than its staleAfterMs (its controller or router stopped reporting), so the rates are
 * history, not the present; absent in what older schedulers send, which is read as fresh.
 */
export const ShownLinkLoadSchema = LinkLoadSchema.extend({ stale: z.boolean().optional() });
export type ShownLinkLoad = z.infer<typeof ShownLinkLoadSchema>;

export const LinkSchema = z.object({
  a: IdSchema,
  b: IdSchema,
  rttMs: z.number().finite().positive(),
  capacityMbps: z.number().finite().positive(),
  /**
   * Its load from the last controller report that counted it (topology.get, for the ISP's staff);
   * null when no router counts it (the lab's userspace traffic source has no routers): no data, not zero.
   */
  load: ShownLinkLoadSchema.nullable().optional(),
});
export type Link = z.infer<typeof LinkSchema>;

export const NodeHealthSchema = z.enum(['up', 'degraded', 'down', 'unknown']);
export type NodeHealth = z.infer<typeof NodeHealthSchema>;

export const NodeViewSchema = z.object({
  id: IdSchema,
  cloudletId: IdSchema,
  capacity: ResourcesSchema,
  /** Last reported by the controller (null before the first report). */
  reported: z.object({ at: TimeMsSchema, total: ResourcesSchema, available: ResourcesSchema, health: NodeHealthSchema }).nullable(),
});
export type NodeView = z.infer<typeof NodeViewSchema>;

const rate = z.number().nonnegative();
/** One direction of a VI's port over a report period: rates, running totals, drops by reason (vocabulary viDropReasons). */
const PortDirectionReportSchema = z.strictObject({
  pps: rate,
  bps: rate,
  packets: rate,
  bytes: rate,
  drops: z.record(z.string().max(32), rate),
});

/** The data plane's traffic in a controller report: per VI port (in: to the VI, out: what it emitted) and the uplink. */
export const TrafficReportSchema = z.strictObject({
  /** Seconds the rates are averaged over (since the previous report; 0 in the first). */
  periodSeconds: rate,
  vis: z
    .array(z.strictObject({ viId: z.string().max(128), reservationId: z.string().max(128), in: PortDirectionReportSchema, out: PortDirectionReportSchema }))
    .max(10_000),
  uplink: z.strictObject({
    rxPps: rate,
    rxBps: rate,
    txPps: rate,
    txBps: rate,
    rxPackets: rate,
    txPackets: rate,
    /** Sent back to the router by destination (no VI). */
    legacy: rate,
    ruleDrops: rate,
    socketDrops: rate,
    /** Refused datagrams by reason. */
    malformed: z.record(z.string().max(32), rate),
  }),
});
export type TrafficReport = z.infer<typeof TrafficReportSchema>;

export const CloudletStatusSchema = z.enum(['unknown', 'healthy', 'stale']);
export type CloudletStatus = z.infer<typeof CloudletStatusSchema>;

export const CloudletViewSchema = z.object({
  id: IdSchema,
  popId: IdSchema,
  /** Where consoles reach this cloudlet's controller (from its hello), if known. */
  controllerUrl: z.string().nullable(),
  connected: z.boolean(),
  status: CloudletStatusSchema,
  lastReportAt: TimeMsSchema.nullable(),
  /** Share of every node kept for the ISP's own services (0..1). */
  ispShare: z.number().min(0).max(1),
  nodes: z.array(NodeViewSchema),
  /** Its data plane's traffic as of its last report that carried any (`at`: the report's time); null until then. */
  traffic: TrafficReportSchema.extend({ at: TimeMsSchema }).nullable().optional(),
  /** Its VIs with rules and whether each serves traffic (router flows installed), from its last report; null for providers or when it programs no router. */
  routerFlows: z.array(ReservationRouterFlowsSchema).nullable().optional(),
});
export type CloudletView = z.infer<typeof CloudletViewSchema>;

export const TopologySchema = z.object({ pops: z.array(PopSchema), links: z.array(LinkSchema), cloudlets: z.array(CloudletViewSchema) });
export type Topology = z.infer<typeof TopologySchema>;

// ---------------------------------------------------------------- controller reports and commands

export const NodeReportSchema = z.strictObject({
  nodeId: IdSchema,
  total: ResourcesSchema,
  available: ResourcesSchema,
  health: NodeHealthSchema,
});
export type NodeReport = z.infer<typeof NodeReportSchema>;

/** A VI as its controller last saw it, so the scheduler learns of crashes and node failures. */
export const ViReportSchema = z.strictObject({
  reservationId: z.string().max(128),
  nodeId: IdSchema,
  state: z.enum(viStates),
  reason: z.string().max(1024),
  at: TimeMsSchema,
});
export type ViReport = z.infer<typeof ViReportSchema>;

/** An operator action taken at a controller, forwarded for the scheduler's audit log. */
export const ForwardedAuditSchema = z.strictObject({
  /** The controller's local sequence number: with the cloudlet id, it makes forwarding idempotent. */
  seq: z.number().int().positive(),
  at: TimeMsSchema,
  actor: z.string().max(128),
  role: z.string().max(32),
  action: z.string().max(64),
  target: z.string().max(256),
  reason: z.string().max(1024),
});
export type ForwardedAudit = z.infer<typeof ForwardedAuditSchema>;

export const ControllerReportSchema = z.strictObject({
  at: TimeMsSchema,
  nodes: z.array(NodeReportSchema).max(10_000),
  /** VIs that changed state since the last report (optional: older controllers send none). */
  vis: z.array(ViReportSchema).max(10_000).optional(),
  /** Operator actions not yet acknowledged by the scheduler (resent until a report succeeds). */
  audit: z.array(ForwardedAuditSchema).max(256).optional(),
  /** The service programs this cloudlet can run (optional: older controllers do not say). */
  programs: z.array(IdSchema).max(256).optional(),
  /** The data plane's counters (optional: a controller without a data plane, or an older one, sends none). */
  traffic: TrafficReportSchema.optional(),
  /** Every live VI with rules in force and whether it serves traffic, in every report (absent: the controller programs no router). */
  routerFlows: z.array(ReservationRouterFlowsSchema).max(10_000).optional(),
  /** Loads of the topology links on its front-end router's ports (optional: no router, or no link ports named). */
  links: z.array(LinkLoadSchema).max(256).optional(),
});
export type ControllerReport = z.infer<typeof ControllerReportSchema>;

/** Largest chunk of a bundle in one message (base64 makes it a third bigger on the wire). */
export const BUNDLE_CHUNK_BYTES = 256 * 1024;

/** One chunk of a program bundle, as a provider sends it to the scheduler and the scheduler to the controller. */
export const BundleChunkFields = {
  /** Where the chunk starts in the bundle; 0 starts the upload afresh. */
  offset: z.number().int().min(0).max(2 ** 40),
  /** The whole bundle's size in bytes (the controller holds it to its limit). */
  total: z.number().int().min(1).max(2 ** 40),
  /** The chunk's bytes, base64, at most BUNDLE_CHUNK_BYTES of them. */
  chunk: z.string().min(1).max(Math.ceil(BUNDLE_CHUNK_BYTES / 3) * 4).regex(/^[A-Za-z0-9+/]+=*$/, 'base64'),
  /** On the last chunk only: the SHA-256 of the whole bundle, hex. */
  sha256: z.string().regex(/^[0-9a-fA-F]{64}$/, 'a SHA-256 in hexadecimal (64 digits)').optional(),
};

const commandBase = {
  /** Unique per scheduler run; the controller echoes it in controller.answer. */
  commandId: z.string().min(1).max(64),
  reservationId: z.string(),
};

/** What the scheduler asks of a controller, delivered on the controller.commands topic. */
export const ControllerCommandSchema = z.discriminatedUnion('kind', [
  /** Phase one: can you host this on that node? Hold it for holdMs if so. */
  z.object({
    kind: z.literal('prepare'),
    ...commandBase,
    providerId: IdSchema,
    nodeId: IdSchema,
    t0: TimeMsSchema,
    t1: TimeMsSchema,
    profile: ProfileSchema,
    service: ServiceSpecSchema,
    holdMs: z.number().int().positive(),
  }),
  /** Phase two: the reservation is recorded; keep what you prepared. */
  z.object({ kind: z.literal('commit'), ...commandBase }),
  /** Phase two, negative: release what you prepared. */
  z.object({ kind: z.literal('abort'), ...commandBase, reason: z.string() }),
  /** t0 reached: start the VI and install its demux rules. */
  z.object({ kind: z.literal('start'), ...commandBase, nodeId: IdSchema, profile: ProfileSchema, service: ServiceSpecSchema, t1: TimeMsSchema }),
  /** t1 reached, cancelled or terminated: remove the rules first, then stop the VI. */
  z.object({ kind: z.literal('stop'), ...commandBase, reason: z.enum(['expired', 'cancelled', 'terminated']) }),
  /** The running VI's capacity profile changed (scale up or down). */
  z.object({ kind: z.literal('resize'), ...commandBase, profile: ProfileSchema }),
  /** A chunk of the provider's program bundle for its reservation (uploads.ts: in order, the last with the SHA-256). */
  z.object({ kind: z.literal('upload'), ...commandBase, ...BundleChunkFields, /** The provider's reason, audited with the stored bundle. */ reason: z.string().max(1024) }),
]);
export type ControllerCommand = z.infer<typeof ControllerCommandSchema>;
export type ControllerCommandKind = ControllerCommand['kind'];

export const ControllerAnswerSchema = z.strictObject({
  commandId: z.string().min(1).max(64),
  ok: z.boolean(),
  /** Why not, when ok is false ("node n3 is down", "rule 2 captures tenant p7's prefix"). */
  reason: z.string().max(2048).optional(),
});
export type ControllerAnswer = z.infer<typeof ControllerAnswerSchema>;

// ---------------------------------------------------------------- ledger and audit

export const LedgerKindSchema = z.enum(['charge', 'refund', 'fine']);
export const LedgerEntrySchema = z.object({
  id: z.number().int(),
  at: TimeMsSchema,
  providerId: IdSchema,
  reservationId: z.string(),
  kind: LedgerKindSchema,
  /** Positive: the provider pays; negative: the provider is paid back. */
  amount: MoneySchema,
  note: z.string(),
});
export type LedgerEntry = z.infer<typeof LedgerEntrySchema>;

export const AuditEntrySchema = z.object({
  seq: z.number().int().positive(),
  at: TimeMsSchema,
  actor: z.string(),
  role: z.string(),
  action: z.string(),
  target: z.string(),
  reason: z.string(),
  prevHash: z.string(),
  hash: z.string(),
});
export type AuditEntry = z.infer<typeof AuditEntrySchema>;
