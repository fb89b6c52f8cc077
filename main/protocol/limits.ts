/** Per-connection bounds every server enforces. Defaults suit a console on loopback. */
export interface ConnectionLimits {
  /** Largest accepted message in bytes; a bigger one closes the connection (1009). */
  maxMessageBytes: number;
  /** Requests in flight at once; more are refused with TooManyPending. */
  maxPending: number;
  /** Live subscriptions per connection. */
  maxSubscriptions: number;
  /** Items buffered per subscription before the oldest are dropped. */
  subscriptionQueue: number;
  /** Sustained requests per second and the burst allowed above it. */
  requestsPerSecond: number;
  requestBurst: number;
  /** Time allowed between connecting and authenticating. */
  authTimeoutMs: number;
  /** Bytes the socket may hold unsent before subscription items wait in their queues. */
  sendHighWaterBytes: number;
}

export const defaultLimits: ConnectionLimits = {
  maxMessageBytes: 1 << 20,
  maxPending: 64,
  maxSubscriptions: 64,
  subscriptionQueue: 1024,
  requestsPerSecond: 500,
  requestBurst: 1000,
  authTimeoutMs: 5000,
  sendHighWaterBytes: 1 << 20,
};

/** A token bucket: `take()` is false when the caller is over its rate. */
export class RateLimiter {
  private tokens: number;
  private last: number;
  private readonly rate: number;
  private readonly burst: number;

  constructor(rate: number, burst: number, now = performance.now()) {
    this.rate = rate;
    this.burst = burst;
    this.tokens = burst;
    this.last = now;
  }

  take(now = performance.now()): boolean {
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.rate);
    this.last = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
