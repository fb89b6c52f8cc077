/**
 * The console's own API: what the renderer may ask of the console backend.
 * Declared once; served by Electron IPC (main/shell, through the preload's
 * window.pcloud) and by the headless host's WebSocket bridge. The renderer
 * cannot tell which transport it has.
 */
import { z } from 'zod';
import { defineContract, method, topic } from './contract.ts';
import { staff } from './roles.ts';

export const SessionIdSchema = z.string().regex(/^t[0-9]{1,9}$/, 'a terminal session id looks like "t12"');

export const TerminalTargetSchema = z.discriminatedUnion('kind', [
  /** The user's own shell ($SHELL, else /bin/sh). */
  z.object({ kind: z.literal('local') }),
  /** A shell with pcctl on PATH, configured for the current connection (URL and token in its environment). */
  z.object({ kind: z.literal('connection') }),
]);
export type TerminalTarget = z.infer<typeof TerminalTargetSchema>;

const cols = z.number().int().min(2).max(1000);
const rows = z.number().int().min(1).max(500);

export const TerminalFrameSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('data'), data: z.string() }),
  z.object({ kind: z.literal('status'), level: z.enum(['info', 'error']), message: z.string() }),
  z.object({ kind: z.literal('exit'), exitCode: z.number().int().nullable(), signal: z.string().nullable() }),
]);
export type TerminalFrame = z.infer<typeof TerminalFrameSchema>;

export const TerminalSummarySchema = z.object({
  sessionId: SessionIdSchema,
  title: z.string(),
  state: z.enum(['starting', 'running', 'exited', 'failed']),
  pid: z.number().int().nullable(),
});

export const AppInfoSchema = z.object({
  name: z.string(),
  version: z.string(),
  platform: z.string(),
  transport: z.enum(['electron', 'headless']),
  dataDir: z.string(),
});
export type AppInfo = z.infer<typeof AppInfoSchema>;

export const ConnectionStatusSchema = z.object({
  /** The embedded lab, a saved remote profile, or nothing yet. */
  kind: z.enum(['lab', 'remote', 'none']),
  /** Lab topology name or profile name. */
  name: z.string(),
  schedulerUrl: z.string().nullable(),
  state: z.enum(['idle', 'starting', 'connected', 'reconnecting', 'failed']),
  /** What is happening or what failed, in words an operator can act on. */
  message: z.string(),
  /** Progress of a long start (lab processes up / total). */
  progress: z.object({ done: z.number().int(), total: z.number().int() }).nullable(),
  /** An embedded lab's network: real namespaces and routers, or the userspace traffic source; and why. */
  labMode: z.object({ kind: z.enum(['namespaces', 'userspace']), reason: z.string() }).optional(),
});
export type ConnectionStatus = z.infer<typeof ConnectionStatusSchema>;

