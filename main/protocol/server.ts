/**
 * The JSON-RPC 2.0 WebSocket server every daemon and the headless host use.
 *
 * Per connection, in order: Origin is checked at the upgrade; the first
 * message must be `rpc.auth` with a bearer token (else the call is refused and
 * the socket closed); then each request is rate limited, bounded in how many
 * may be in flight, and handed to the dispatcher, which checks the role and
 * the params schema. Malformed JSON or params get a JSON-RPC error and the
 * connection stays up; a message over the size limit closes it (ws: 1009).
 * Subscription items go through a bounded queue per subscription and are
 * written only while the socket's unsent bytes stay under a high-water mark,
 * so a slow consumer loses its oldest items and is told how many.
 */
import { randomUUID } from 'node:crypto';
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, WebSocket, type RawData } from 'ws';
import type { TokenStore } from './auth.ts';
import { BoundedQueue } from './boundedQueue.ts';
import type { CallContext } from './contract.ts';
import { describeIssues, toRpcError, type Dispatcher } from './dispatcher.ts';
import { ErrorCode, RpcError } from './errors.ts';
import {
  AuthParamsSchema,
  RequestSchema,
  SubscribeParamsSchema,
  UnsubscribeParamsSchema,
  rpcMethods,
  type AuthResult,
  type RequestId,
} from './jsonrpc.ts';
import { RateLimiter, defaultLimits, type ConnectionLimits } from './limits.ts';
import { assertBindAllowed, readTls, type TlsFiles } from './listen.ts';
import type { Principal } from './roles.ts';

export const CloseCode = {
  Unauthenticated: 4401,
  AuthTimeout: 4408,
  ServerShutdown: 1001,
} as const;

export interface RpcServerOptions {
  dispatcher: Dispatcher;
  tokens: TokenStore;
  limits?: Partial<ConnectionLimits>;
  /** Accepts or refuses the upgrade's Origin header; daemons refuse any browser origin by default. */
  checkOrigin?: (origin: string | undefined) => boolean;
  /** Called when a connection closes, after its subscriptions ended. */
  onDisconnect?: (connectionId: string, principal: Principal | undefined) => void;
  log?: (line: string) => void;
}

interface Subscription {
  readonly id: string;
  readonly queue: BoundedQueue<unknown>;
  unsubscribe: (() => void) | undefined;
  ended: boolean;
}

class Connection {
  readonly id = randomUUID();
  principal: Principal | undefined;
  pending = 0;
  readonly subscriptions = new Map<string, Subscription>();
  readonly abort = new AbortController();
  private readonly limiter: RateLimiter;
  private pumpTimer: NodeJS.Timeout | undefined;
  private readonly authTimer: NodeJS.Timeout;
  private readonly ws: WebSocket;
  private readonly server: RpcServer;
  private readonly limits: ConnectionLimits;

  constructor(ws: WebSocket, server: RpcServer, limits: ConnectionLimits) {
    this.ws = ws;
    this.server = server;
    this.limits = limits;
    this.limiter = new RateLimiter(limits.requestsPerSecond, limits.requestBurst);
    this.authTimer = setTimeout(() => {
      if (!this.principal) ws.close(CloseCode.AuthTimeout, 'authenticate first: rpc.auth was not sent in time');
    }, limits.authTimeoutMs);
    this.authTimer.unref();
    ws.on('message', (data, isBinary) => void this.onMessage(data, isBinary));
    ws.on('close', () => this.onClose());
    ws.on('error', () => ws.terminate());
  }

