/**
 * The paper's experiments as the console shows them: the list (with what
 * each needs on the host the console runs on), the running one's progress
 * (the backend's experiment.progress topic), and the newest finished run of
 * the chosen experiment (its table and figures). Experiments run beside the
 * console backend, whatever scheduler the console is connected to.
 */
import { defineStore } from 'pinia';
import { computed, ref, shallowRef } from 'vue';
import type { ExperimentProgress, ExperimentRun, ExperimentSummary } from '../../main/protocol/consoleApi.ts';
import { toApiError, useApi } from '../api/index.ts';

/** "1 min 05 s", "42 s": the time left as an operator reads it. */
export function formatSecondsLeft(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  return s >= 60 ? `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s` : `${s} s`;
}

export const useExperimentsStore = defineStore('experiments', () => {
  const list = ref<ExperimentSummary[]>([]);
  const progress = ref<ExperimentProgress | null>(null);
  const selected = ref<string | undefined>();
  const lastRun = shallowRef<ExperimentRun | null>(null);
  const error = ref<string>();
  let stop: (() => Promise<void>) | undefined;

  const running = computed(() => progress.value?.state === 'running');

  async function showLastRun(name: string): Promise<void> {
    selected.value = name;
    try {
      const run = await useApi().experiment.lastRun({ name });
      if (selected.value === name) lastRun.value = run;
    } catch (e) {
      error.value = toApiError(e).message;
    }
  }

  async function load(): Promise<void> {
    error.value = undefined;
    try {
      const api = useApi();
      [list.value, progress.value] = await Promise.all([api.experiment.list({}), api.experiment.status({})]);
      stop ??= await api.subscribe('experiment.progress', {}, (item) => {
        progress.value = item;
        // A finished run is shown at once (a failed one keeps its error in the progress).
        if (item.state === 'done') void showLastRun(item.name);
      });
      const first = progress.value?.name ?? list.value.find((e) => !e.needs)?.name;
      if (first && !selected.value) await showLastRun(first);
    } catch (e) {
      error.value = toApiError(e).message;
    }
  }

  async function start(name: string, quick: boolean): Promise<void> {
    error.value = undefined;
    try {
      lastRun.value = null;
      selected.value = name;
      progress.value = await useApi().experiment.start({ name, quick });
    } catch (e) {
      error.value = toApiError(e).message;
    }
  }

  return { list, progress, selected, lastRun, error, running, load, start, showLastRun };
});
