/**
 * The cloudlet controller's console-facing contract: what viewers and
 * operators may ask of one cloudlet's controller (nodes, VIs, demux rules,
 * alarms, the local audit log) and the streams it offers (VI state changes,
 * alarms, per-VI resource use).
 *
 * Viewers read; operators also act, and every action carries a reason that is
 * audited locally and forwarded to the scheduler's audit log. Providers and
 * the scheduler do not talk to this contract: providers go through the
 * scheduler, and the scheduler reaches controllers through its own
 * `controller.commands` topic (schedulerApi.ts).
 *
 * Additive changes only: the console builds on it.
 */
import { alarmKinds, operatorNameProblem, sampleVerdicts, viStates } from './vocabulary.ts';
import { z } from 'zod';
import { defineContract, method, topic } from './contract.ts';
import { DemuxActionSchema, DemuxMatchSchema, NodeHealthSchema, ResourcesSchema, RouterFlowsSchema, TimeMsSchema, ViPortSchema } from './domain.ts';
import { listCost, rowsCost } from './limits.ts';
import { IdSchema, staff, type Role } from './roles.ts';

const ReasonSchema = z.string().min(1, 'say why').max(1024);
/** The name an operator gives the console (vocabulary.ts says what makes one; the controller records it trimmed). */
const OperatorNameSchema = z.string().superRefine((name, ctx) => {
  const problem = operatorNameProblem(name);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});
const operators: readonly Role[] = ['operator'];

export const ViStateSchema = z.enum(viStates);
export type { ViState } from './vocabulary.ts';

/** What the sandbox actually obtained for a VI (the console shows it as is). */
export const IsolationSchema = z.object({
  /** Linux namespaces the VI runs in, e.g. ["user", "pid", "mount", "net"]; empty when none. */
  namespaces: z.array(z.enum(['user', 'pid', 'mount', 'net'])),
  cgroup: z.enum(['v2', 'v1', 'none']),
  /** Resource limits set on the process, e.g. ["nofile=4096", "core=0"]. */
  rlimits: z.array(z.string()),
  /** Why something was not obtained ("not root: no namespaces"...). */
  notes: z.array(z.string()),
  /**
   * The VI's own unprivileged user on the host its programs run as (with a user namespace they are
   * root inside it, over the VI's own namespaces only); null: the (non-root) controller's user.
   * Absent on the host summary.
   */
  user: z.object({ uid: z.number().int().nonnegative(), gid: z.number().int().nonnegative() }).nullable().optional(),
  /** The most tasks (processes and threads) the VI may have and what enforces it; null: nothing could. */
  processLimit: z.object({ max: z.number().int().positive(), by: z.enum(['pids-cgroup', 'rlimit-nproc']) }).nullable().optional(),
  /** Data-plane port kinds a VI can get here: ring only unless the controller is root with network namespaces. */
  portKinds: z.array(z.enum(['ring', 'tap'])).optional(),
  /** The VI's own data-plane port: kind, layout and, for a tap port, its interfaces in the VI's namespace. Absent on the host summary. */
  port: z.object({ kind: z.enum(['ring', 'tap']), layout: z.enum(['single', 'bump']), interfaces: z.array(z.string()) }).nullable().optional(),
});
export type Isolation = z.infer<typeof IsolationSchema>;

/** The caps a VI runs under: reserved capacity, or less after a restrict. */
export const ViLimitsSchema = z.object({
  cpu: z.number().nonnegative(),
  memMiB: z.number().nonnegative(),
  /** Packets per second the data plane lets through to the VI (null: no cap). */
  ppsCap: z.number().int().nonnegative().nullable(),
  /** Megabits per second the data plane lets through, each direction, below the reservation's netMbps (null or absent: no cap). */
  mbpsCap: z.number().positive().nullable().optional(),
});
export type ViLimits = z.infer<typeof ViLimitsSchema>;