  private send(message: object): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(message));
  }

  private reply(id: RequestId | undefined, result: unknown): void {
    if (id !== undefined) this.send({ jsonrpc: '2.0', id, result });
  }

  private fail(id: RequestId | null | undefined, error: RpcError): void {
    // Errors for notifications are still sent when the request could not be parsed (id null).
    if (id !== undefined) this.send({ jsonrpc: '2.0', id, error: error.toJSON() });
  }

  private async onMessage(data: RawData, isBinary: boolean): Promise<void> {
    if (isBinary) return this.fail(null, new RpcError(ErrorCode.InvalidRequest, 'binary frames are not accepted: send JSON text'));
    let raw: unknown;
    try {
      raw = JSON.parse(data.toString());
    } catch (e) {
      return this.fail(null, new RpcError(ErrorCode.ParseError, `message is not valid JSON: ${(e as Error).message}`));
    }
    if (Array.isArray(raw)) return this.fail(null, new RpcError(ErrorCode.InvalidRequest, 'batch requests are not supported: send one request per message'));
    const parsed = RequestSchema.safeParse(raw);
    if (!parsed.success) {
      const id = typeof raw === 'object' && raw !== null && 'id' in raw && (typeof raw.id === 'number' || typeof raw.id === 'string') ? raw.id : null;
      return this.fail(id, new RpcError(ErrorCode.InvalidRequest, `not a JSON-RPC 2.0 request: ${describeIssues(parsed.error, 'message')}`));
    }
    const request = parsed.data;

    if (!this.principal) {
      if (request.method !== rpcMethods.auth) {
        this.fail(request.id ?? null, new RpcError(ErrorCode.Unauthenticated, 'authenticate first: the first call must be rpc.auth'));
        this.ws.close(CloseCode.Unauthenticated, 'unauthenticated');
        return;
      }
      return this.authenticate(request.id, request.params);
    }
    if (!this.limiter.take()) {
      return this.fail(request.id, new RpcError(ErrorCode.RateLimited, `over ${this.limits.requestsPerSecond} requests per second: slow down`));
    }
    if (this.pending >= this.limits.maxPending) {
      return this.fail(request.id, new RpcError(ErrorCode.TooManyPending, `more than ${this.limits.maxPending} requests in flight on this connection`));
    }
    this.pending++;
    try {
      const result = await this.route(request.method, request.params);
      this.reply(request.id, result);
    } catch (e) {
      const error = toRpcError(e);
      if (error.code === ErrorCode.InternalError) this.server.log(`${request.method}: ${error.message}`);
      this.fail(request.id, error);
    } finally {
      this.pending--;
    }
  }

  private context(): CallContext {
    return { principal: this.principal as Principal, signal: this.abort.signal, connectionId: this.id };
  }

  private authenticate(id: RequestId | undefined, params: unknown): void {
    const parsed = AuthParamsSchema.safeParse(params);
    const refuse = (error: RpcError): void => {
      this.fail(id ?? null, error);
      this.ws.close(CloseCode.Unauthenticated, 'unauthenticated');
    };
    if (!parsed.success) return refuse(new RpcError(ErrorCode.InvalidParams, describeIssues(parsed.error, 'params')));
    const { contract } = this.server.dispatcher;
    if (parsed.data.contract !== contract.name || parsed.data.version !== contract.version) {
      return refuse(
        new RpcError(
          ErrorCode.VersionMismatch,
          `this server speaks ${contract.name} v${contract.version}; the client asked for ${parsed.data.contract} v${parsed.data.version}`,
        ),
      );
    }
    const found = this.server.tokens.authenticate(parsed.data.token);
    if (!found) return refuse(new RpcError(ErrorCode.Unauthenticated, 'token not accepted'));
    this.principal = found.principal;
    clearTimeout(this.authTimer);
    const result: AuthResult = { principal: found.principal, contract: contract.name, version: contract.version };
    if (found.singleUse) result.sessionToken = this.server.tokens.issue(found.principal);
    this.reply(id, result);
  }

  private async route(method: string, params: unknown): Promise<unknown> {
    if (method === rpcMethods.subscribe) return this.subscribe(params);
    if (method === rpcMethods.unsubscribe) {
      const parsed = UnsubscribeParamsSchema.safeParse(params);
      if (!parsed.success) throw new RpcError(ErrorCode.InvalidParams, describeIssues(parsed.error, 'params'));
      const sub = this.subscriptions.get(parsed.data.subscription);
      if (!sub) throw new RpcError(ErrorCode.NotFound, `no subscription "${parsed.data.subscription}" on this connection`);
      this.endSubscription(sub, undefined);
      return {};
    }
    if (method === rpcMethods.auth) throw new RpcError(ErrorCode.InvalidRequest, 'this connection is already authenticated');
    return this.server.dispatcher.call(method, params, this.context());
  }

  private async subscribe(params: unknown): Promise<{ subscription: string }> {
    const parsed = SubscribeParamsSchema.safeParse(params);
    if (!parsed.success) throw new RpcError(ErrorCode.InvalidParams, describeIssues(parsed.error, 'params'));
    if (this.subscriptions.size >= this.limits.maxSubscriptions) {
      throw new RpcError(ErrorCode.TooManySubscriptions, `at most ${this.limits.maxSubscriptions} subscriptions per connection`);
    }
    if (this.subscriptions.has(parsed.data.subscription)) {
      throw new RpcError(ErrorCode.Conflict, `subscription "${parsed.data.subscription}" already exists on this connection`);
    }
    const sub: Subscription = {
      id: parsed.data.subscription,
      queue: new BoundedQueue(this.limits.subscriptionQueue),
      unsubscribe: undefined,
      ended: false,
    };
    this.subscriptions.set(sub.id, sub);
    try {
      sub.unsubscribe = await this.server.dispatcher.subscribe(
        parsed.data.topic,
        parsed.data.params,
        {
          push: (item) => {
            if (sub.ended) return;
            sub.queue.push(item);
            this.pump();
          },
          end: () => this.endSubscription(sub, 'ended by server'),
        },
        this.context(),
      );
    } catch (e) {
      this.subscriptions.delete(sub.id);
      throw e;
    }
    if (sub.ended) sub.unsubscribe();
    return { subscription: sub.id };
  }

  private endSubscription(sub: Subscription, reason: string | undefined): void {
    if (sub.ended) return;
    sub.ended = true;
    // Deliver what is already queued before saying the stream ended.
    this.flush(sub);
    this.subscriptions.delete(sub.id);
    sub.unsubscribe?.();
    if (reason) this.send({ jsonrpc: '2.0', method: rpcMethods.end, params: { subscription: sub.id, reason } });
  }

  private flush(sub: Subscription): void {
    for (let next = sub.queue.take(); next; next = sub.queue.take()) {
      this.send({ jsonrpc: '2.0', method: rpcMethods.event, params: { subscription: sub.id, item: next.item, lost: next.lost } });
    }
  }

  /** Writes queued items while the socket keeps up; otherwise retries shortly. */
  private pump(): void {
    if (this.pumpTimer) return;
    let progress = true;
    while (progress && this.ws.readyState === WebSocket.OPEN) {
      progress = false;
      for (const sub of this.subscriptions.values()) {
        if (this.ws.bufferedAmount >= this.limits.sendHighWaterBytes) break;
        const next = sub.queue.take();
        if (!next) continue;
        progress = true;
        this.send({ jsonrpc: '2.0', method: rpcMethods.event, params: { subscription: sub.id, item: next.item, lost: next.lost } });
      }
    }
    const backlog = [...this.subscriptions.values()].some((s) => s.queue.length > 0);
    if (backlog && this.ws.readyState === WebSocket.OPEN) {
      this.pumpTimer = setTimeout(() => {
        this.pumpTimer = undefined;
        this.pump();
      }, 5);
    }
  }

  private onClose(): void {
    clearTimeout(this.authTimer);
    if (this.pumpTimer) clearTimeout(this.pumpTimer);
    this.abort.abort();
    for (const sub of this.subscriptions.values()) {
      sub.ended = true;
      sub.unsubscribe?.();
    }
    this.subscriptions.clear();
    this.server.forget(this);
  }

  close(code: number, reason: string): void {
    this.ws.close(code, reason);
  }
}

