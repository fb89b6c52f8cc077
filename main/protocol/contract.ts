/**
 * How a method or a topic is declared, once, for every transport. A method
 * names its params schema, its result schema and the roles that may call it;
 * a topic names its subscribe params, its item schema and its roles. Servers,
 * clients, the Electron preload and the renderer all derive from these tables,
 * so a channel name is never written as a bare string twice.
 */
import type { z } from 'zod';
import type { Principal, Role } from './roles.ts';

export interface MethodSpec<P extends z.ZodType = z.ZodType, R extends z.ZodType = z.ZodType> {
  readonly params: P;
  readonly result: R;
  readonly roles: readonly Role[];
  readonly summary: string;
  /**
   * What one call costs the caller's request budget, in plain requests, from
   * its parsed params (default 1): costly calls are limited by what they cost.
   */
  cost?(params: z.output<P>): number;
  /**
   * What the call costs afterwards, by what it returned (a list by its rows):
   * charged as a debt the caller's budget pays back before its next request.
   * A client asking for "up to 10,000" of something there are 50 of pays for 50.
   */
  resultCost?(result: z.output<R>): number;
}

export interface TopicSpec<P extends z.ZodType = z.ZodType, I extends z.ZodType = z.ZodType> {
  readonly params: P;
  readonly item: I;
  readonly roles: readonly Role[];
  readonly summary: string;
}

export type MethodTable = Record<string, MethodSpec>;
export type TopicTable = Record<string, TopicSpec>;

export interface Contract<M extends MethodTable = MethodTable, T extends TopicTable = TopicTable, N extends string = string, V extends number = number> {
  readonly name: N;
  /** Bumped on incompatible changes; a client with another version is refused at auth. */
  readonly version: V;
  readonly methods: M;
  readonly topics: T;
}

export function method<P extends z.ZodType, R extends z.ZodType>(spec: MethodSpec<P, R>): MethodSpec<P, R> {
  return spec;
}

export function topic<P extends z.ZodType, I extends z.ZodType>(spec: TopicSpec<P, I>): TopicSpec<P, I> {
  return spec;
}

export function defineContract<M extends MethodTable, T extends TopicTable, N extends string, V extends number>(c: Contract<M, T, N, V>): Contract<M, T, N, V> {
  return c;
}

export type MethodName<C extends Contract> = keyof C['methods'] & string;
export type TopicName<C extends Contract> = keyof C['topics'] & string;
export type ParamsIn<C extends Contract, K extends MethodName<C>> = z.input<C['methods'][K]['params']>;
export type ParamsOf<C extends Contract, K extends MethodName<C>> = z.output<C['methods'][K]['params']>;
export type ResultOf<C extends Contract, K extends MethodName<C>> = z.output<C['methods'][K]['result']>;
export type TopicParamsIn<C extends Contract, K extends TopicName<C>> = z.input<C['topics'][K]['params']>;
export type TopicParamsOf<C extends Contract, K extends TopicName<C>> = z.output<C['topics'][K]['params']>;
export type ItemOf<C extends Contract, K extends TopicName<C>> = z.output<C['topics'][K]['item']>;

/** What a caller sees: `api.terminal.open(params)` for the method `terminal.open`. */
type NamespaceOf<K extends string> = K extends `${infer NS}.${string}` ? NS : never;
export type Bridge<C extends Contract> = {
  [NS in NamespaceOf<MethodName<C>>]: {
    [K in MethodName<C> as K extends `${NS}.${infer Name}` ? Name : never]: (
      params: ParamsIn<C, K>,
    ) => Promise<ResultOf<C, K>>;
  };
} & {
  /** Subscribe to a topic; returns a function that ends the subscription. */
  subscribe<K extends TopicName<C>>(
    topic: K,
    params: TopicParamsIn<C, K>,
    onItem: (item: ItemOf<C, K>, lost: number) => void,
  ): Promise<() => Promise<void>>;
};

/** A subscription delivers items to one sink; `lost` counts items dropped before this one. */
export interface TopicSink<I> {
  /** `lost`: items the source itself already dropped before this one (a relay passes its upstream's count). */
  push(item: I, lost?: number): void;
  /** Ends the subscription from the server side (for example, the terminal exited). */
  end(): void;
}

export interface CallContext {
  readonly principal: Principal;
  /** Aborted when the connection or window that made the call goes away. */
  readonly signal: AbortSignal;
  /** A stable id of the calling connection, for resources it owns (terminal sessions...). */
  readonly connectionId: string;
  /**
   * Charges the caller's request budget for a call beyond the one unit its
   * message already cost; throws RateLimited when the budget is short.
   * `afterwards`: the work is done; the units are owed, never refused.
   * Transports without budgets (Electron IPC, in-process) leave it out.
   */
  readonly charge?: (units: number, what: string, afterwards?: 'afterwards') => void;
}

export type Handlers<C extends Contract> = {
  [K in MethodName<C>]: (params: ParamsOf<C, K>, ctx: CallContext) => Promise<ResultOf<C, K>> | ResultOf<C, K>;
};

export type TopicHandlers<C extends Contract> = {
  [K in TopicName<C>]: (
    params: TopicParamsOf<C, K>,
    sink: TopicSink<ItemOf<C, K>>,
    ctx: CallContext,
  ) => (() => void) | Promise<() => void>;
};

/** Builds the nested-function view of a contract over any call function. */
export function bridgeOf<C extends Contract>(
  contract: C,
  call: (method: string, params: unknown) => Promise<unknown>,
  subscribe: (topic: string, params: unknown, onItem: (item: unknown, lost: number) => void) => Promise<() => Promise<void>>,
): Bridge<C> {
  const bridge: Record<string, unknown> = { subscribe };
  for (const name of Object.keys(contract.methods)) {
    const dot = name.indexOf('.');
    const ns = name.slice(0, dot);
    const fn = name.slice(dot + 1);
    const group = (bridge[ns] ??= {}) as Record<string, unknown>;
    group[fn] = (params: unknown) => call(name, params);
  }
  return bridge as Bridge<C>;
}
