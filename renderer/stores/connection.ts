/**
 * What the console is connected to (embedded lab or remote profile), kept
 * live from the backend's `connection.changes` stream. Views watch `connected`
 * (and `epoch`, which moves on every new connection) to load and subscribe.
 */
import { defineStore } from 'pinia';
import { computed, ref } from 'vue';
import type { ConnectionStatus } from '../../main/protocol/consoleApi.ts';
import { toApiError, useApi } from '../api/index.ts';

export const useConnectionStore = defineStore('connection', () => {
  const status = ref<ConnectionStatus>({ kind: 'none', name: '', schedulerUrl: null, state: 'idle', message: 'not connected yet', progress: null });
  const epoch = ref(0);
  const lastError = ref<string>();
  let stop: (() => Promise<void>) | undefined;

  const connected = computed(() => status.value.state === 'connected');

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

  return { status, epoch, connected, lastError, watch, useLab, useProfile, apply };
});
