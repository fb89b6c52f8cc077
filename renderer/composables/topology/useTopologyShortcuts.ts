/**
 * The topology view's keyboard: one table of shortcuts that both handles keys
 * and feeds the help sheet, so the sheet never lies. Overlays add their own
 * toggle keys. Keys are ignored while typing in a field and while the view is
 * hidden (views stay mounted when another one is shown).
 */
import { onBeforeUnmount, onMounted, type Ref } from 'vue';

export interface ShortcutBinding {
  /** `KeyboardEvent.key` values that trigger it. */
  keys: string[];
  action: string;
  run(): void;
}

function typingIn(target: EventTarget | null): boolean {
  if (!(target instanceof HTMLElement)) return false;
  return target.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(target.tagName);
}

export function useTopologyShortcuts(root: Ref<HTMLElement | undefined>, bindings: () => ShortcutBinding[]): void {
  function onKey(event: KeyboardEvent): void {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
    const el = root.value;
    if (!el || el.offsetParent === null) return;
    // A dialog (the help sheet) handles its own keys.
    if (event.target instanceof HTMLElement && event.target.closest('dialog')) return;
    if (typingIn(event.target)) return;
    const binding = bindings().find((b) => b.keys.includes(event.key));
    if (!binding) return;
    event.preventDefault();
    binding.run();
  }
  onMounted(() => window.addEventListener('keydown', onKey));
  onBeforeUnmount(() => window.removeEventListener('keydown', onKey));
}
