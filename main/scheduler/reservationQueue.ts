/**
 * One queue per reservation: every change to a reservation (a client's
 * approve, decline, cancel, resize or terminate, its confirmation with the
 * controller, a lifecycle instant, a controller's report that its VI ended)
 * runs after the one before it has committed, so each sees the result of the
 * last. A change that waits on a controller holds its reservation's queue
 * for at most the hold timeout; the other reservations never wait for it.
 *
 * When nothing is queued for the reservation the change starts synchronously,
 * so a caller can decide in memory and enter the queue in the same tick, with
 * nobody able to slip in between.
 */
export class ReservationQueue {
  private readonly tails = new Map<string, Promise<void>>();

  /** Runs `change` after every change queued before it for `reservationId`. */
  run<T>(reservationId: string, change: () => Promise<T>): Promise<T> {
    const before = this.tails.get(reservationId);
    let done!: () => void;
    const mine = new Promise<void>((resolve) => (done = resolve));
    this.tails.set(reservationId, mine);
    const go = async (): Promise<T> => {
      try {
        return await change();
      } finally {
        if (this.tails.get(reservationId) === mine) this.tails.delete(reservationId);
        done();
      }
    };
    return before ? before.then(go) : go();
  }

  /** Whether a change to the reservation is running or waiting. */
  busy(reservationId: string): boolean {
    return this.tails.has(reservationId);
  }

  get size(): number {
    return this.tails.size;
  }
}
