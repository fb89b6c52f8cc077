/**
 * Positions the operator gave graph elements, per topology: loaded with the
 * topology, merged as elements are dragged, and saved shortly after a burst
 * of moves (one call per burst). The graph never asks for positions it did
 * not move.
 */
import { ref, shallowRef, type Ref } from 'vue';
import { toApiError, useApi } from '../../api/index.ts';

export interface Position {
  x: number;
  y: number;
}

const saveDelayMs = 800;

export function useSavedLayout(topologyKey: Readonly<Ref<string | undefined>>) {
  /** Saved positions (element id -> position) of the loaded topology. */
  const savedPositions = shallowRef<Record<string, Position>>({});
  const saveError = ref<string>();
  let saveTimer: ReturnType<typeof setTimeout> | undefined;
  let unsaved: Record<string, Position> = {};
  let unsavedKey: string | undefined;

  /** What is saved for `key` (nothing when the backend cannot say). */
  async function read(key: string | undefined): Promise<Record<string, Position>> {
    return key ? useApi().layout.get({ topology: key }).then((r) => r.positions, () => ({})) : {};
  }

  /** Remembers positions the user gave elements and saves them shortly after (one call per burst). */
  function recordPositions(positions: Record<string, Position>): void {
    const key = topologyKey.value;
    if (!key) return;
    if (unsavedKey !== key) unsaved = {};
    unsavedKey = key;
    savedPositions.value = { ...savedPositions.value, ...positions };
    Object.assign(unsaved, positions);
    if (saveTimer) clearTimeout(saveTimer);
    saveTimer = setTimeout(() => void flushPositions(), saveDelayMs);
  }

  async function flushPositions(): Promise<void> {
    if (saveTimer) clearTimeout(saveTimer);
    saveTimer = undefined;
    const key = unsavedKey;
    const positions = unsaved;
    unsaved = {};
    if (!key || Object.keys(positions).length === 0) return;
    try {
      await useApi().layout.save({ topology: key, positions });
      saveError.value = undefined;
    } catch (e) {
      saveError.value = `Could not save the layout: ${toApiError(e).message}. Positions are kept in this window.`;
    }
  }

  return { savedPositions, saveError, read, recordPositions, flushPositions };
}
