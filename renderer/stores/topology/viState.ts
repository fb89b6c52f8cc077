/**
 * VIs per node as the cloudlets' controllers report them (viFeed.ts), and
 * why some are missing. One feed per loaded topology; the selection tells a
 * big topology's feed which cloudlet to follow.
 */
import { ref, shallowRef } from 'vue';
import type { CloudletView } from '../../../main/protocol/domain.ts';
import type { ViSummary } from '../../composables/topology/topologyModel.ts';
import { startViFeed, type ViFeed } from '../../composables/topology/viFeed.ts';

export function useViState() {
  const vis = shallowRef(new Map<string, ViSummary[]>());
  /** Why some VIs are missing (a controller that did not answer). */
  const viError = ref<string>();
  let feed: ViFeed | undefined;

  /** VIs reported by a cloudlet's controller replace that cloudlet's previous list. */
  function setVis(cloudletId: string, list: ViSummary[]): void {
    const next = new Map(vis.value);
    for (const [nodeId, nodeVis] of next) if (nodeVis[0]?.cloudletId === cloudletId) next.delete(nodeId);
    for (const vi of list) next.set(vi.nodeId, [...(next.get(vi.nodeId) ?? []), vi]);
    vis.value = next;
  }

  function follow(cloudlets: readonly CloudletView[]): void {
    stopFeed();
    feed = startViFeed(cloudlets, setVis, (message) => (viError.value = message));
  }

  function followCloudlet(cloudletId: string): void {
    feed?.follow(cloudletId);
  }

  function stopFeed(): void {
    const old = feed;
    feed = undefined;
    void old?.stop();
  }

  function clear(): void {
    stopFeed();
    vis.value = new Map();
    viError.value = undefined;
  }

  return { vis, viError, setVis, follow, followCloudlet, stopFeed, clear };
}
