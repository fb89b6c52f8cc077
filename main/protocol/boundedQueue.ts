/**
 * A FIFO with a fixed capacity that drops its oldest item when full and counts
 * what it dropped. Subscriptions use it so a slow consumer costs the server a
 * bounded amount of memory, and learns how much it missed.
 */
export class BoundedQueue<T> {
  readonly capacity: number;
  private items: (T | undefined)[];
  private head = 0;
  private count = 0;
  private droppedSinceTake = 0;
  private droppedTotal = 0;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`queue capacity must be a positive integer, got ${capacity}`);
    this.capacity = capacity;
    this.items = new Array<T | undefined>(capacity);
  }

  get length(): number {
    return this.count;
  }

  /** Items dropped since the queue was made. */
  get dropped(): number {
    return this.droppedTotal;
  }

  /** `lostBefore`: items already lost upstream just before this one; they count as dropped here. */
  push(item: T, lostBefore = 0): void {
    this.droppedSinceTake += lostBefore;
    this.droppedTotal += lostBefore;
    if (this.count === this.capacity) {
      this.items[this.head] = undefined;
      this.head = (this.head + 1) % this.capacity;
      this.count--;
      this.droppedSinceTake++;
      this.droppedTotal++;
    }
    this.items[(this.head + this.count) % this.capacity] = item;
    this.count++;
  }

  /** The oldest item, with how many were dropped since the previous take. */
  take(): { item: T; lost: number } | undefined {
    if (this.count === 0) return undefined;
    const item = this.items[this.head] as T;
    this.items[this.head] = undefined;
    this.head = (this.head + 1) % this.capacity;
    this.count--;
    const lost = this.droppedSinceTake;
    this.droppedSinceTake = 0;
    return { item, lost };
  }

  clear(): void {
    this.items = new Array<T | undefined>(this.capacity);
    this.head = 0;
    this.count = 0;
  }
}
