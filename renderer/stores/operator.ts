/**
 * Who sits at this console: the name the operator gives it, kept on this
 * machine and sent with acknowledgements so that a shift sharing one token is
 * still told apart in the controller's audit (the token's principal is
 * recorded beside it). Empty until the operator sets it; acknowledgements then
 * carry the token's principal only.
 */
import { defineStore } from 'pinia';
import { computed, ref } from 'vue';
import { operatorNameProblem } from '../../main/protocol/vocabulary.ts';

const storageKey = 'pcloud.operatorName';

export const useOperatorStore = defineStore('operator', () => {
  const name = ref(localStorage.getItem(storageKey) ?? '');
  /** Why the typed name cannot be sent ('' when it can, or when none is typed). */
  const problem = computed(() => (name.value.trim() ? operatorNameProblem(name.value) : ''));
  /** The name as the controller takes it; undefined when none (or none usable) is set. */
  const sendable = computed(() => (name.value.trim() && !problem.value ? name.value.trim() : undefined));

  function set(value: string): void {
    name.value = value;
    if (!problem.value) localStorage.setItem(storageKey, value.trim());
  }

  return { name, problem, sendable, set };
});
