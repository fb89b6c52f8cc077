/**
 * Which view is shown, so that one view can take the operator to another
 * with something picked there (an alarm to its VI's packets, a packet to the
 * dialog that restricts its VI). App.vue draws the navigation from it; the
 * URL hash follows it.
 */
import { defineStore } from 'pinia';
import { ref } from 'vue';

export const useNavigationStore = defineStore('navigation', () => {
  const current = ref('');
  /** A reservation to open in the reservations view (with a counter, so the same one opens again). */
  const reservationRequest = ref<{ id: string; n: number }>();

  function show(id: string): void {
    current.value = id;
    history.replaceState(null, '', `#${id}`);
  }

  function showReservation(id: string): void {
    reservationRequest.value = { id, n: (reservationRequest.value?.n ?? 0) + 1 };
    show('reservations');
  }

  return { current, reservationRequest, show, showReservation };
});
