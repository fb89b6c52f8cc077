/**
 * Lab topology files (resources/labs/*.json): the PoPs, links and cloudlets an
 * embedded lab runs. A link may give its RTT or leave it to be derived from
 * the great-circle distance between its PoPs' locations, at the speed of light
 * in fibre (about 2/3 c, so 1 ms of RTT per 100 km).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { describeIssues } from '../protocol/dispatcher.ts';
import { ResourcesSchema } from '../protocol/domain.ts';
import { IdSchema } from '../protocol/roles.ts';

const LocationSchema = z.strictObject({ lat: z.number().min(-90).max(90), lon: z.number().min(-180).max(180) });

export const LabTopologySchema = z
  .strictObject({
    name: z.string().regex(/^[a-z0-9-]{1,32}$/, 'a topology name is lower-case letters, digits and "-"'),
    title: z.string().max(128),
    description: z.string().max(2048),
    pops: z.array(z.strictObject({ id: IdSchema, name: z.string().max(128), kind: z.enum(['host', 'router']), location: LocationSchema.optional() })).min(1),
    links: z.array(z.strictObject({ a: IdSchema, b: IdSchema, rttMs: z.number().positive().optional(), capacityMbps: z.number().positive(), lossPercent: z.number().min(0).max(100).optional() })),
    cloudlets: z.array(z.strictObject({ id: IdSchema, popId: IdSchema, nodes: z.array(z.strictObject({ id: IdSchema, capacity: ResourcesSchema })).min(1) })).min(1),
  })
  .superRefine((t, ctx) => {
    const pops = new Map(t.pops.map((p) => [p.id, p]));
    t.links.forEach((l, i) => {
      for (const end of ['a', 'b'] as const) {
        if (!pops.has(l[end])) ctx.addIssue({ code: 'custom', path: ['links', i, end], message: `unknown PoP "${l[end]}"` });
      }
      if (l.rttMs === undefined && (!pops.get(l.a)?.location || !pops.get(l.b)?.location)) {
        ctx.addIssue({ code: 'custom', path: ['links', i, 'rttMs'], message: 'give rttMs, or a location for both PoPs so it can be derived' });
      }
    });
    t.cloudlets.forEach((c, i) => {
      if (!pops.has(c.popId)) ctx.addIssue({ code: 'custom', path: ['cloudlets', i, 'popId'], message: `unknown PoP "${c.popId}"` });
    });
  });
export type LabTopology = z.output<typeof LabTopologySchema>;

const earthRadiusKm = 6371.0088;
/** Light in fibre covers about 200 km per millisecond. */
const fibreKmPerMs = 199_862;

/** Great-circle (haversine) distance in km. */
export function greatCircleKm(a: { lat: number; lon: number }, b: { lat: number; lon: number }): number {
  const rad = Math.PI / 180;
  const dLat = (b.lat - a.lat) * rad;
  const dLon = (b.lon - a.lon) * rad;
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin(dLon / 2) ** 2;
  return 2 * earthRadiusKm * Math.asin(Math.min(1, Math.sqrt(h)));
}

/** Round-trip time over a fibre path as long as the great circle, in ms (0.1 ms resolution). */
export function fibreRttMs(km: number): number {
  return Math.max(0.1, Math.round(((2 * km) / (fibreKmPerMs / 1000)) * 10) / 10);
}

export interface ResolvedLink {
  a: string;
  b: string;
  rttMs: number;
  capacityMbps: number;
}

export function resolveLinks(topology: LabTopology): ResolvedLink[] {
  const pops = new Map(topology.pops.map((p) => [p.id, p]));
  return topology.links.map((l) => {
    if (l.rttMs !== undefined) return { a: l.a, b: l.b, rttMs: l.rttMs, capacityMbps: l.capacityMbps };
    const a = pops.get(l.a)?.location;
    const b = pops.get(l.b)?.location;
    if (!a || !b) throw new Error(`link ${l.a}-${l.b} has no RTT and no locations to derive one`);
    return { a: l.a, b: l.b, rttMs: fibreRttMs(greatCircleKm(a, b)), capacityMbps: l.capacityMbps };
  });
}

/**
 * resources/labs: in the repository above this file (from sources or from a
 * bundle in dist/main/), or beside a packaged app (electron-builder's
 * extraResources put resources/ under process.resourcesPath).
 */
export function labsDir(): string {
  const candidates: string[] = [];
  for (let dir = dirname(fileURLToPath(import.meta.url)), up = 0; up < 4; up++, dir = dirname(dir)) candidates.push(join(dirname(dir), 'resources', 'labs'));
  if (process.resourcesPath) candidates.push(join(process.resourcesPath, 'resources', 'labs'));
  const found = candidates.find((d) => existsSync(d));
  if (!found) throw new Error(`no lab topologies found in ${candidates.join(' or ')}`);
  return found;
}

export const defaultLabTopology = 'deterlab';

export function loadLabTopology(name: string, dir = labsDir()): LabTopology {
  const file = join(dir, `${name}.json`);
  if (!/^[a-z0-9-]{1,32}$/.test(name) || !existsSync(file)) {
    throw new Error(`no lab topology "${name}" (known: ${listLabTopologies(dir).map((t) => t.name).join(', ')})`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`${file} is not valid JSON: ${(e as Error).message}`, { cause: e });
  }
  const parsed = LabTopologySchema.safeParse(raw);
  if (!parsed.success) throw new Error(`${file} refused: ${describeIssues(parsed.error, 'topology')}`);
  if (parsed.data.name !== basename(file, '.json')) throw new Error(`${file}: its name "${parsed.data.name}" must match the file name`);
  return parsed.data;
}

export function listLabTopologies(dir = labsDir()): LabTopology[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => loadLabTopology(basename(f, '.json'), dir));
}
