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
  },
  topics: {
    'terminal.frames': topic({
      summary: 'Output, status and exit frames of one session (needs its single-use attach token)',
      roles: ['operator'],
      params: z.object({ sessionId: SessionIdSchema, attachToken: z.string().min(1).max(128) }),
      item: TerminalFrameSchema,
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
} as const;
