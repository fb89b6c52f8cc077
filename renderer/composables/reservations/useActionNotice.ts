/**
 * What became of the last action (approved, declined, resized, or why not),
 * shown for a few seconds after it was sent: every action answers, not only
 * the ones with an undo.
 */
import { onBeforeUnmount, ref } from 'vue';

export interface ActionNotice {
  tone: 'ok' | 'bad';
  text: string;
}

export function useActionNotice(showMs = 8000) {
  const notice = ref<ActionNotice>();
  let timer: ReturnType<typeof setTimeout> | undefined;

  function show(tone: ActionNotice['tone'], text: string): void {
    if (timer) clearTimeout(timer);
    notice.value = { tone, text };
    timer = setTimeout(() => (notice.value = undefined), showMs);
  }

  function dismiss(): void {
    if (timer) clearTimeout(timer);
    notice.value = undefined;
  }

  onBeforeUnmount(dismiss);
  return { notice, show, dismiss };
}
