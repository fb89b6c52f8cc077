/**
 * The scheduler's audit log: every entry (paged in by sequence number), the
 * hash-chain verification status, filters, and CSV export. New entries are
 * fetched when the scheduler reports a change; everything is forgotten when the
 * console switches to another lab or scheduler.
 */
import { defineStore } from 'pinia';
import { computed, ref, shallowRef, watch } from 'vue';
import type { AuditEntry } from '../../main/protocol/domain.ts';
import { toApiError } from '../api/index.ts';
import { schedulerCall, schedulerSubscribe } from '../api/relay.ts';
import { readableReason } from '../composables/reservations/reservationText.ts';
import { useConnectionStore } from './connection.ts';

export interface AuditFilter {
  text: string;
  actor: string;
  action: string;
  from: number | null;
  to: number | null;
}

export type Verification = { ok: boolean; entries: number; brokenAt: number | null; reason: string; at: number };

const pageSize = 5000;

/** RFC 4180: quote every field, double the quotes inside. */
export function auditCsv(entries: readonly AuditEntry[]): string {
  const header = ['seq', 'time', 'actor', 'role', 'action', 'target', 'reason', 'prevHash', 'hash'];
  const cell = (v: string | number): string => `"${String(v).replaceAll('"', '""')}"`;
  const rows = entries.map((e) => [e.seq, new Date(e.at).toISOString(), e.actor, e.role, e.action, e.target, e.reason, e.prevHash, e.hash].map(cell).join(','));
  return `${[header.map(cell).join(','), ...rows].join('\r\n')}\r\n`;
}

export function filterAudit(entries: readonly AuditEntry[], f: AuditFilter): AuditEntry[] {
  const words = f.text.toLowerCase().split(/\s+/).filter(Boolean);
  const shown = entries.filter((e) => {
    if (f.actor && e.actor !== f.actor) return false;
    if (f.action && e.action !== f.action) return false;
    if (f.from !== null && e.at < f.from) return false;
    if (f.to !== null && e.at > f.to) return false;
    if (!words.length) return true;
    const hay = `${e.seq} ${e.actor} ${e.role} ${e.action} ${e.target} ${e.reason} ${readableReason(e.reason)}`.toLowerCase();
    return words.every((w) => hay.includes(w));
  });
  // Newest first: what just happened is what an operator looks for.
  return shown.sort((a, b) => b.seq - a.seq);
}

export const useAuditStore = defineStore('audit', () => {
  const entries = shallowRef<AuditEntry[]>([]);
  const verification = ref<Verification>();
  const loading = ref(false);
  const error = ref<string>();
  const filter = ref<AuditFilter>({ text: '', actor: '', action: '', from: null, to: null });
  let unsubscribe: (() => Promise<void>) | undefined;
  let fetching: Promise<void> | undefined;
  let verifyTimer: ReturnType<typeof setTimeout> | undefined;

  /** The chain is re-verified a little after new entries arrive, at most every few seconds. */
  function verifySoon(): void {
    verifyTimer ??= setTimeout(() => {
      verifyTimer = undefined;
      void verify();
    }, 3000);
  }

  watch(
    () => useConnectionStore().target,
    () => {
      const end = unsubscribe;
      unsubscribe = undefined;
      void end?.().catch(() => undefined);
      entries.value = [];
      verification.value = undefined;
      error.value = undefined;
    },
  );

  const filtered = computed(() => filterAudit(entries.value, filter.value));
  const actors = computed(() => [...new Set(entries.value.map((e) => e.actor))].sort());
  const actions = computed(() => [...new Set(entries.value.map((e) => e.action))].sort());

  async function fetchNew(): Promise<void> {
    // One fetch at a time; a change during a fetch is picked up by the next page loop.
    fetching ??= (async () => {
      try {
        for (;;) {
          const afterSeq = entries.value.at(-1)?.seq ?? 0;
          const page = await schedulerCall('audit.list', { afterSeq, limit: pageSize });
          if (page.entries.length) {
            entries.value = [...entries.value, ...page.entries];
            verifySoon();
          }
          if (page.entries.length < pageSize) break;
        }
      } finally {
        fetching = undefined;
      }
    })();
    return fetching;
  }

  async function verify(): Promise<void> {
    try {
      verification.value = { ...(await schedulerCall('audit.verify', {})), at: Date.now() };
      // The chain may already hold entries this list has not fetched: fetch them, so counts agree.
      if (verification.value.entries > entries.value.length) await fetchNew();
    } catch (e) {
      error.value = `Could not verify the chain: ${toApiError(e).message}`;
    }
  }

  async function load(): Promise<void> {
    loading.value = true;
    error.value = undefined;
    entries.value = [];
    try {
      await unsubscribe?.();
      unsubscribe = await schedulerSubscribe('scheduler.events', {}, () => void fetchNew().catch(() => undefined));
      await fetchNew();
      await verify();
    } catch (e) {
      error.value = `Could not load the audit log: ${toApiError(e).message}`;
    } finally {
      loading.value = false;
    }
  }

  return { entries, filtered, actors, actions, verification, loading, error, filter, load, verify, fetchNew };
});
