/**
 * The controller's configuration file (JSON): which cloudlet it runs, how it
 * reaches the scheduler, where consoles reach it, its node inventory, where it
 * keeps state, the trust anchors for prefix-ownership attestations, the ISP's
 * own demux rules, and optional Prometheus metrics. A bad file is refused with
 * the field and the reason, never half-loaded. Relative paths are relative to
 * the file.
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { dirname, isAbsolute, resolve } from 'node:path';
import { z } from 'zod';
import { describeIssues } from '../protocol/dispatcher.ts';
import { DemuxRuleSpecSchema, ResourcesSchema } from '../protocol/domain.ts';
import { IdSchema } from '../protocol/roles.ts';

const TokenSchema = z.discriminatedUnion('role', [
  z.strictObject({ token: z.string().min(16), role: z.literal('viewer'), name: z.string().max(128) }),
  z.strictObject({ token: z.string().min(16), role: z.literal('operator'), name: z.string().max(128) }),
]);

// ------------------------------------------------------------ sampled packets: evidence rings and sFlow export

/** "host:port", "[v6]:port": an sFlow collector. Hostnames are resolved once, when the exporter starts. */
const SflowCollectorSchema = z.string().transform((text, ctx) => {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text);
  const port = m ? Number(m[3]) : 0;
  if (!m || port < 1 || port > 65535) {
    ctx.addIssue({ code: 'custom', message: `collector "${text}" is not host:port with a port 1-65535 (e.g. 127.0.0.1:6343 or [::1]:6343)` });
    return z.NEVER;
  }
  const host = m[1] ?? m[2]!;
  if (m[1] !== undefined && isIP(host) !== 6) {
    ctx.addIssue({ code: 'custom', message: `collector "${text}": "${host}" in brackets is not an IPv6 address` });
    return z.NEVER;
  }
  return { host, port };
});

export const SflowConfigSchema = z.strictObject({
  collectors: z.array(SflowCollectorSchema).min(1, 'name at least one collector, or leave sflow out').max(8),
  /** The address collectors know this agent by (the controller's own, IPv4 or IPv6). */
  agentAddress: z.string().refine((a) => isIP(a) !== 0, { message: 'the agent address is an IPv4 or IPv6 address, e.g. 198.18.0.1' }),
  subAgentId: z.number().int().min(0).max(0xffff_ffff).default(0),
  /** sFlow's usual counter polling interval is 30 s. */
  counterIntervalMs: z.number().int().min(100).max(3_600_000).default(30_000),
  /** 1400 keeps a datagram unfragmented on any path with a 1500-byte MTU; 512 still fits one full sample. */
  maxDatagramBytes: z.number().int().min(512).max(1400).default(1400),
  /** Samples waiting to be sent; beyond this, new samples are dropped and counted (the data plane never waits). */
  queueSamples: z.number().int().min(16).max(1_000_000).default(8192),
});
export type SflowConfig = z.output<typeof SflowConfigSchema>;

export const EvidenceConfigSchema = z.strictObject({
  /** Each sample takes a 512-byte slot on disk: 16 MiB hold 32767 samples, so the default count bound is the tighter. */
  maxBytesPerVi: z.number().int().min(4096, 'at least 4096 bytes per VI').max(2 ** 32).default(16 * 2 ** 20),
  maxSamplesPerVi: z.number().int().min(1).max(8_000_000).default(20_000),
});
export type EvidenceConfig = z.output<typeof EvidenceConfigSchema>;

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
        /** "auto": namespaces and cgroups when root and available; "rlimits": never more than rlimits. */
        mode: z.enum(['auto', 'rlimits']).default('auto'),
        graceMs: z.number().int().min(0).max(60_000).default(3000),
        nofile: z.number().int().min(16).max(1_048_576).default(4096),
        usageIntervalMs: z.number().int().min(100).max(60_000).default(1000),
      })
      .default({ mode: 'auto', graceMs: 3000, nofile: 4096, usageIntervalMs: 1000 }),
    /** What a graceful shutdown does with running VIs: keep them (re-adopted on restart) or stop them. */
    onExit: z.enum(['keep', 'stop']).default('keep'),
    metrics: z.strictObject({ host: z.string().default('127.0.0.1'), port: z.number().int().min(0).max(65535) }).optional(),
    /** sFlow v5 export of sampled packets and VI port counters; off without it. */
    sflow: SflowConfigSchema.optional(),
    /** Bounds of each VI's evidence ring (stateDir/evidence). */
    evidence: EvidenceConfigSchema.default({ maxBytesPerVi: 16 * 2 ** 20, maxSamplesPerVi: 20_000 }),
  })
  .superRefine((c, ctx) => {
    const seen = new Set<string>();
    c.nodes.forEach((n, i) => {
      if (seen.has(n.id)) ctx.addIssue({ code: 'custom', path: ['nodes', i, 'id'], message: `node "${n.id}" is listed twice` });
      seen.add(n.id);
    });
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
