/**
 * A short grace period before a destructive action is sent (decline, cancel):
 * the operator sees "Declining r-12 in 5 s · Undo" and can take it back, as
 * Headlamp does for deletions. One action waits at a time; starting another
 * sends the waiting one at once.
 */
import { ref } from 'vue';

export interface PendingAction {
  label: string;
  deadline: number;
}

export function useUndoableAction(delayMs = 5000) {
  const pending = ref<PendingAction>();
  const remainingMs = ref(0);
  let timer: ReturnType<typeof setTimeout> | undefined;
  let ticker: ReturnType<typeof setInterval> | undefined;
  let run: (() => Promise<void>) | undefined;

  function clear(): void {
    if (timer) clearTimeout(timer);
    if (ticker) clearInterval(ticker);
    timer = undefined;
    ticker = undefined;
    pending.value = undefined;
  }

  async function flush(): Promise<void> {
    const action = run;
    run = undefined;
    clear();
    await action?.();
  }

  async function schedule(label: string, action: () => Promise<void>): Promise<void> {
    if (run) await flush();
    run = action;
    const deadline = Date.now() + delayMs;
    pending.value = { label, deadline };
    remainingMs.value = delayMs;
    ticker = setInterval(() => (remainingMs.value = Math.max(0, deadline - Date.now())), 250);
    timer = setTimeout(() => void flush(), delayMs);
  }

  function undo(): void {
    run = undefined;
    clear();
  }

  return { pending, remainingMs, schedule, undo, flush };
}