export class RpcServer {
  readonly dispatcher: Dispatcher;
  readonly tokens: TokenStore;
  private readonly limits: ConnectionLimits;
  private readonly wss: WebSocketServer;
  private readonly connections = new Set<Connection>();
  private readonly options: RpcServerOptions;
  private http: HttpServer | undefined;

  constructor(options: RpcServerOptions) {
    this.options = options;
    this.dispatcher = options.dispatcher;
    this.tokens = options.tokens;
    this.limits = { ...defaultLimits, ...options.limits };
    this.wss = new WebSocketServer({ noServer: true, maxPayload: this.limits.maxMessageBytes, perMessageDeflate: false });
    this.wss.on('connection', (ws: WebSocket) => {
      this.connections.add(new Connection(ws, this, this.limits));
    });
  }

  log(line: string): void {
    (this.options.log ?? ((l: string) => process.stderr.write(`${l}\n`)))(line);
  }

  forget(connection: Connection): void {
    this.connections.delete(connection);
    this.options.onDisconnect?.(connection.id, connection.principal);
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  /** Handles an HTTP upgrade for this server (used when sharing a port with HTTP). */
  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    const origin = request.headers.origin;
    const allowed = (this.options.checkOrigin ?? ((o: string | undefined) => o === undefined))(origin);
    if (!allowed) {
      socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\n\r\n');
      return;
    }
    this.wss.handleUpgrade(request, socket, head, (ws) => this.wss.emit('connection', ws, request));
  }

  /** Listens on its own port. Refuses non-loopback hosts without TLS. */
  async listen(host: string, port: number, tls?: TlsFiles): Promise<AddressInfo> {
    assertBindAllowed(host, tls, 'rpc server');
    const http = tls ? createHttpsServer(readTls(tls)) : createHttpServer();
    http.on('request', (_req, res) => {
      res.writeHead(426, { 'content-type': 'text/plain' }).end('this endpoint speaks JSON-RPC over WebSocket\n');
    });
    http.on('upgrade', (req, socket, head) => this.handleUpgrade(req, socket, head));
    this.http = http;
    await new Promise<void>((resolve, reject) => {
      http.once('error', reject);
      http.listen(port, host, () => resolve());
    });
    return http.address() as AddressInfo;
  }

  async close(): Promise<void> {
    for (const c of this.connections) c.close(CloseCode.ServerShutdown, 'server shutting down');
    this.wss.close();
    const http = this.http;
    if (http) {
      http.closeAllConnections?.();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    }
  }
}
