/**
 * The controller's configuration file (JSON): which cloudlet it runs, how it
 * reaches the scheduler, where consoles reach it, its node inventory, where it
 * keeps state, the trust anchors for prefix-ownership attestations, the ISP's
 * own demux rules, and optional Prometheus metrics. A bad file is refused with
 * the field and the reason, never half-loaded. Relative paths are relative to
 * the file.
 */
import { accessSync, constants, mkdirSync, readFileSync, statfsSync, statSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { z } from 'zod';
import { describeIssues } from '../protocol/dispatcher.ts';
import { isLoopbackHost } from '../protocol/listen.ts';
import { DemuxRuleSpecSchema, ResourcesSchema } from '../protocol/domain.ts';
import { IdSchema } from '../protocol/roles.ts';

const TokenSchema = z.discriminatedUnion('role', [
  z.strictObject({ token: z.string().min(16), role: z.literal('viewer'), name: z.string().max(128) }),
  z.strictObject({ token: z.string().min(16), role: z.literal('operator'), name: z.string().max(128) }),
]);

export const ControllerConfigSchema = z
  .strictObject({
    cloudletId: IdSchema,
    scheduler: z.strictObject({
      url: z.string().regex(/^wss?:\/\//, 'the scheduler URL starts with ws:// or wss://'),
      token: z.string().min(16),
      /** CA bundle (file) for a wss:// scheduler with a private certificate. */
      caFile: z.string().optional(),
      /** First reconnect delay; doubles up to maxBackoffMs, with +-30% jitter. */
      backoffMs: z.number().int().min(10).max(60_000).default(500),
      maxBackoffMs: z.number().int().min(100).max(600_000).default(15_000),
      reportIntervalMs: z.number().int().min(100).max(60_000).default(2000),
    }),
    listen: z
      .strictObject({
        host: z.string().default('127.0.0.1'),
        port: z.number().int().min(0).max(65535).default(7500),
        tls: z.strictObject({ cert: z.string(), key: z.string() }).optional(),
        /** The URL consoles should use, sent to the scheduler in hello (default: ws://host:port). */
        advertiseUrl: z.string().max(512).optional(),
      })
      .default({ host: '127.0.0.1', port: 7500 }),
    tokens: z.array(TokenSchema).default([]),
    nodes: z.array(z.strictObject({ id: IdSchema, capacity: ResourcesSchema })).min(1, 'a cloudlet has at least one node'),
    stateDir: z.string().min(1),
    /** Ed25519 public keys (PEM, or base64 of the 32 raw bytes) whose attestations prove prefix ownership. */
    trustAnchors: z.array(z.strictObject({ name: z.string().min(1).max(128), publicKey: z.string().min(32).max(4096) })).default([]),
    /** The ISP's own rules: tenants may not shadow them. */
    ispRules: z.array(DemuxRuleSpecSchema).max(1024).default([]),
    /** Service programs by id; "monitor" is built in. */
    programs: z.record(IdSchema, z.strictObject({ command: z.array(z.string().min(1)).min(1) })).default({}),
    sandbox: z
      .strictObject({
        /** "auto": namespaces and cgroups when root and available; "rlimits": neither (a root controller still gives each VI a user of its own). */
        mode: z.enum(['auto', 'rlimits']).default('auto'),
        graceMs: z.number().int().min(0).max(60_000).default(3000),
        nofile: z.number().int().min(16).max(1_048_576).default(4096),
        usageIntervalMs: z.number().int().min(100).max(60_000).default(1000),
        /**
         * The most tasks a VI may have: processes and threads (a Node program alone has about 7),
         * enforced by its pids cgroup, else by RLIMIT_NPROC on its own user.
         */
        maxProcesses: z.number().int().min(8).max(65_536).default(128),
        /** The uids VIs get one each of (a root controller only); nothing else on the host may use them. */
        viUids: z.strictObject({ first: z.number().int().min(1000).max(2 ** 31 - 2), count: z.number().int().min(1).max(2 ** 30) }).default({ first: 1_500_000_000, count: 100_000_000 }),
      })
      .default({ mode: 'auto', graceMs: 3000, nofile: 4096, usageIntervalMs: 1000, maxProcesses: 128, viUids: { first: 1_500_000_000, count: 100_000_000 } }),
    /** What a graceful shutdown does with running VIs: keep them (re-adopted on restart) or stop them. */
    onExit: z.enum(['keep', 'stop']).default('keep'),
    metrics: z.strictObject({ host: z.string().default('127.0.0.1'), port: z.number().int().min(0).max(65535) }).optional(),
  })
  .superRefine((c, ctx) => {
    const seen = new Set<string>();
    c.nodes.forEach((n, i) => {
      if (seen.has(n.id)) ctx.addIssue({ code: 'custom', path: ['nodes', i, 'id'], message: `node "${n.id}" is listed twice` });
      seen.add(n.id);
    });
    // Checked here, before the daemon makes anything (cgroups, state), so a refused config leaves nothing behind.
    if (!isLoopbackHost(c.listen.host) && !c.listen.tls) {
      ctx.addIssue({ code: 'custom', path: ['listen', 'host'], message: `refusing to listen on ${c.listen.host} without TLS; use 127.0.0.1 (and an SSH tunnel) or give listen.tls a certificate and key` });
    }
    if (c.sandbox.viUids.first + c.sandbox.viUids.count > 2 ** 31 - 1) {
      ctx.addIssue({ code: 'custom', path: ['sandbox', 'viUids', 'count'], message: `the range ends past uid ${2 ** 31 - 2}` });
    }
    if (c.scheduler.maxBackoffMs < c.scheduler.backoffMs) {
      ctx.addIssue({ code: 'custom', path: ['scheduler', 'maxBackoffMs'], message: `must be at least backoffMs (${c.scheduler.backoffMs})` });
    }
  });

export type ControllerConfig = z.output<typeof ControllerConfigSchema>;
export type ControllerConfigInput = z.input<typeof ControllerConfigSchema>;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export function parseControllerConfig(raw: unknown, where = 'config'): ControllerConfig {
  const parsed = ControllerConfigSchema.safeParse(raw);
  if (!parsed.success) throw new ConfigError(`${where} refused: ${describeIssues(parsed.error, 'config')}`);
  return parsed.data;
}

/** Reads a JSON config file; file paths in it become absolute, relative to the file. */
export function loadControllerConfig(file: string): ControllerConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new ConfigError(`cannot load config ${file}: ${(e as Error).message}`);
  }
  const config = parseControllerConfig(raw, `config ${file}`);
  const base = dirname(resolve(file));
  const abs = (p: string): string => (isAbsolute(p) ? p : resolve(base, p));
  return {
    ...config,
    stateDir: abs(config.stateDir),
    scheduler: { ...config.scheduler, ...(config.scheduler.caFile ? { caFile: abs(config.scheduler.caFile) } : {}) },
    listen: { ...config.listen, ...(config.listen.tls ? { tls: { cert: abs(config.listen.tls.cert), key: abs(config.listen.tls.key) } } : {}) },
  };
}

