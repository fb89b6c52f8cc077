/**
 * The scheduler's configuration file: the ISP's inventory (PoPs, links,
 * cloudlets, nodes), the ISP share, pricing tiers, slot granularity, approval
 * policy, listen address and tokens. A bad file is refused with the field and
 * the reason ("config.topology.links[2].b: unknown PoP "x" (known: a, b)"),
 * never half-loaded.
 */
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { z } from 'zod';
import { describeIssues } from '../protocol/dispatcher.ts';
import { PrefixSchema, ResourcesSchema } from '../protocol/domain.ts';
import { LimitsConfigSchema } from '../protocol/limits.ts';
import { IdSchema } from '../protocol/roles.ts';

const TokenSchema = z.discriminatedUnion('role', [
  z.strictObject({ token: z.string().min(16), role: z.literal('viewer'), name: z.string().max(128) }),
  z.strictObject({ token: z.string().min(16), role: z.literal('operator'), name: z.string().max(128) }),
  z.strictObject({ token: z.string().min(16), role: z.literal('provider'), name: z.string().max(128), providerId: IdSchema }),
  z.strictObject({ token: z.string().min(16), role: z.literal('controller'), name: z.string().max(128), cloudletId: IdSchema }),
]);

const TierSchema = z.strictObject({
  /** The tier applies to the part of a provider's holdings (in base-price units) above this amount. */
  from: z.number().finite().nonnegative(),
  multiplier: z.number().finite().positive(),
});

const share = z.number().min(0).max(0.95);

