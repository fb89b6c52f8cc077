/**
 * VIs per node, from each cloudlet's controller (controllerApi.ts): `vi.list`
 * for the snapshot, then `vi.events` for every state change and `vi.usage`
 * for what each VI measurably uses (the utilization overlay's "measured").
 *
 * A console connection may hold only a few dozen subscriptions (two per
 * followed cloudlet here), so small topologies follow every connected cloudlet, while big ones follow only the
 * cloudlet the operator is looking at (the one selected), one at a time.
 * A controller that does not answer leaves its nodes without VIs and says so.
 */
import type { ViView } from '../../../main/protocol/controllerApi.ts';
import type { CloudletView } from '../../../main/protocol/domain.ts';
import { shownViStates } from '../../../main/protocol/vocabulary.ts';
import { toApiError } from '../../api/index.ts';
import { controllerCall, controllerSubscribe } from '../../api/relay.ts';
import type { ViSummary } from './topologyModel.ts';

/** Following every cloudlet costs one subscription each: beyond this, follow the selected one. */
export const followAllUpTo = 16;
/** VIs that are gone are not drawn. */
const shownStates = new Set(shownViStates);

export function viSummary(vi: ViView, cloudletId: string): ViSummary {
  return {
    id: vi.id,
    nodeId: vi.nodeId,
    cloudletId,
    reservationId: vi.reservationId,
    state: vi.state,
    program: vi.program,
    usage: vi.usage ? { cpuCores: vi.usage.cpuCores, memMiB: vi.usage.memMiB } : null,
    netMbps: vi.capacity.netMbps,
    quarantined: vi.quarantined,
    ...(vi.usage?.traffic
      ? { traffic: { inPps: vi.usage.traffic.to_vi.pps, outPps: vi.usage.traffic.from_vi.pps, inBps: vi.usage.traffic.to_vi.bps, outBps: vi.usage.traffic.from_vi.bps } }
      : {}),
  };
}

export interface ViFeed {
  /** Make sure this cloudlet's VIs are followed (big topologies: instead of the previous one). */
  follow(cloudletId: string): void;
  stop(): Promise<void>;
}

export function startViFeed(cloudlets: readonly CloudletView[], onVis: (cloudletId: string, vis: ViSummary[]) => void, onError: (message: string | undefined) => void): ViFeed {
  const followed = new Map<string, Promise<(() => Promise<void>) | undefined>>();
  const all = cloudlets.length <= followAllUpTo;
  let stopped = false;

  async function followOne(cloudletId: string): Promise<(() => Promise<void>) | undefined> {
    const vis = new Map<string, ViView>();
    const publish = (): void => {
      if (!stopped) onVis(cloudletId, [...vis.values()].filter((v) => shownStates.has(v.state)).map((v) => viSummary(v, cloudletId)));
    };
    try {
      // Subscribe first so no change falls between the snapshot and the stream.
      const endEvents = await controllerSubscribe(cloudletId, 'vi.events', (event) => {
        vis.set(event.vi.id, event.vi);
        publish();
      });
      const endUsage = await controllerSubscribe(cloudletId, 'vi.usage', (usage) => {
        const vi = vis.get(usage.viId);
        if (!vi) return;
        vis.set(vi.id, { ...vi, usage });
        publish();
      }).catch(() => undefined);
      const end = async (): Promise<void> => {
        await Promise.all([endEvents(), endUsage?.()]);
      };
      const listed = await controllerCall(cloudletId, 'vi.list', { states: [...shownViStates], limit: 10_000 });
      for (const vi of listed.vis) if (!vis.has(vi.id)) vis.set(vi.id, vi);
      publish();
      onError(undefined);
      return end;
    } catch (e) {
      // Forget it, so the next follow (a reconnect, a new selection) tries again.
      followed.delete(cloudletId);
      onError(`VIs of cloudlet ${cloudletId} are not shown: its controller did not answer (${toApiError(e).message}).`);
      return undefined;
    }
  }

  function follow(cloudletId: string): void {
    if (stopped || followed.has(cloudletId)) return;
    if (!all) {
      // One at a time: let go of the previous cloudlet (its VIs stay drawn as last seen).
      for (const end of followed.values()) void end.then((f) => f?.().catch(() => undefined));
      followed.clear();
    }
    followed.set(cloudletId, followOne(cloudletId));
  }

  if (all) for (const c of cloudlets) if (c.connected) follow(c.id);

  return {
    follow,
    async stop() {
      stopped = true;
      const ends = [...followed.values()];
      followed.clear();
      await Promise.all(ends.map((end) => end.then((f) => f?.().catch(() => undefined))));
    },
  };
}
