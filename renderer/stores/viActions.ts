/**
 * Acting on a VI (restrict, quarantine, release, terminate) from wherever the
 * operator met it: the topology, the traffic view, an alarm. One request at a
 * time: `open` loads the VI from its controller so the dialog can name its
 * full path (PoP > cloudlet > node > VI, provider, reservation) and show what
 * it uses beside each cap; `perform` sends the action once the dialog and
 * its undo time are through (ViActionHost.vue holds the undo).
 *
 * Every action is audited by the controller with the operator's reason and
 * forwarded to the scheduler's audit chain; a terminate also seals the VI's
 * evidence ring and records its SHA-256 there.
 */
import { defineStore } from 'pinia';
import { ref, watch } from 'vue';
import type { ViView } from '../../main/protocol/controllerApi.ts';
import { toApiError } from '../api/index.ts';
import { controllerCall } from '../api/relay.ts';
import { useConnectionStore } from './connection.ts';
import { useTopologyStore } from './topology.ts';

export type ViActionKind = 'restrict' | 'quarantine' | 'release' | 'terminate';

export interface RestrictCaps {
  cpu?: number;
  memMiB?: number;
  ppsCap?: number;
  mbpsCap?: number;
}

export interface ViActionRequest {
  kind: ViActionKind;
  cloudletId: string;
  viId: string;
  /** The VI as its controller reports it (undefined while loading). */
  vi?: ViView;
  loadError?: string;
}

export const actionWords: Record<ViActionKind, { title: string; verb: string; doing: string; done: string }> = {
  restrict: { title: 'Restrict VI', verb: 'Restrict', doing: 'Restricting', done: 'Restricted' },
  quarantine: { title: 'Quarantine VI', verb: 'Quarantine', doing: 'Quarantining', done: 'Quarantined' },
  release: { title: 'Release VI from quarantine', verb: 'Release', doing: 'Releasing', done: 'Released' },
  terminate: { title: 'Terminate VI', verb: 'Terminate', doing: 'Terminating', done: 'Terminated' },
};

/** What each action does, said in the dialog before the operator confirms. */
export const actionConsequences: Record<ViActionKind, string> = {
  restrict: 'The VI keeps running under the lower caps at once; caps never go above its reservation.',
  quarantine: 'The VI keeps running, but its rules are removed (its traffic goes legacy at once) and nothing it emits leaves the cloudlet.',
  release: "The VI's rules are installed again and what it emits is forwarded.",
  terminate: "The VI's rules are removed first (its traffic falls back to legacy forwarding), then it is stopped. Its evidence ring is sealed as pcapng and its SHA-256 recorded in the audit entry.",
};

export const useViActionsStore = defineStore('viActions', () => {
  const request = ref<ViActionRequest>();
  /** Bumped per open, so a late load of an earlier request is ignored. */
  let generation = 0;

  async function open(kind: ViActionKind, cloudletId: string, viId: string): Promise<void> {
    const mine = ++generation;
    request.value = { kind, cloudletId, viId };
    try {
      const vi = await controllerCall(cloudletId, 'vi.get', { viId });
      // Quarantining a VI that already is means releasing it (and the other way round): the dialog says which.
      const asked = kind === 'quarantine' && vi.quarantined ? 'release' : kind === 'release' && !vi.quarantined ? 'quarantine' : kind;
      if (mine === generation && request.value) request.value = { ...request.value, kind: asked, vi };
    } catch (e) {
      if (mine === generation && request.value) request.value = { ...request.value, loadError: `Cannot load ${viId} from cloudlet ${cloudletId}: ${toApiError(e).message}` };
    }
  }

  function close(): void {
    generation += 1;
    request.value = undefined;
  }

  /** PoP > cloudlet > node > VI, then provider and reservation, for the dialog's path line. */
  function pathOf(r: ViActionRequest): string[] {
    const cloudlet = useTopologyStore().topology?.cloudlets.find((c) => c.id === r.cloudletId);
    const pop = cloudlet ? `PoP ${cloudlet.popId}` : 'PoP ?';
    const head = [pop, `cloudlet ${r.cloudletId}`, `node ${r.vi?.nodeId ?? '?'}`, `VI ${r.viId}`];
    return r.vi ? [...head, `provider ${r.vi.providerId}`, `reservation ${r.vi.reservationId}`] : head;
  }

  async function perform(r: Pick<ViActionRequest, 'kind' | 'cloudletId' | 'viId'>, reason: string, caps: RestrictCaps = {}): Promise<ViView> {
    switch (r.kind) {
      case 'restrict':
        return controllerCall(r.cloudletId, 'vi.restrict', { viId: r.viId, reason, ...caps });
      case 'terminate':
        return controllerCall(r.cloudletId, 'vi.terminate', { viId: r.viId, reason });
      case 'quarantine':
        return controllerCall(r.cloudletId, 'vi.quarantine', { viId: r.viId, reason });
      case 'release':
        return controllerCall(r.cloudletId, 'vi.release', { viId: r.viId, reason });
    }
  }

  watch(
    () => useConnectionStore().target,
    () => close(),
  );

  return { request, open, close, pathOf, perform };
});
