/**
 * The traffic view's bounded ring: the newest `capacity` samples, each with a
 * sequence number that never repeats, so the list can keep its selection and
 * its scroll position while the oldest fall out. Pushing is O(1) and never
 * allocates beyond the ring, so a burst cannot grow the renderer's memory;
 * what was pushed out is counted (evicted), separately from what never
 * arrived (lost on the way: the controller's queue, sFlow drops).
 */
export interface RingEntry<T> {
  seq: number;
  item: T;
}

export class SampleRing<T> {
  readonly capacity: number;
  private readonly slots: (RingEntry<T> | undefined)[];
  /** Sequence number the next pushed item gets (1-based: the count ever pushed, plus one). */
  private nextSeq = 1;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`a sample ring holds at least 1 sample, not ${capacity}`);
    this.capacity = capacity;
    this.slots = new Array<RingEntry<T> | undefined>(capacity);
  }

  push(item: T): RingEntry<T> {
    const entry = { seq: this.nextSeq++, item };
    this.slots[(entry.seq - 1) % this.capacity] = entry;
    return entry;
  }

  /** Samples ever pushed. */
  get pushed(): number {
    return this.nextSeq - 1;
  }

  get size(): number {
    return Math.min(this.pushed, this.capacity);
  }

  /** Pushed out by newer samples. */
  get evicted(): number {
    return this.pushed - this.size;
  }

  /** Oldest sequence number still held (pushed + 1 when empty). */
  get firstSeq(): number {
    return this.pushed - this.size + 1;
  }

  get(seq: number): RingEntry<T> | undefined {
    if (seq < this.firstSeq || seq > this.pushed) return undefined;
    return this.slots[(seq - 1) % this.capacity];
  }

  /** Oldest first. */
  entries(): RingEntry<T>[] {
    const out: RingEntry<T>[] = [];
    for (let seq = this.firstSeq; seq <= this.pushed; seq++) out.push(this.slots[(seq - 1) % this.capacity] as RingEntry<T>);
    return out;
  }
}
