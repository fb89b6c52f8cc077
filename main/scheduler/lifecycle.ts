/**
 * When reservations start and end. One timer for the earliest due instant
 * (a binary min-heap holds the rest), so a million future events cost one
 * setTimeout. Entries are never removed: when one comes due the handler looks
 * at the reservation's current state and ignores what no longer applies. The
 * timer is re-armed at most every 30 s even for far events, so a long sleep
 * or a clock step cannot leave an event late by more than that, and due
 * events fire within milliseconds (the bound is 1 s).
 */
export interface DueEvent {
  readonly at: number;
  readonly reservationId: string;
}

export class Lifecycle {
  private readonly heap: DueEvent[] = [];
  private timer: NodeJS.Timeout | undefined;
  private armedFor = Infinity;
  private readonly now: () => number;
  private readonly onDue: (reservationId: string, at: number) => void;
  private stopped = false;

  constructor(now: () => number, onDue: (reservationId: string, at: number) => void) {
    this.now = now;
    this.onDue = onDue;
  }

  get size(): number {
    return this.heap.length;
  }

  schedule(reservationId: string, at: number): void {
    this.push({ at, reservationId });
    if (at < this.armedFor) this.arm();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private arm(): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    const next = this.heap[0];
    if (!next) {
      this.timer = undefined;
      this.armedFor = Infinity;
      return;
    }
    const delay = Math.max(0, Math.min(next.at - this.now(), 30_000));
    this.armedFor = next.at;
    this.timer = setTimeout(() => this.fire(), delay);
    this.timer.unref?.();
  }

  private fire(): void {
    this.timer = undefined;
    this.armedFor = Infinity;
    const now = this.now();
    for (let top = this.heap[0]; top && top.at <= now; top = this.heap[0]) {
      this.pop();
      try {
        this.onDue(top.reservationId, top.at);
      } catch {
        // A failing handler must not stop the other due events; it reports its own errors.
      }
    }
    this.arm();
  }

  private push(e: DueEvent): void {
    const h = this.heap;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if ((h[parent] as DueEvent).at <= e.at) break;
      h[i] = h[parent] as DueEvent;
      i = parent;
    }
    h[i] = e;
  }

  private pop(): DueEvent | undefined {
    const h = this.heap;
    const top = h[0];
    const last = h.pop();
    if (h.length === 0 || !last) return top;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      let mAt = last.at;
      if (l < h.length && (h[l] as DueEvent).at < mAt) {
        m = l;
        mAt = (h[l] as DueEvent).at;
      }
      if (r < h.length && (h[r] as DueEvent).at < mAt) m = r;
      if (m === i) break;
      h[i] = h[m] as DueEvent;
      i = m;
    }
    h[i] = last;
    return top;
  }
}