/** One direction of a VI port: totals, rates since the previous sample, and drops by reason. */
export const TrafficDirectionSchema = z.object({
  packets: z.number().nonnegative(),
  bytes: z.number().nonnegative(),
  pps: z.number().nonnegative(),
  bps: z.number().nonnegative(),
  drops: z.record(z.string(), z.number().nonnegative()),
});
export type TrafficDirection = z.infer<typeof TrafficDirectionSchema>;

/** A sampled packet to or from a VI (sFlow semantics), with up to 256 captured bytes of the inner frame. */
export const PacketSampleViewSchema = z.object({
  at: TimeMsSchema,
  /** Nanoseconds within `at`'s millisecond. */
  ns: z.number().int().min(0).max(999_999),
  viId: z.string(),
  ruleId: z.string(),
  direction: z.enum(['to_vi', 'from_vi']),
  verdict: z.enum(sampleVerdicts),
  vni: z.number().int().nonnegative(),
  wireLength: z.number().int().nonnegative(),
  samplingRate: z.number().int().nonnegative(),
  samplePool: z.number().nonnegative(),
  drops: z.number().nonnegative(),
  /** Base64 of the captured bytes. */
  bytes: z.string().max(400),
});
export type PacketSampleView = z.infer<typeof PacketSampleViewSchema>;

export const ViUsageSchema = z.object({
  viId: z.string(),
  at: TimeMsSchema,
  /** Average cores used since the previous sample. */
  cpuCores: z.number().nonnegative(),
  memMiB: z.number().nonnegative(),
  processes: z.number().int().nonnegative(),
  /** Where the numbers come from: the VI's cgroup or a /proc walk of its process group. */
  source: z.enum(['cgroup', 'proc']),
  /** The VI's data-plane port, when it has one: to_vi is what the port delivered, from_vi what the VI emitted. */
  traffic: z
    .object({
      to_vi: TrafficDirectionSchema,
      from_vi: TrafficDirectionSchema,
    })
    .optional(),
  /** The service's own counters (packets encrypted, ESP rejected, hits, ratios...), as it reports them. */
  service: z.record(z.string().max(64), z.number()).optional(),
});
export type ViUsage = z.infer<typeof ViUsageSchema>;

export const ViViewSchema = z.object({
  id: z.string(),
  reservationId: z.string(),
  providerId: IdSchema,
  nodeId: IdSchema,
  program: z.string(),
  state: ViStateSchema,
  /** Host pid of the VI's launcher process while it runs. */
  pid: z.number().int().nullable(),
  startedAt: TimeMsSchema.nullable(),
  endedAt: TimeMsSchema.nullable(),
  t1: TimeMsSchema,
  capacity: ResourcesSchema,
  limits: ViLimitsSchema,
  isolation: IsolationSchema,
  usage: ViUsageSchema.nullable(),
  exit: z.object({ code: z.number().int().nullable(), signal: z.string().nullable() }).nullable(),
  reason: z.string(),
  /** Quarantined by an operator: running, its rules removed (its traffic goes legacy), everything it emits dropped. */
  quarantined: z.boolean(),
  /**
   * Whether the front-end router steers the VI's traffic to it (every flow of its rules installed).
   * Absent when the controller programs no router or the VI has no rules in force.
   */
  routerFlows: RouterFlowsSchema.optional(),
});
export type ViView = z.infer<typeof ViViewSchema>;

/** A program this cloudlet offers to run inside VIs (service.list). */
export const ServiceOfferSchema = z.object({
  program: z.string(),
  summary: z.string(),
  /** built-in: from the service catalog, its arguments checked; configured: named in the controller's config; uploaded: the reservation's own bundle. */
  source: z.enum(['built-in', 'configured', 'uploaded']),
  /** Null for configured programs, which do not say. */
  mode: z.enum(['visible', 'transparent']).nullable(),
  port: ViPortSchema.nullable(),
  /** The arguments it takes; null when any are passed through unchecked. */
  args: z.array(z.object({ name: z.string(), required: z.boolean(), description: z.string() })).nullable(),
  /** Whether this host can run it; when not, reason says why (e.g. "tap ports need root"). */
  available: z.boolean(),
  reason: z.string().nullable(),
});
export type ServiceOffer = z.infer<typeof ServiceOfferSchema>;