export const SchedulerConfigSchema = z
  .strictObject({
    listen: z.strictObject({
      host: z.string().default('127.0.0.1'),
      port: z.number().int().min(0).max(65535).default(7400),
      tls: z.strictObject({ certFile: z.string(), keyFile: z.string(), caFile: z.string().optional() }).optional(),
    }).default({ host: '127.0.0.1', port: 7400 }),
    /** SQLite file, relative to the config file. */
    database: z.string().min(1).default('scheduler.sqlite'),
    tokens: z.array(TokenSchema).min(1, 'at least one token, or nobody can connect'),
    slotMs: z.number().int().min(1000).max(3_600_000).default(60_000),
    horizonDays: z.number().positive().max(366).default(30),
    holdTimeoutMs: z.number().int().min(10).max(120_000).default(5000),
    /** After a restart, how long reservations left approved or confirming wait for their controller to reconnect. */
    reconnectWaitMs: z.number().int().min(0).max(600_000).default(30_000),
    reportIntervalMs: z.number().int().min(100).default(5000),
    staleAfterMs: z.number().int().min(200).default(15_000),
    /** Writes that arrive within this window share one transaction (one fsync). */
    groupCommitMs: z.number().min(0).max(5).default(2),
    ispProviderId: IdSchema.default('isp'),
    ispShare: share.default(0.1),
    approval: z.strictObject({
      /** Provider ids whose admitted requests skip operator approval. */
      autoApprove: z.array(IdSchema).default([]),
      autoApproveAll: z.boolean().default(false),
    }).default({ autoApprove: [], autoApproveAll: false }),
    pricing: z.strictObject({
      currency: z.string().min(1).max(8).default('EUR'),
      /** Base price per unit-hour of each resource. */
      rates: ResourcesSchema.default({ cpu: 0.04, memMiB: 0.000005, diskGiB: 0.0001, netMbps: 0.0002 }),
      tiers: z.array(TierSchema).min(1).default([{ from: 0, multiplier: 1 }]),
      /** Fine for shrinking a running VI, as a fraction of the released capacity's base price. */
      shrinkFine: z.number().min(0).max(10).default(0.2),
    }).default({
      currency: 'EUR',
      rates: { cpu: 0.04, memMiB: 0.000005, diskGiB: 0.0001, netMbps: 0.0002 },
      tiers: [{ from: 0, multiplier: 1 }],
      shrinkFine: 0.2,
    }),
    /** The ISP's registry of verified prefix ownership, per provider. */
    providers: z.array(z.strictObject({ id: IdSchema, prefixes: z.array(PrefixSchema).default([]) })).default([]),
    topology: z.strictObject({
      pops: z.array(z.strictObject({ id: IdSchema, name: z.string().max(128).optional() })).min(1),
      links: z.array(z.strictObject({ a: IdSchema, b: IdSchema, rttMs: z.number().finite().positive(), capacityMbps: z.number().finite().positive() })).default([]),
      cloudlets: z.array(
        z.strictObject({
          id: IdSchema,
          popId: IdSchema,
          ispShare: share.optional(),
          nodes: z.array(z.strictObject({ id: IdSchema, capacity: ResourcesSchema })).min(1, 'a cloudlet has at least one node'),
        }),
      ).min(1),
    }),
    /** Connection and per-principal bounds over the defaults of protocol/limits.ts. */
    limits: LimitsConfigSchema.default({}),
  })
  .superRefine((c, ctx) => {
    const pops = new Set<string>();
    c.topology.pops.forEach((p, i) => {
      if (pops.has(p.id)) ctx.addIssue({ code: 'custom', path: ['topology', 'pops', i, 'id'], message: `PoP "${p.id}" is listed twice` });
      pops.add(p.id);
    });
    const known = (): string => [...pops].slice(0, 10).join(', ');
    c.topology.links.forEach((l, i) => {
      for (const end of ['a', 'b'] as const) {
        if (!pops.has(l[end])) ctx.addIssue({ code: 'custom', path: ['topology', 'links', i, end], message: `unknown PoP "${l[end]}" (known: ${known()})` });
      }
      if (l.a === l.b) ctx.addIssue({ code: 'custom', path: ['topology', 'links', i], message: `a link joins two different PoPs, not "${l.a}" to itself` });
    });
    const cloudlets = new Set<string>();
    const nodes = new Set<string>();
    c.topology.cloudlets.forEach((cl, i) => {
      if (cloudlets.has(cl.id)) ctx.addIssue({ code: 'custom', path: ['topology', 'cloudlets', i, 'id'], message: `cloudlet "${cl.id}" is listed twice` });
      cloudlets.add(cl.id);
      if (!pops.has(cl.popId)) ctx.addIssue({ code: 'custom', path: ['topology', 'cloudlets', i, 'popId'], message: `unknown PoP "${cl.popId}" (known: ${known()})` });
      cl.nodes.forEach((n, j) => {
        if (nodes.has(n.id)) ctx.addIssue({ code: 'custom', path: ['topology', 'cloudlets', i, 'nodes', j, 'id'], message: `node "${n.id}" is listed twice: node ids are unique ISP-wide` });
        nodes.add(n.id);
      });
    });
    c.tokens.forEach((t, i) => {
      if (t.role === 'controller' && !cloudlets.has(t.cloudletId)) {
        ctx.addIssue({ code: 'custom', path: ['tokens', i, 'cloudletId'], message: `unknown cloudlet "${t.cloudletId}"` });
      }
    });
    const tiers = c.pricing.tiers;
    if (tiers[0] && tiers[0].from !== 0) ctx.addIssue({ code: 'custom', path: ['pricing', 'tiers', 0, 'from'], message: 'the first tier starts at 0' });
    for (let i = 1; i < tiers.length; i++) {
      const prev = tiers[i - 1];
      const cur = tiers[i];
      if (prev && cur && cur.from <= prev.from) {
        ctx.addIssue({ code: 'custom', path: ['pricing', 'tiers', i, 'from'], message: `tiers ascend: ${cur.from} must be above the previous tier's ${prev.from}` });
      }
    }
    if (c.staleAfterMs <= c.reportIntervalMs) {
      ctx.addIssue({ code: 'custom', path: ['staleAfterMs'], message: `must exceed reportIntervalMs (${c.reportIntervalMs}), or every cloudlet goes stale between reports` });
    }
  });

export type SchedulerConfig = z.output<typeof SchedulerConfigSchema>;
export type SchedulerConfigInput = z.input<typeof SchedulerConfigSchema>;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Parses an already-read object; `where` names the source in errors. */
export function parseSchedulerConfig(raw: unknown, where = 'config'): SchedulerConfig {
  const parsed = SchedulerConfigSchema.safeParse(raw);
  if (!parsed.success) throw new ConfigError(`${where} refused: ${describeIssues(parsed.error, 'config')}`);
  return parsed.data;
}

/** Reads a JSON config file; the database path becomes absolute, relative to the file. */
export function loadSchedulerConfig(file: string): SchedulerConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(`cannot read config ${file}: ${(e as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(`config ${file} is not valid JSON: ${(e as Error).message}`);
  }
  const config = parseSchedulerConfig(raw, `config ${file}`);
  const base = dirname(resolve(file));
  const database = config.database === ':memory:' || isAbsolute(config.database) ? config.database : resolve(base, config.database);
  const tls = config.listen.tls
    ? {
        certFile: resolve(base, config.listen.tls.certFile),
        keyFile: resolve(base, config.listen.tls.keyFile),
        ...(config.listen.tls.caFile ? { caFile: resolve(base, config.listen.tls.caFile) } : {}),
      }
    : undefined;
  return { ...config, database, listen: { ...config.listen, ...(tls ? { tls } : {}) } };
}
