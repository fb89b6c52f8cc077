/**
 * What the console is connected to (embedded lab or remote profile), kept
 * live from the backend's `connection.changes` stream, and what it could be
 * connected to (lab topologies, saved profiles). Views watch `connected` (and
 * `epoch`, which moves on every new connection) to load and subscribe.
 */
import { defineStore } from 'pinia';
import { computed, ref } from 'vue';
import type { AppInfo, ConnectionStatus } from '../../main/protocol/consoleApi.ts';
import { toApiError, useApi } from '../api/index.ts';

export interface LabTopologyChoice {
  name: string;
  title: string;
  pops: number;
  nodes: number;
}

export interface ProfileChoice {
  name: string;
  schedulerUrl: string;
  hasToken: boolean;
}

export const useConnectionStore = defineStore('connection', () => {
  const status = ref<ConnectionStatus>({ kind: 'none', name: '', schedulerUrl: null, state: 'idle', message: 'not connected yet', progress: null });
  const epoch = ref(0);
  const lastError = ref<string>();
  const topologies = ref<LabTopologyChoice[]>([]);
  const profiles = ref<ProfileChoice[]>([]);
  /** The backend's own description (transport, version), or why it could not be read. */
  const backend = ref<AppInfo>();
  const backendError = ref<string>();
  let stop: (() => Promise<void>) | undefined;

  const connected = computed(() => status.value.state === 'connected');
  /**
   * What the console talks to ("lab deterlab", "remote noc-east"), empty when
   * nothing. Stores that hold a connection's data reset when it changes.
   */
  const target = computed(() => (status.value.kind === 'none' ? '' : `${status.value.kind} ${status.value.name}`));

  function apply(next: ConnectionStatus): void {
    const wasConnected = status.value.state === 'connected';
    const changedTarget = next.name !== status.value.name || next.schedulerUrl !== status.value.schedulerUrl;
    status.value = next;
    if (next.state === 'connected' && (!wasConnected || changedTarget)) epoch.value++;
  }

  async function watch(): Promise<void> {
    if (stop) return;
    try {
      stop = await useApi().subscribe('connection.changes', {}, (item) => apply(item));
    } catch (e) {
      lastError.value = `Cannot follow the connection: ${toApiError(e).message}`;
    }
  }

  async function run(action: () => Promise<ConnectionStatus>): Promise<void> {
    lastError.value = undefined;
    try {
      apply(await action());
    } catch (e) {
      lastError.value = toApiError(e).message;
    }
  }

  const useLab = (topology?: string) => run(() => useApi().connection.useLab(topology ? { topology } : {}));
  const useProfile = (name: string) => run(() => useApi().connection.useProfile({ name }));

  /** The choices of the connection switcher; throws what the backend said. */
  async function loadChoices(): Promise<void> {
    [topologies.value, profiles.value] = await Promise.all([useApi().lab.topologies({}), useApi().profile.list({})]);
  }

  /** Saves a remote profile (its token goes to the backend's vault) and lists profiles again; throws what the backend said. */
  async function saveProfile(profile: { name: string; schedulerUrl: string; token: string }): Promise<void> {
    await useApi().profile.save(profile);
    profiles.value = await useApi().profile.list({});
  }

  async function loadBackend(): Promise<void> {
    try {
      backend.value = await useApi().app.info({});
    } catch (e) {
      backendError.value = toApiError(e).message;
    }
  }

  return { status, epoch, connected, target, lastError, topologies, profiles, backend, backendError, watch, useLab, useProfile, apply, loadChoices, saveProfile, loadBackend };
});