export const NodeDetailSchema = z.object({
  id: IdSchema,
  capacity: ResourcesSchema,
  /** Held now by prepared, committed and running reservations. */
  allocated: ResourcesSchema,
  available: ResourcesSchema,
  health: NodeHealthSchema,
  reason: z.string(),
  vis: z.number().int(),
});
export type NodeDetail = z.infer<typeof NodeDetailSchema>;

export const RuleViewSchema = z.object({
  id: z.string(),
  /** "tenant" rules belong to a VI; "isp" rules come from the controller's configuration. */
  owner: z.enum(['tenant', 'isp']),
  providerId: z.string(),
  viId: z.string().nullable(),
  priority: z.number().int(),
  match: DemuxMatchSchema,
  action: DemuxActionSchema,
  samplingRate: z.number(),
  /** The trust anchor that vouched for match.dstPrefix, when there is one. */
  provenBy: z.string().nullable(),
  installedAt: TimeMsSchema,
});
export type RuleView = z.infer<typeof RuleViewSchema>;

/** A flow an alarm is about: its 5-tuple, and the IDS's own flow id (Suricata's flow_id) when it has one. */
export const AlarmFlowSchema = z.object({
  viId: z.string(),
  flowId: z.string().regex(/^[0-9]{1,20}$/).nullable(),
  proto: z.string().max(16),
  src: z.string().max(64),
  srcPort: z.number().int().min(0).max(65535).nullable(),
  dst: z.string().max(64),
  dstPort: z.number().int().min(0).max(65535).nullable(),
});
export type AlarmFlow = z.infer<typeof AlarmFlowSchema>;

export const AlarmSchema = z.object({
  id: z.number().int(),
  kind: z.enum(alarmKinds),
  severity: z.enum(['info', 'warning', 'critical']),
  subject: z.string(),
  message: z.string(),
  firstSeen: TimeMsSchema,
  lastSeen: TimeMsSchema,
  count: z.number().int(),
  /** Who acknowledged it: the operator's name as the console sent it, else the token's principal. */
  acknowledgedBy: z.string().nullable(),
  /** The principal of the token that acknowledged it (absent on alarms acknowledged before it was kept). */
  acknowledgedPrincipal: z.string().nullable().optional(),
  /** The flow of the latest occurrence, when the alarm is about one (an IDS alert): where its packets are. */
  flow: AlarmFlowSchema.nullable().optional(),
});
export type Alarm = z.infer<typeof AlarmSchema>;

/** The front-end router's table as installed (the flows carrying this controller's cookie), beside the rules. */
export const RouterTableSchema = z.object({
  /** Which router, e.g. "ovs bridge br0 at unix:/run/ovs/br0.mgmt". */
  router: z.string(),
  /** True when the last check found the router programmed as the rule book says. */
  ok: z.boolean(),
  /** Why not ('' when ok). */
  problem: z.string(),
  checkedAt: TimeMsSchema.nullable(),
  flows: z.array(
    z.object({
      cookie: z.string(),
      priority: z.number().int(),
      /** Match and actions as the router prints them. */
      flow: z.string(),
      packets: z.number().nonnegative(),
      bytes: z.number().nonnegative(),
      /** The rule the flow comes from; null for the fixed flows (returning and ordinary traffic). */
      ruleId: z.string().nullable(),
      rule: z.string(),
    }),
  ),
  /** Flows the rule book asks for that the router does not have. */
  missing: z.array(z.object({ cookie: z.string(), priority: z.number().int(), flow: z.string(), ruleId: z.string().nullable(), rule: z.string() })),
});
export type RouterTable = z.infer<typeof RouterTableSchema>;

