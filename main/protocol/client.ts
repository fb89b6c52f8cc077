/**
 * The JSON-RPC client every Node process uses (pcctl, controllers talking to
 * the scheduler, the console backend talking to daemons, tests). Calls are
 * typed by the contract; errors arrive as RpcError with their wire code.
 */
import { WebSocket } from 'ws';
import { bridgeOf, type Bridge, type Contract, type ItemOf, type MethodName, type ParamsIn, type ResultOf, type TopicName, type TopicParamsIn } from './contract.ts';
import { ErrorCode, RpcError, type ErrorCodeValue } from './errors.ts';
import { AuthResultSchema, EndParamsSchema, EventParamsSchema, ResponseSchema, rpcMethods, type AuthResult } from './jsonrpc.ts';

export interface RpcClientOptions {
  url: string;
  token: string;
  /** Per-call timeout; the call rejects with Timeout after it. */
  timeoutMs?: number;
  /** Trusted CA for wss:// to a server with a private certificate. */
  ca?: Buffer | string;
  client?: string;
  /** Origin header to send; only hosts that serve a browser UI check it. */
  origin?: string;
}

interface Pending {
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

type ItemListener = (item: unknown, lost: number) => void;

export class RpcClient<C extends Contract> {
  readonly contract: C;
  private ws: WebSocket | undefined;
  private nextId = 1;
  private nextSubscription = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly listeners = new Map<string, { onItem: ItemListener; onEnd?: (reason?: string) => void }>();
  private readonly options: RpcClientOptions;
  private closedHandlers: ((reason: string) => void)[] = [];
  principal: AuthResult['principal'] | undefined;

  constructor(contract: C, options: RpcClientOptions) {
    this.contract = contract;
    this.options = options;
  }

  /** Connects and authenticates; resolves with what the server says we are. */
  async connect(): Promise<AuthResult> {
    const ws = new WebSocket(this.options.url, {
      ...(this.options.ca ? { ca: this.options.ca } : {}),
      ...(this.options.origin ? { origin: this.options.origin } : {}),
      perMessageDeflate: false,
    });
    this.ws = ws;
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', (e) => reject(new RpcError(ErrorCode.Unavailable, `cannot connect to ${this.options.url}: ${e.message}`)));
    });
    ws.on('message', (data) => this.onMessage(data.toString()));
    ws.on('error', () => undefined);
    ws.on('close', (code, reason) => this.onClose(`connection closed (${code}${reason.length ? `: ${reason.toString()}` : ''})`));
    const raw = await this.request(rpcMethods.auth, {
      token: this.options.token,
      contract: this.contract.name,
      version: this.contract.version,
      client: this.options.client ?? 'packetcloud',
    });
    const auth = AuthResultSchema.parse(raw);
    this.principal = auth.principal;
    return auth;
  }

  onClosed(handler: (reason: string) => void): void {
    this.closedHandlers.push(handler);
  }

  get connected(): boolean {
    return this.ws?.readyState === WebSocket.OPEN;
  }

  async call<K extends MethodName<C>>(method: K, params: ParamsIn<C, K>): Promise<ResultOf<C, K>> {
    return (await this.request(method, params)) as ResultOf<C, K>;
  }

  async subscribe<K extends TopicName<C>>(
    topic: K,
    params: TopicParamsIn<C, K>,
    onItem: (item: ItemOf<C, K>, lost: number) => void,
    onEnd?: (reason?: string) => void,
  ): Promise<() => Promise<void>> {
    const subscription = `c${this.nextSubscription++}`;
    this.listeners.set(subscription, { onItem: onItem as ItemListener, ...(onEnd ? { onEnd } : {}) });
    try {
      await this.request(rpcMethods.subscribe, { topic, subscription, params });
    } catch (e) {
      this.listeners.delete(subscription);
      throw e;
    }
    return async () => {
      if (!this.listeners.delete(subscription) || !this.connected) return;
      await this.request(rpcMethods.unsubscribe, { subscription }).catch(() => undefined);
    };
  }

  /** The contract as nested functions: `client.api.reservation.list({})`. */
  get api(): Bridge<C> {
    return bridgeOf(this.contract, (method, params) => this.request(method, params), (topic, params, onItem) =>
      this.subscribe(topic as TopicName<C>, params as TopicParamsIn<C, TopicName<C>>, onItem as never),
    );
  }

  close(): void {
    this.ws?.close(1000, 'client closing');
  }

  private request(method: string, params: unknown): Promise<unknown> {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) {
      return Promise.reject(new RpcError(ErrorCode.Unavailable, `not connected to ${this.options.url}`));
    }
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timeoutMs = this.options.timeoutMs ?? 30_000;
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new RpcError(ErrorCode.Timeout, `${method} got no answer from ${this.options.url} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      ws.send(JSON.stringify({ jsonrpc: '2.0', id, method, params }));
    });
  }

  private onMessage(text: string): void {
    let message: unknown;
    try {
      message = JSON.parse(text);
    } catch {
      return;
    }
    if (typeof message === 'object' && message !== null && 'method' in message) {
      const { method, params } = message as { method: unknown; params: unknown };
      if (method === rpcMethods.event) {
        const event = EventParamsSchema.safeParse(params);
        if (event.success) this.listeners.get(event.data.subscription)?.onItem(event.data.item, event.data.lost);
      } else if (method === rpcMethods.end) {
        const end = EndParamsSchema.safeParse(params);
        if (end.success) {
          const listener = this.listeners.get(end.data.subscription);
          this.listeners.delete(end.data.subscription);
          listener?.onEnd?.(end.data.reason);
        }
      }
      return;
    }
    const response = ResponseSchema.safeParse(message);
    if (!response.success || typeof response.data.id !== 'number') return;
    const pending = this.pending.get(response.data.id);
    if (!pending) return;
    this.pending.delete(response.data.id);
    clearTimeout(pending.timer);
    if ('error' in response.data) {
      const { code, message: text, data } = response.data.error;
      pending.reject(new RpcError(code as ErrorCodeValue, text, data));
    } else {
      pending.resolve(response.data.result);
    }
  }

  private onClose(reason: string): void {
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new RpcError(ErrorCode.Unavailable, reason));
      this.pending.delete(id);
    }
    for (const listener of this.listeners.values()) listener.onEnd?.(reason);
    this.listeners.clear();
    for (const handler of this.closedHandlers) handler(reason);
  }
}