/** Kernel filesystems (statfs f_type) that cannot hold a state directory. */
const SPECIAL_FILESYSTEMS = new Map<number, string>([
  [0x9fa0, 'proc'],
  [0x62656572, 'sysfs'],
  [0x27e0eb, 'cgroup'],
  [0x63677270, 'cgroup2'],
  [0x1cd1, 'devpts'],
  [0x64626720, 'debugfs'],
  [0x74726163, 'tracefs'],
  [0x73636673, 'securityfs'],
  [0xcafe4a11, 'bpf'],
]);

/**
 * Makes the state directory (and `sub` in it), or says exactly why not. One
 * level at a time, never `mkdir -p`: Node's recursive mkdir loops forever on
 * a path the kernel answers ENOENT for however often it is asked (anything
 * under /proc), which hung start-up.
 */
export function makeStateDir(stateDir: string, sub: string, mode = 0o700): void {
  const refuse = (why: string): never => {
    throw new ConfigError(`stateDir ${stateDir} cannot be used: ${why}`);
  };
  if (!isAbsolute(stateDir)) refuse('it is not an absolute path');
  let existing = resolve(stateDir);
  const missing: string[] = [];
  for (;;) {
    try {
      if (!statSync(existing).isDirectory()) refuse(`${existing} is not a directory`);
      break;
    } catch (e) {
      if (e instanceof ConfigError) throw e;
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') refuse(`${existing}: ${(e as Error).message}`);
      missing.unshift(existing);
      existing = dirname(existing);
    }
  }
  const fsType = SPECIAL_FILESYSTEMS.get(Number(statfsSync(existing).type));
  if (fsType) refuse(`${existing} is on the kernel's ${fsType} filesystem, which cannot hold files`);
  for (const dir of [...missing, resolve(stateDir, sub)]) {
    try {
      mkdirSync(dir, { mode });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') refuse(`cannot create ${dir}: ${(e as Error).message}`);
    }
  }
  try {
    accessSync(stateDir, constants.W_OK | constants.X_OK);
  } catch (e) {
    refuse(`it is not writable: ${(e as Error).message}`);
  }
}