export const ProfileSchema = z.object({
  name: z.string().min(1).max(64).regex(/^[A-Za-z0-9][A-Za-z0-9 ._-]*$/, 'a profile name is letters, digits, spaces, ".", "_" or "-"'),
  schedulerUrl: z.string().max(512).regex(/^wss?:\/\//, 'a scheduler URL starts with ws:// or wss://'),
});
export type Profile = z.infer<typeof ProfileSchema>;

const PositionSchema = z.object({ x: z.number().finite(), y: z.number().finite() });

export const LabTopologySummarySchema = z.object({ name: z.string(), title: z.string(), description: z.string(), pops: z.number().int(), nodes: z.number().int() });

/** One experiment of the paper's evaluation (main/console/experiments/), as listed. */
export const ExperimentSummarySchema = z.object({
  name: z.string(),
  title: z.string(),
  /** What the paper reports, in a line. */
  paper: z.string(),
  /** Null when this host can run it, else what it needs ("root (network namespaces)", "service aes-encrypt"). */
  needs: z.string().nullable(),
  estimateSeconds: z.object({ quick: z.number(), full: z.number() }),
});
export type ExperimentSummary = z.infer<typeof ExperimentSummarySchema>;

export const ExperimentProgressSchema = z.object({
  name: z.string(),
  quick: z.boolean(),
  state: z.enum(['running', 'done', 'failed']),
  /** What runs now, in words. */
  step: z.string(),
  /** Fraction of the work done, 0..1. */
  fraction: z.number().min(0).max(1),
  /** Estimate of the time left (s): from the pace so far once there is one, else from the experiment's estimate. */
  secondsLeft: z.number().nonnegative(),
  startedAt: z.number(),
  /** Where the run writes (experiments/<name>/<timestamp>/ in the data folder, or --out). */
  outDir: z.string(),
  error: z.string().nullable(),
});
export type ExperimentProgress = z.infer<typeof ExperimentProgressSchema>;

/** A quantity of ours beside the paper's (paper null: the paper gives no number for it). */
export const ComparisonRowSchema = z.object({
  quantity: z.string(),
  unit: z.string(),
  ours: z.number().nullable(),
  paper: z.number().nullable(),
  /** ours / paper, when both exist. */
  ratio: z.number().nullable(),
});
export type ComparisonRow = z.infer<typeof ComparisonRowSchema>;

/** A finished run as the console shows it: its table, why it differs, and its figures as SVG text. */
export const ExperimentRunSchema = z.object({
  name: z.string(),
  quick: z.boolean(),
  dir: z.string(),
  startedAt: z.number(),
  seconds: z.number(),
  table: z.array(ComparisonRowSchema),
  why: z.string(),
  notes: z.array(z.string()),
  figures: z.array(z.object({ id: z.string(), title: z.string(), svg: z.string() })),
});
export type ExperimentRun = z.infer<typeof ExperimentRunSchema>;

/** A call relayed to the connected scheduler or a controller: method names and shapes are theirs. */
const RelayParamsSchema = z.object({ method: z.string().min(1).max(128), params: z.unknown().optional() });

export const consoleApi = defineContract({
  name: 'console' as const,
  version: 1 as const,
  methods: {
    'app.info': method({ summary: 'Version, platform and where data lives', roles: staff, params: z.object({}), result: AppInfoSchema }),
    'terminal.open': method({
      summary: 'Start a terminal session; attach to its frames with the single-use token',
      roles: ['operator'],
      params: z.object({ target: TerminalTargetSchema, cols, rows }),
      result: z.object({ sessionId: SessionIdSchema, attachToken: z.string(), title: z.string() }),
    }),
    'terminal.input': method({
      summary: 'Keystrokes or pasted text for a session',
      roles: ['operator'],
      params: z.object({ sessionId: SessionIdSchema, data: z.string().max(64 * 1024) }),
      result: z.object({}),
    }),
    'terminal.resize': method({
      summary: 'The terminal view changed size',
      roles: ['operator'],
      params: z.object({ sessionId: SessionIdSchema, cols, rows }),
      result: z.object({}),
    }),
    'terminal.close': method({
      summary: 'End a session; only the process this console started is signalled',
      roles: ['operator'],
      params: z.object({ sessionId: SessionIdSchema }),
      result: z.object({}),
    }),
    'terminal.list': method({ summary: 'Sessions this console owns', roles: ['operator'], params: z.object({}), result: z.array(TerminalSummarySchema) }),
    'connection.status': method({ summary: 'What the console is connected to', roles: staff, params: z.object({}), result: ConnectionStatusSchema }),
    'connection.useLab': method({
      summary: 'Start (or switch to) the embedded lab on a topology from resources/labs',
      roles: ['operator'],
      params: z.object({ topology: z.string().max(64).optional() }),
      result: ConnectionStatusSchema,
    }),
    'connection.useProfile': method({ summary: 'Connect to a saved remote scheduler', roles: ['operator'], params: z.object({ name: z.string().max(64) }), result: ConnectionStatusSchema }),
    'lab.topologies': method({ summary: 'Topologies the embedded lab can run', roles: staff, params: z.object({}), result: z.array(LabTopologySummarySchema) }),
    'profile.list': method({ summary: 'Saved connection profiles (tokens never leave the backend)', roles: staff, params: z.object({}), result: z.array(ProfileSchema.extend({ hasToken: z.boolean() })) }),
    'profile.save': method({
      summary: 'Save a remote scheduler profile; the token is kept in the OS keychain (Electron safeStorage) or a 0600 file (headless)',
      roles: ['operator'],
      params: ProfileSchema.extend({ token: z.string().min(16).max(512) }),
      result: z.object({}),
    }),
    'profile.remove': method({ summary: 'Forget a saved profile and its token', roles: ['operator'], params: z.object({ name: z.string().max(64) }), result: z.object({}) }),
    'layout.get': method({
      summary: 'Saved node positions of a topology view',
      roles: staff,
      params: z.object({ topology: z.string().min(1).max(128) }),
      result: z.object({ positions: z.record(z.string(), PositionSchema) }),
    }),
    'layout.save': method({
      summary: 'Save node positions of a topology view (merged with what is saved)',
      roles: staff,
      params: z.object({ topology: z.string().min(1).max(128), positions: z.record(z.string().max(128), PositionSchema) }),
      result: z.object({}),
    }),
    'experiment.list': method({ summary: "The paper's experiments, each with what it needs on this host", roles: staff, params: z.object({}), result: z.array(ExperimentSummarySchema) }),
    'experiment.start': method({
      summary: 'Start one experiment (refused while another runs); follow it on experiment.progress',
      roles: ['operator'],
      params: z.object({ name: z.string().min(1).max(64), quick: z.boolean().default(true) }),
      result: ExperimentProgressSchema,
    }),
    'experiment.status': method({ summary: 'The running (or last) experiment, or null', roles: staff, params: z.object({}), result: ExperimentProgressSchema.nullable() }),
    'experiment.lastRun': method({
      summary: "An experiment's newest finished run in the data folder, with its table and figures",
      roles: staff,
      params: z.object({ name: z.string().min(1).max(64) }),
      result: ExperimentRunSchema.nullable(),
    }),
    'scheduler.call': method({
      summary: 'Relay one call to the connected scheduler (its contract: main/protocol/schedulerApi.ts)',
      roles: staff,
      params: RelayParamsSchema,
      result: z.unknown(),
    }),
    'controller.call': method({
      summary: "Relay one call to a cloudlet's controller (its contract: main/protocol/controllerApi.ts)",
      roles: staff,
      params: RelayParamsSchema.extend({ cloudletId: z.string().max(64) }),
      result: z.unknown(),
    }),
  },
  topics: {
    'terminal.frames': topic({
      summary: 'Output, status and exit frames of one session (needs its single-use attach token)',
      roles: ['operator'],
      params: z.object({ sessionId: SessionIdSchema, attachToken: z.string().min(1).max(128) }),
      item: TerminalFrameSchema,
    }),
    'experiment.progress': topic({ summary: 'Progress of the running experiment (step, fraction, time left), then its end', roles: staff, params: z.object({}), item: ExperimentProgressSchema }),
    'connection.changes': topic({ summary: 'Connection status whenever it changes', roles: staff, params: z.object({}), item: ConnectionStatusSchema }),
    'scheduler.subscribe': topic({
      summary: "Relay a topic of the connected scheduler (e.g. scheduler.events); it ends when the connection changes",
      roles: staff,
      params: z.object({ topic: z.string().max(128), params: z.unknown().optional() }),
      item: z.unknown(),
    }),
    'controller.subscribe': topic({
      summary: "Relay a topic of a cloudlet's controller (VI states, alarms, resource use)",
      roles: staff,
      params: z.object({ cloudletId: z.string().max(64), topic: z.string().max(128), params: z.unknown().optional() }),
      item: z.unknown(),
    }),
  },
});

export type ConsoleApi = typeof consoleApi;

/** Electron IPC channels that carry the console API (used by main/shell and preload only). */
export const consoleIpc = {
  call: 'pcloud:call',
  subscribe: 'pcloud:subscribe',
  unsubscribe: 'pcloud:unsubscribe',
  event: 'pcloud:event',
  /** Renderer to main: this many items were handed to their listeners (credit for more). */
  ack: 'pcloud:ack',
} as const;
