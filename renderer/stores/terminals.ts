/**
 * Terminal tabs: which sessions this window has opened, which one is in
 * front, and what state each is in. The xterm instances themselves live in
 * TerminalPane; the store holds only what other components need to show.
 * A pcctl shell belongs to the connection it was opened on: when the console
 * switches elsewhere, its tab is marked ended (the backend ends the process).
 */
import { defineStore } from 'pinia';
import { computed, ref, watch } from 'vue';
import type { TerminalTarget } from '../../main/protocol/consoleApi.ts';
import { toApiError, useApi } from '../api/index.ts';
import { useConnectionStore } from './connection.ts';

export type TerminalTabState = 'starting' | 'running' | 'exited' | 'failed';

export interface TerminalTab {
  sessionId: string;
  title: string;
  state: TerminalTabState;
  /** Single-use: the pane spends it when it attaches, then it is cleared. */
  attachToken: string | undefined;
  exitSummary: string | undefined;
  /** For a pcctl shell: the connection it was set up for (it ends when the console leaves it). */
  connection: string | undefined;
}

export const useTerminalsStore = defineStore('terminals', () => {
  const tabs = ref<TerminalTab[]>([]);
  const activeId = ref<string | undefined>();
  const lastError = ref<string | undefined>();

  const active = computed(() => tabs.value.find((t) => t.sessionId === activeId.value));
  const connection = useConnectionStore();

  watch(
    () => connection.target,
    (target) => {
      for (const tab of tabs.value) {
        // The backend's "closed" status line may come first (failed, no summary yet); an exit already told stays told.
        if (tab.connection === undefined || tab.connection === target || tab.exitSummary !== undefined) continue;
        tab.state = 'exited';
        tab.exitSummary = `ended: the console left ${tab.connection}`;
      }
    },
  );

  async function open(target: TerminalTarget = { kind: 'local' }, cols = 80, rows = 24): Promise<TerminalTab | undefined> {
    lastError.value = undefined;
    try {
      const opened = await useApi().terminal.open({ target, cols, rows });
      const tab: TerminalTab = {
        sessionId: opened.sessionId,
        title: opened.title,
        state: 'starting',
        attachToken: opened.attachToken,
        exitSummary: undefined,
        connection: target.kind === 'connection' ? connection.target : undefined,
      };
      tabs.value.push(tab);
      activeId.value = tab.sessionId;
      return tab;
    } catch (e) {
      lastError.value = `Could not open a terminal: ${toApiError(e).message}`;
      return undefined;
    }
  }

  function takeAttachToken(sessionId: string): string | undefined {
    const tab = tabs.value.find((t) => t.sessionId === sessionId);
    const token = tab?.attachToken;
    if (tab) tab.attachToken = undefined;
    return token;
  }

  function setState(sessionId: string, state: TerminalTabState, exitSummary?: string): void {
    const tab = tabs.value.find((t) => t.sessionId === sessionId);
    // A tab already ended by a connection change keeps saying why.
    if (!tab || tab.exitSummary?.startsWith('ended:')) return;
    tab.state = state;
    if (exitSummary !== undefined) tab.exitSummary = exitSummary;
  }

  async function close(sessionId: string): Promise<void> {
    const index = tabs.value.findIndex((t) => t.sessionId === sessionId);
    if (index < 0) return;
    const [tab] = tabs.value.splice(index, 1);
    if (activeId.value === sessionId) activeId.value = tabs.value[Math.min(index, tabs.value.length - 1)]?.sessionId;
    if (tab && (tab.state === 'running' || tab.state === 'starting')) {
      await useApi().terminal.close({ sessionId }).catch(() => undefined);
    }
  }

  function activate(sessionId: string): void {
    if (tabs.value.some((t) => t.sessionId === sessionId)) activeId.value = sessionId;
  }

  return { tabs, activeId, active, lastError, open, close, activate, takeAttachToken, setState };
});