export const LocalAuditEntrySchema = z.object({
  seq: z.number().int(),
  at: TimeMsSchema,
  actor: z.string(),
  role: z.string(),
  action: z.string(),
  target: z.string(),
  reason: z.string(),
  /** True once the scheduler acknowledged a report that carried it. */
  forwarded: z.boolean(),
});
export type LocalAuditEntry = z.infer<typeof LocalAuditEntrySchema>;

export const ViEventSchema = z.object({
  at: TimeMsSchema,
  vi: ViViewSchema,
  /** The state before this change (null for a new VI). */
  from: ViStateSchema.nullable(),
});
export type ViEvent = z.infer<typeof ViEventSchema>;

export const controllerApi = defineContract({
  name: 'controller' as const,
  version: 1 as const,
  methods: {
    'cloudlet.info': method({
      summary: 'Cloudlet id, software, clock, scheduler link and the isolation this host can give VIs',
      roles: staff,
      params: z.object({}),
      result: z.object({
        cloudletId: IdSchema,
        software: z.string(),
        now: TimeMsSchema,
        schedulerConnected: z.boolean(),
        isolation: IsolationSchema,
      }),
    }),
    'service.list': method({
      summary: 'The service programs this cloudlet offers: kind, port, arguments, and whether this host can run each (and why not)',
      roles: staff,
      params: z.object({}),
      result: z.object({ services: z.array(ServiceOfferSchema) }),
    }),
    'bundle.upload': method({
      summary: "Store a reservation's program bundle (a tar archive with manifest.json naming its command), checked first; program \"upload\" runs it",
      roles: operators,
      params: z.object({
        reservationId: z.string().min(1).max(128),
        /** The tar archive, base64 (the message limit bounds it; the controller's own limit is smaller). */
        bundle: z.string().min(1).max(1_000_000),
        reason: ReasonSchema,
      }),
      result: z.object({ reservationId: z.string(), sha256: z.string(), bytes: z.number().int(), files: z.number().int(), command: z.array(z.string()) }),
    }),
    'node.list': method({
      summary: 'Nodes of this cloudlet with capacity, allocation, health and VI count',
      roles: staff,
      params: z.object({}),
      result: z.object({ nodes: z.array(NodeDetailSchema) }),
    }),
    'node.setHealth': method({
      summary: 'Mark a node down (its VIs fail, an alarm is raised) or up again',
      roles: operators,
      params: z.object({ nodeId: IdSchema, health: z.enum(['up', 'down']), reason: ReasonSchema }),
      result: NodeDetailSchema,
    }),
    'vi.list': method({
      summary: 'VIs, newest first, optionally filtered by state or node',
      roles: staff,
      params: z.object({
        states: z.array(ViStateSchema).max(viStates.length, `at most ${viStates.length} states (each once)`).optional(),
        nodeId: IdSchema.optional(),
        limit: z.number().int().min(1).max(10_000).default(500),
      }),
      result: z.object({ vis: z.array(ViViewSchema) }),
      cost: listCost,
      resultCost: (r) => rowsCost(r.vis.length),
    }),
    'vi.get': method({
      summary: 'One VI with its isolation, limits, last usage and exit',
      roles: staff,
      params: z.object({ viId: z.string().min(1).max(128) }),
      result: ViViewSchema,
    }),
    'vi.restrict': method({
      summary: 'Lower the CPU, memory, packet-rate or bit-rate caps of a running VI (never above its reservation)',
      roles: operators,
      params: z.object({
        viId: z.string().min(1).max(128),
        cpu: z.number().positive().max(1e6).optional(),
        memMiB: z.number().positive().max(1e9).optional(),
        ppsCap: z.number().int().nonnegative().max(1e9).optional(),
        mbpsCap: z.number().positive().max(1e6).optional(),
        reason: ReasonSchema,
      }),
      result: ViViewSchema,
    }),
    'vi.terminate': method({
      summary: 'Remove the VI rules, then SIGTERM, grace period, SIGKILL, reap; terminating twice is harmless',
      roles: operators,
      params: z.object({ viId: z.string().min(1).max(128), reason: ReasonSchema }),
      result: ViViewSchema,
    }),
    'vi.quarantine': method({
      summary: 'Quarantine a running VI: its rules removed (its traffic goes legacy at once), it keeps running, everything it emits is dropped and counted',
      roles: operators,
      params: z.object({ viId: z.string().min(1).max(128), reason: ReasonSchema }),
      result: ViViewSchema,
    }),
    'vi.release': method({
      summary: 'Release a quarantined VI: what it emits is forwarded again and its rules are installed again',
      roles: operators,
      params: z.object({ viId: z.string().min(1).max(128), reason: ReasonSchema }),
      result: ViViewSchema,
    }),
    'rule.list': method({
      summary: 'Installed demux rules (tenant and ISP), highest priority first',
      roles: staff,
      params: z.object({ viId: z.string().min(1).max(128).optional() }),
      result: z.object({ rules: z.array(RuleViewSchema) }),
    }),
    'router.flows': method({
      summary: "The front-end router's flows of this controller as installed, beside the rules they come from",
      roles: staff,
      params: z.object({}),
      result: RouterTableSchema,
    }),
    'alarm.list': method({
      summary: 'Alarms, most recent first',
      roles: staff,
      params: z.object({ includeAcknowledged: z.boolean().default(true), limit: z.number().int().min(1).max(10_000).default(500) }),
      result: z.object({ alarms: z.array(AlarmSchema) }),
      cost: listCost,
      resultCost: (r) => rowsCost(r.alarms.length),
    }),
    'alarm.acknowledge': method({
      summary: "Acknowledge an alarm, saying why (and who: the operator's name, beside the token's principal)",
      roles: operators,
      params: z.object({ alarmId: z.number().int().positive(), reason: ReasonSchema, operatorName: OperatorNameSchema.optional() }),
      result: AlarmSchema,
    }),
    'vi.evidence': method({
      summary: "A VI's evidence ring (its latest sampled packets) as pcapng, base64",
      roles: staff,
      params: z.object({ viId: z.string().min(1).max(128) }),
      result: z.object({ viId: z.string(), samples: z.number().int(), dropped: z.number(), pcapng: z.string() }),
    }),
    'audit.list': method({
      summary: "This controller's audit entries after a sequence number, oldest first",
      roles: staff,
      params: z.object({ afterSeq: z.number().int().min(0).default(0), limit: z.number().int().min(1).max(10_000).default(500) }),
      result: z.object({ entries: z.array(LocalAuditEntrySchema) }),
      cost: listCost,
      resultCost: (r) => rowsCost(r.entries.length),
    }),
  },
  topics: {
    'vi.events': topic({
      summary: 'Every VI state change',
      roles: staff,
      params: z.object({}),
      item: ViEventSchema,
    }),
    alarms: topic({
      summary: 'Alarms as they are raised or repeat',
      roles: staff,
      params: z.object({}),
      item: AlarmSchema,
    }),
    'vi.samples': topic({
      summary: 'Sampled packets to and from VIs (bounded and lossy: a slow consumer loses the oldest), filtered at the controller',
      roles: staff,
      params: z.object({
        viId: z.string().min(1).max(128).optional(),
        ruleId: z.string().min(1).max(160).optional(),
        direction: z.enum(['to_vi', 'from_vi']).optional(),
      }),
      item: PacketSampleViewSchema,
    }),
    'vi.usage': topic({
      summary: 'Per-VI CPU and memory use, one item per running VI per sampling period',
      roles: staff,
      params: z.object({ viId: z.string().min(1).max(128).optional() }),
      item: ViUsageSchema,
    }),
  },
});

export type ControllerApi = typeof controllerApi;
