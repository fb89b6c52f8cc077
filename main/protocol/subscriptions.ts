/**
 * The subscriptions of one consumer (a WebSocket connection, an Electron
 * window), whatever transport carries their items.
 *
 * Each subscription has a bounded queue (boundedQueue.ts): a producer pushes
 * and returns at once, whatever the consumer does. A pump moves items from
 * the queues to the transport only while the transport says it can take more
 * (`ItemOutlet.ready`: a socket under its high-water mark of unsent bytes, an
 * IPC window with acknowledgement credit left). A consumer that falls behind
 * therefore costs a bounded amount of memory, loses its oldest items, and is
 * told how many with the next item it gets (`lost`). Items a source had
 * already lost before pushing (a relayed subscription) add to that count.
 */
import { BoundedQueue } from './boundedQueue.ts';
import type { TopicSink } from './contract.ts';
import { ErrorCode, RpcError } from './errors.ts';

/** What a transport offers the pump. */
export interface ItemOutlet {
  /** True while the transport can take another item without piling up unsent data. */
  ready(): boolean;
  deliver(subscription: string, item: unknown, lost: number): void;
  /** The server ended the subscription, after its queued items were delivered. */
  ended(subscription: string, reason: string): void;
}

export interface SubscriptionLimits {
  /** Live subscriptions of this consumer. */
  maxSubscriptions: number;
  /** Items queued per subscription before the oldest are dropped. */
  subscriptionQueue: number;
}

interface Subscription {
  readonly id: string;
  readonly queue: BoundedQueue<unknown>;
  stop: (() => void) | undefined;
  ended: boolean;
}

/** How soon a pump that found the transport full looks again. */
const retryMs = 5;

export class Subscriptions {
  private readonly entries = new Map<string, Subscription>();
  private readonly outlet: ItemOutlet;
  private readonly limits: SubscriptionLimits;
  private retry: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(outlet: ItemOutlet, limits: SubscriptionLimits) {
    this.outlet = outlet;
    this.limits = limits;
  }

  get size(): number {
    return this.entries.size;
  }

  /** Items waiting in this consumer's queues. */
  get queued(): number {
    let n = 0;
    for (const s of this.entries.values()) n += s.queue.length;
    return n;
  }

  /**
   * Opens subscription `id`: `start` gets the sink its producer pushes into
   * and returns the function that stops the producer.
   */
  async open(id: string, start: (sink: TopicSink<unknown>) => Promise<() => void>): Promise<void> {
    if (this.closed) throw new RpcError(ErrorCode.Unavailable, 'this connection is closing');
    if (this.entries.size >= this.limits.maxSubscriptions) {
      throw new RpcError(ErrorCode.TooManySubscriptions, `at most ${this.limits.maxSubscriptions} subscriptions per connection`);
    }
    if (this.entries.has(id)) throw new RpcError(ErrorCode.Conflict, `subscription "${id}" already exists on this connection`);
    const sub: Subscription = { id, queue: new BoundedQueue(this.limits.subscriptionQueue), stop: undefined, ended: false };
    this.entries.set(id, sub);
    try {
      sub.stop = await start({
        push: (item, lost) => {
          if (sub.ended) return;
          sub.queue.push(item, lost);
          // While the transport is full a retry is pending: the item waits for it.
          if (!this.retry) this.pump();
        },
        end: () => this.finish(sub, 'ended by server'),
      });
    } catch (e) {
      this.entries.delete(id);
      throw e;
    }
    // The producer may have ended it before `start` returned.
    if (sub.ended) sub.stop();
  }

  /** The consumer ends subscription `id`; false when there is none. */
  cancel(id: string): boolean {
    const sub = this.entries.get(id);
    if (!sub) return false;
    this.finish(sub, undefined);
    return true;
  }

  /**
   * Moves queued items to the transport while it keeps up; otherwise looks
   * again shortly. A transport that learns it has room (an acknowledgement)
   * calls it directly.
   */
  pump(): void {
    if (this.retry) clearTimeout(this.retry);
    this.retry = undefined;
    if (this.closed) return;
    let progress = true;
    while (progress) {
      progress = false;
      for (const sub of this.entries.values()) {
        if (!this.outlet.ready()) break;
        const next = sub.queue.take();
        if (!next) continue;
        progress = true;
        this.outlet.deliver(sub.id, next.item, next.lost);
      }
    }
    if (this.queued > 0) {
      this.retry = setTimeout(() => {
        this.retry = undefined;
        this.pump();
      }, retryMs);
    }
  }

  /** The consumer went away: stop every producer, deliver nothing more. */
  closeAll(): void {
    this.closed = true;
    if (this.retry) clearTimeout(this.retry);
    this.retry = undefined;
    for (const sub of this.entries.values()) {
      sub.ended = true;
      sub.stop?.();
    }
    this.entries.clear();
  }

  private finish(sub: Subscription, reason: string | undefined): void {
    if (sub.ended) return;
    sub.ended = true;
    // Deliver what is already queued (at most one queue's worth) before saying the stream ended.
    if (!this.closed) for (let next = sub.queue.take(); next; next = sub.queue.take()) this.outlet.deliver(sub.id, next.item, next.lost);
    this.entries.delete(sub.id);
    sub.stop?.();
    if (reason && !this.closed) this.outlet.ended(sub.id, reason);
  }
}
