/**
 * How much of one resource a node or cloudlet has, told apart:
 *   reserved  - what the controller has allocated to VIs (total - available
 *               in its report): what admission counts;
 *   measured  - what those VIs actually use (their last usage samples,
 *               CPU and memory only: disk and network are not measured).
 * A node reported down has no usable capacity at all: it reads "down", never
 * "100% reserved", and it counts in neither its cloudlet's reserved nor its
 * total. The utilization overlay draws the reserved band; the detail panel
 * lists both per resource.
 */
import type { CloudletView, NodeView } from '../../../main/protocol/domain.ts';
import type { ResourceKey } from './topologyOverlay.ts';
import type { TopologyItem, ViSummary } from './topologyModel.ts';

export type UtilizationBand = 'low' | 'mid' | 'high' | 'none' | 'down';

export interface UtilizationReading {
  /** Capacity of the reporting, not-down nodes (in the resource's unit). */
  total: number;
  /** Allocated to VIs (null before the first report). */
  reserved: number | null;
  /** Used by VIs as sampled (null where not measured or no VI reports usage). */
  measured: number | null;
  /** Every node in it is reported down. */
  down: boolean;
}

const measuredResources: Partial<Record<ResourceKey, (u: NonNullable<ViSummary['usage']>) => number>> = {
  cpu: (u) => u.cpuCores,
  memMiB: (u) => u.memMiB,
};

function measuredOn(vis: readonly ViSummary[] | undefined, resource: ResourceKey): number | null {
  const read = measuredResources[resource];
  if (!read || vis === undefined) return null;
  // No VI on the node: nothing is used. VIs without a sample yet: unknown.
  if (vis.length === 0) return 0;
  const samples = vis.flatMap((v) => (v.usage ? [v.usage] : []));
  return samples.length ? samples.reduce((sum, u) => sum + read(u), 0) : null;
}

export function nodeReading(node: NodeView, resource: ResourceKey, vis?: readonly ViSummary[]): UtilizationReading {
  const r = node.reported;
  if (r?.health === 'down') return { total: node.capacity[resource], reserved: null, measured: null, down: true };
  if (!r || r.total[resource] <= 0) return { total: node.capacity[resource], reserved: null, measured: null, down: false };
  const reserved = Math.max(0, r.total[resource] - r.available[resource]);
  return { total: r.total[resource], reserved, measured: measuredOn(vis, resource), down: false };
}

/** Sums over the cloudlet's reporting nodes that are not down. */
export function cloudletReading(cloudlet: CloudletView, resource: ResourceKey, visByNode: ReadonlyMap<string, ViSummary[]> = new Map()): UtilizationReading {
  let total = 0;
  let reserved = 0;
  let measured = 0;
  let anyMeasured = false;
  let reporting = 0;
  let down = 0;
  for (const n of cloudlet.nodes) {
    const reading = nodeReading(n, resource, visByNode.get(n.id) ?? []);
    if (reading.down) down += 1;
    if (reading.reserved === null) continue;
    reporting += 1;
    total += reading.total;
    reserved += reading.reserved;
    if (reading.measured !== null) {
      measured += reading.measured;
      anyMeasured = true;
    }
  }
  const allDown = cloudlet.nodes.length > 0 && down === cloudlet.nodes.length;
  return { total, reserved: reporting ? reserved : null, measured: anyMeasured ? measured : null, down: allDown };
}

/** Share (0..1) of a reading's total, or null when there is nothing to divide. */
export function shareOf(amount: number | null, reading: UtilizationReading): number | null {
  if (amount === null || reading.total <= 0) return null;
  return Math.min(1, Math.max(0, amount / reading.total));
}

export function bandOf(share: number | null): UtilizationBand {
  if (share === null) return 'none';
  return share >= 0.8 ? 'high' : share >= 0.5 ? 'mid' : 'low';
}

export function readingBand(reading: UtilizationReading): UtilizationBand {
  return reading.down ? 'down' : bandOf(shareOf(reading.reserved, reading));
}

export function utilizationOf(item: TopologyItem, resource: ResourceKey, visByNode: ReadonlyMap<string, ViSummary[]> = new Map()): UtilizationReading | undefined {
  if (item.kind === 'node') return nodeReading(item.node, resource, visByNode.get(item.id) ?? []);
  if (item.kind === 'cloudlet') return cloudletReading(item.cloudlet, resource, visByNode);
  return undefined;
}
