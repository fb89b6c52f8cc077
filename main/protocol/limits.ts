/**
 * The bounds every server enforces, per connection and per principal.
 *
 * Why per principal: a token stands for one provider, operator, viewer or
 * controller, and it may open many connections. Limits counted per connection
 * let one provider with eight sockets push eight times its share through, so
 * the request budget and the connection count belong to the principal, shared
 * by all of its connections (roles.ts `principalKey`).
 *
 * Why weights: requests do not cost the same. A method may declare a `cost`
 * (contract.ts) in units of one plain request, from its parsed params (a full
 * audit verification more than an incremental one), charged before the
 * handler runs; a call that costs more than the bucket holds is refused,
 * cheaply, with RateLimited. A list also declares a `resultCost` by the rows
 * it returned, owed afterwards, so asking for "up to 10,000" of 50 things
 * costs 50 rows, and returning 10,000 leaves the caller in debt.
 *
 * Why hold-offs: a client that keeps sending while refused is not read for a
 * second (TCP holds its flood back), then disconnected (server.ts).
 *
 * Why an unsent-bytes bound: a client that stops reading leaves its replies
 * in the server's socket buffer. Past `sendHighWaterBytes` its further
 * requests are refused (the refusal is a few bytes); past `maxUnsentBytes` the
 * connection is dropped, so it can never hold more than that in memory.
 */
import { z } from 'zod';

export interface ConnectionLimits {
  /** Largest accepted message in bytes; a bigger one closes the connection (1009). */
  maxMessageBytes: number;
  /** Requests in flight at once on one connection; more are refused with TooManyPending. */
  maxPending: number;
  /** Live subscriptions per connection. */
  maxSubscriptions: number;
  /** Live subscriptions per principal over all its connections (each multiplies what an event costs to send). */
  maxSubscriptionsPerPrincipal: number;
  /** Items buffered per subscription before the oldest are dropped. */
  subscriptionQueue: number;
  /** Sustained request units per second per principal (all its connections), and the burst above it. */
  requestsPerSecond: number;
  requestBurst: number;
  /** Connections one principal may hold open at once; more are refused at rpc.auth. */
  maxConnectionsPerPrincipal: number;
  /** Time allowed between connecting and authenticating. */
  authTimeoutMs: number;
  /** Unsent bytes past which subscription items wait in their queues and new requests are refused. */
  sendHighWaterBytes: number;
  /** Unsent bytes past which the connection is dropped: the most a non-reading client can cost. */
  maxUnsentBytes: number;
}

export const defaultLimits: ConnectionLimits = {
  maxMessageBytes: 1 << 20,
  maxPending: 64,
  maxSubscriptions: 64,
  maxSubscriptionsPerPrincipal: 128,
  subscriptionQueue: 1024,
  // A console, pcctl or a controller needs a few requests a second; 200 leaves
  // scripts room while one principal cannot take the daemon from the others.
  requestsPerSecond: 200,
  // Must be at least the costliest call's weight, or that call could never pass.
  requestBurst: 1000,
  maxConnectionsPerPrincipal: 32,
  authTimeoutMs: 5000,
  sendHighWaterBytes: 1 << 20,
  // A full 10,000-row list is a few MiB; 32 MiB leaves room for one while others drain.
  maxUnsentBytes: 32 << 20,
};

/** The same bounds as a config section (scheduler, controller): every key optional. */
export const LimitsConfigSchema = z.strictObject({
  maxMessageBytes: z.number().int().min(1024).optional(),
  maxPending: z.number().int().positive().optional(),
  maxSubscriptions: z.number().int().positive().optional(),
  maxSubscriptionsPerPrincipal: z.number().int().positive().optional(),
  subscriptionQueue: z.number().int().positive().optional(),
  requestsPerSecond: z.number().positive().optional(),
  requestBurst: z.number().positive().optional(),
  maxConnectionsPerPrincipal: z.number().int().positive().optional(),
  authTimeoutMs: z.number().int().positive().optional(),
  sendHighWaterBytes: z.number().int().positive().optional(),
  maxUnsentBytes: z.number().int().positive().optional(),
});
export type LimitsConfig = z.infer<typeof LimitsConfigSchema>;

/** The configured keys over the defaults (keys left out keep their default). */
export function limitsFrom(config: LimitsConfig | undefined): Partial<ConnectionLimits> {
  return Object.fromEntries(Object.entries(config ?? {}).filter(([, v]) => v !== undefined)) as Partial<ConnectionLimits>;
}

/**
 * The weight of a call that returns up to `limit` rows, charged before it
 * runs: enough that a loop of "up to 10,000" costs something (11 units)
 * before its rows are known. `rowsCost` charges for the rows it returned.
 */
export function listCost(p: { limit: number }): number {
  return 1 + Math.ceil(p.limit / 1000);
}

/**
 * What rows returned cost, owed after the call: reading and serializing a
 * row costs about a twentieth of a plain request (measured on the test
 * inventory), so 10,000 rows weigh 500.
 */
export function rowsCost(rows: number): number {
  return Math.ceil(rows / 20);
}

/** A token bucket: `take(cost)` is false when the caller is over its rate. */
export class RateLimiter {
  private tokens: number;
  private last: number;
  readonly rate: number;
  readonly burst: number;

  constructor(rate: number, burst: number, now = performance.now()) {
    this.rate = rate;
    this.burst = burst;
    this.tokens = burst;
    this.last = now;
  }

  take(cost = 1, now = performance.now()): boolean {
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.rate);
    this.last = now;
    if (this.tokens < cost) return false;
    this.tokens -= cost;
    return true;
  }

  /** Charges work already done: the bucket may go below zero, refusing what follows until it refills. */
  owe(cost: number, now = performance.now()): void {
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.rate) - cost;
    this.last = now;
  }

  /** Seconds until `cost` units are available (for the refusal message). */
  waitFor(cost: number): number {
    return Math.max(0, (cost - this.tokens) / this.rate);
  }
}
