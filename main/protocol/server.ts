/**
 * The JSON-RPC 2.0 WebSocket server every daemon and the headless host use.
 *
 * Per connection, in order: Origin is checked at the upgrade; the first
 * message must be `rpc.auth` with a bearer token (else the call is refused and
 * the socket closed), and a principal already holding its share of
 * connections is refused there; then each request is charged to its
 * principal's budget (shared by all of that principal's connections, weighted
 * by what the method declares it costs), refused while the connection has
 * too many unsent bytes (its client is not reading), bounded in how many may
 * be in flight, and handed to the dispatcher, which checks the role and the
 * params schema. Malformed JSON or params get a JSON-RPC error and the
 * connection stays up; a message over the size limit closes it (ws: 1009),
 * and so does passing the unsent-bytes bound (limits.ts says why).
 * Subscription items go through subscriptions.ts: bounded queues, pumped only
 * while the socket's unsent bytes stay under a high-water mark. An item
 * pushed to many subscribers is serialized to JSON once and the text shared.
 */
import { randomUUID } from 'node:crypto';
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, WebSocket, type RawData } from 'ws';
import type { TokenStore } from './auth.ts';
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
import { principalKey, type Principal } from './roles.ts';
import { Subscriptions } from './subscriptions.ts';

export const CloseCode = {
  Unauthenticated: 4401,
  AuthTimeout: 4408,
  TooManyConnections: 4429,
  Flooding: 4430,
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
  /**
   * Pass the message of an unexpected error to the caller (the console's own backend, whose one
   * client is the operator at this machine); daemons answer with a reference to their log instead.
   */
  exposeInternalErrors?: boolean;
}

/** What one principal shares across its connections. */
interface PrincipalBudget {
  readonly limiter: RateLimiter;
  readonly connections: Set<Connection>;
}

/**
 * JSON of subscription items, made once per item object however many
 * subscribers it goes to. Items are immutable once pushed (events, frames),
 * so the text stays true; the WeakMap lets it go with the item.
 */
const itemJson = new WeakMap<object, string>();

function jsonOfItem(item: unknown): string {
  if (typeof item !== 'object' || item === null) return JSON.stringify(item) ?? 'null';
  let json = itemJson.get(item);
  if (json === undefined) {
    json = JSON.stringify(item);
    itemJson.set(item, json);
  }
  return json;
}

/** An `rpc.event` notification around an already serialized item. */
function eventFrame(subscription: string, item: unknown, lost: number): string {
  return `{"jsonrpc":"2.0","method":"${rpcMethods.event}","params":{"subscription":${JSON.stringify(subscription)},"lost":${lost},"item":${jsonOfItem(item)}}}`;
}

function overBudgetMessage(principal: Principal, limiter: RateLimiter, units: number, what?: string): string {
  const call = what ? `${what} costs ${units} units and ` : '';
  return `${call}${principal.role} "${principal.name}" is over its budget of ${limiter.rate} requests per second (burst ${limiter.burst}), shared by all its connections: retry in ${limiter.waitFor(units).toFixed(1)} s`;
}

function overBudget(principal: Principal, limiter: RateLimiter, units: number, what?: string): RpcError {
  return new RpcError(ErrorCode.RateLimited, overBudgetMessage(principal, limiter, units, what));
}

/**
 * The error object of a refusal for being over budget, built without an
 * Error (whose stack trace would be most of what a refusal costs): floods are
 * answered with these.
 */
function overBudgetJson(principal: Principal, limiter: RateLimiter): string {
  return JSON.stringify({ code: ErrorCode.RateLimited, message: overBudgetMessage(principal, limiter, 1) });
}

/** Refusals in a row for being over budget before a connection's socket is left unread a while. */
const refusalsBeforeHoldOff = 8;
/** How long such a socket is left unread. */
const holdOffMs = 1000;
/**
 * Refusals in a row before the connection is closed: the hold-off stops
 * reading, but what the client had already sent (64 requests in flight, say)
 * still arrives; a client that sends past that is not listening.
 */
const refusalsBeforeDisconnect = 100;

class Connection {
  readonly id = randomUUID();
  principal: Principal | undefined;
  pending = 0;
  readonly abort = new AbortController();
  private budget: PrincipalBudget | undefined;
  private ctx: CallContext | undefined;
  private dropped = false;
  private refusedInRow = 0;
  /** Authentication is being refused (after a delay): nothing else is read. */
  private refusing = false;
  /** While held off for flooding: the refusal every request gets, serialized. */
  private heldOff: string | undefined;
  private readonly subscriptions: Subscriptions;
  private readonly authTimer: NodeJS.Timeout;
  private readonly ws: WebSocket;
  private readonly server: RpcServer;
  private readonly limits: ConnectionLimits;

  constructor(ws: WebSocket, server: RpcServer, limits: ConnectionLimits) {
    this.ws = ws;
    this.server = server;
    this.limits = limits;
    this.subscriptions = new Subscriptions(
      {
        ready: () => this.ws.readyState === WebSocket.OPEN && this.ws.bufferedAmount < limits.sendHighWaterBytes,
        deliver: (subscription, item, lost) => this.sendText(eventFrame(subscription, item, lost)),
        ended: (subscription, reason) => this.send({ jsonrpc: '2.0', method: rpcMethods.end, params: { subscription, reason } }),
      },
      limits,
    );
    this.authTimer = setTimeout(() => {
      if (!this.principal) ws.close(CloseCode.AuthTimeout, 'authenticate first: rpc.auth was not sent in time');
    }, limits.authTimeoutMs);
    this.authTimer.unref();
    ws.on('message', (data, isBinary) => void this.onMessage(data, isBinary));
    ws.on('close', () => this.onClose());
    ws.on('error', () => ws.terminate());
  }

  private sendText(text: string): void {
    if (this.ws.readyState !== WebSocket.OPEN) return;
    this.ws.send(text);
    if (this.ws.bufferedAmount > this.limits.maxUnsentBytes) this.drop();
  }

  private send(message: object): void {
    this.sendText(JSON.stringify(message));
  }

  /**
   * The client is not reading: its unsent bytes passed the bound. A close
   * frame would only queue behind them, so the socket is destroyed, which
   * frees them at once.
   */
  private drop(): void {
    if (this.dropped) return;
    this.dropped = true;
    const who = this.principal ? `${this.principal.role} "${this.principal.name}"` : 'an unauthenticated client';
    this.server.log(`dropped a connection of ${who}: ${this.ws.bufferedAmount} bytes unsent, over the bound of ${this.limits.maxUnsentBytes} (the client is not reading)`);
    this.ws.terminate();
  }

  private reply(id: RequestId | undefined, result: unknown): void {
    if (id !== undefined) this.send({ jsonrpc: '2.0', id, result });
  }

  private fail(id: RequestId | null | undefined, error: RpcError): void {
    // Errors for notifications are still sent when the request could not be parsed (id null).
    if (id !== undefined) this.send({ jsonrpc: '2.0', id, error: error.toJSON() });
  }

  private async onMessage(data: RawData, isBinary: boolean): Promise<void> {
    // Closing (flood, shutdown) or about to be refused: what is still buffered is not worth a reply.
    if (this.ws.readyState !== WebSocket.OPEN || this.refusing) return;
    if (isBinary) return this.fail(null, new RpcError(ErrorCode.InvalidRequest, 'binary frames are not accepted: send JSON text'));
    let raw: unknown;
    try {
      raw = JSON.parse(data.toString());
    } catch (e) {
      return this.fail(null, new RpcError(ErrorCode.ParseError, `message is not valid JSON: ${(e as Error).message}`));
    }
    if (Array.isArray(raw)) return this.fail(null, new RpcError(ErrorCode.InvalidRequest, 'batch requests are not supported: send one request per message'));
    if (this.heldOff) return this.refuseHeldOff(raw);
    const parsed = RequestSchema.safeParse(raw);
    if (!parsed.success) {
      const id = typeof raw === 'object' && raw !== null && 'id' in raw && (typeof raw.id === 'number' || typeof raw.id === 'string') ? raw.id : null;
      return this.fail(id, new RpcError(ErrorCode.InvalidRequest, `not a JSON-RPC 2.0 request: ${describeIssues(parsed.error, 'message')}`));
    }
    const request = parsed.data;

    if (!this.principal || !this.budget) {
      if (request.method !== rpcMethods.auth) {
        this.fail(request.id ?? null, new RpcError(ErrorCode.Unauthenticated, 'authenticate first: the first call must be rpc.auth'));
        this.ws.close(CloseCode.Unauthenticated, 'unauthenticated');
        return;
      }
      return this.authenticate(request.id, request.params);
    }
    // Every message costs one unit of the principal's budget; costly methods charge more (dispatcher).
    if (!this.budget.limiter.take(1)) {
      this.refuseWith(request.id, overBudgetJson(this.principal, this.budget.limiter));
      this.holdOffFlood();
      return;
    }
    this.refusedInRow = 0;
    const unsent = this.ws.bufferedAmount;
    if (unsent >= this.limits.sendHighWaterBytes) {
      return this.fail(
        request.id,
        new RpcError(ErrorCode.Backlogged, `refused: ${unsent} bytes of earlier replies are still unsent on this connection; read them before sending more requests`),
      );
    }
    if (this.pending >= this.limits.maxPending) {
      return this.fail(request.id, new RpcError(ErrorCode.TooManyPending, `more than ${this.limits.maxPending} requests in flight on this connection`));
    }
    this.pending++;
    try {
      const result = await this.route(request.method, request.params);
      this.reply(request.id, result);
    } catch (e) {
      this.fail(request.id, toRpcError(e, { expose: this.server.exposeInternalErrors, log: (line) => this.server.log(line), where: request.method }));
    } finally {
      this.pending--;
    }
  }

  /**
   * A client that keeps sending while refused would still cost the daemon a
   * parse and a refusal per message. After a few refusals in a row its socket
   * is not read until the budget has refilled, so TCP holds its flood back at
   * no cost to anyone else; one that goes on regardless is disconnected
   * (4429), and reconnecting costs its budget too (rpc.auth).
   */
  private holdOffFlood(): void {
    this.refusedInRow++;
    if (this.refusedInRow >= refusalsBeforeDisconnect) {
      this.server.log(`disconnected a connection of ${this.principal?.role} "${this.principal?.name}": ${this.refusedInRow} requests in a row over its budget`);
      this.ws.close(CloseCode.Flooding, 'requests kept coming while over budget: slow down');
      // Read again, or the client's closing handshake would wait behind the hold-off.
      this.ws.resume();
      return;
    }
    if (this.refusedInRow < refusalsBeforeHoldOff || this.heldOff) return;
    this.ws.pause();
    const limiter = (this.budget as PrincipalBudget).limiter;
    const wait = Math.max(holdOffMs, limiter.waitFor(1) * 1000);
    // What was already read keeps arriving during the hold-off: one refusal text serves it all.
    this.heldOff = overBudgetJson(this.principal as Principal, limiter);
    setTimeout(() => {
      this.heldOff = undefined;
      if (this.ws.readyState === WebSocket.OPEN) this.ws.resume();
    }, wait).unref();
  }

  /** During a hold-off: the request is refused without being looked at beyond its id. */
  private refuseHeldOff(raw: unknown): void {
    const id = typeof raw === 'object' && raw !== null && 'id' in raw && (typeof raw.id === 'number' || typeof raw.id === 'string') ? raw.id : undefined;
    this.refuseWith(id, this.heldOff as string);
    this.holdOffFlood();
  }

  private refuseWith(id: RequestId | undefined, errorJson: string): void {
    if (id !== undefined) this.sendText(`{"jsonrpc":"2.0","id":${JSON.stringify(id)},"error":${errorJson}}`);
  }



  private authenticate(id: RequestId | undefined, params: unknown): void {
    const parsed = AuthParamsSchema.safeParse(params);
    const refuse = (error: RpcError, code: number = CloseCode.Unauthenticated): void => {
      this.fail(id ?? null, error);
      this.ws.close(code, code === CloseCode.Unauthenticated ? 'unauthenticated' : code === CloseCode.Flooding ? 'over budget' : 'too many connections');
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
    const budget = this.server.budgetOf(found.principal);
    if (budget.connections.size >= this.limits.maxConnectionsPerPrincipal) {
      return refuse(
        new RpcError(
          ErrorCode.TooManyConnections,
          `${found.principal.role} "${found.principal.name}" already has ${budget.connections.size} connections open, the most allowed: close one first`,
        ),
        CloseCode.TooManyConnections,
      );
    }
    // Reconnecting is not a way around the budget: authenticating costs a unit of it. The
    // refusal comes after the hold-off, the connection counting against the principal's cap
    // meanwhile, so a client reconnecting in a loop does so about once a second per connection.
    if (!budget.limiter.take(1)) {
      this.refusing = true;
      budget.connections.add(this);
      const refusal = overBudget(found.principal, budget.limiter, 1);
      setTimeout(() => {
        budget.connections.delete(this);
        refuse(refusal, CloseCode.Flooding);
      }, holdOffMs).unref();
      return;
    }
    budget.connections.add(this);
    this.budget = budget;
    this.principal = found.principal;
    this.ctx = {
      principal: found.principal,
      signal: this.abort.signal,
      connectionId: this.id,
      charge: (units, what, afterwards) => {
        if (afterwards) budget.limiter.owe(units);
        else if (!budget.limiter.take(units)) throw overBudget(found.principal, budget.limiter, units + 1, what);
      },
    };
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
      if (!this.subscriptions.cancel(parsed.data.subscription)) {
        throw new RpcError(ErrorCode.NotFound, `no subscription "${parsed.data.subscription}" on this connection`);
      }
      return {};
    }
    if (method === rpcMethods.auth) throw new RpcError(ErrorCode.InvalidRequest, 'this connection is already authenticated');
    return this.server.dispatcher.call(method, params, this.ctx as CallContext);
  }

  private async subscribe(params: unknown): Promise<{ subscription: string }> {
    const parsed = SubscribeParamsSchema.safeParse(params);
    if (!parsed.success) throw new RpcError(ErrorCode.InvalidParams, describeIssues(parsed.error, 'params'));
    const { subscription, topic, params: topicParams } = parsed.data;
    // Every subscription multiplies what each event costs to send: bounded per principal too.
    let held = 0;
    for (const c of (this.budget as PrincipalBudget).connections) held += c.subscriptionCount;
    if (held >= this.limits.maxSubscriptionsPerPrincipal) {
      const principal = this.principal as Principal;
      throw new RpcError(
        ErrorCode.TooManySubscriptions,
        `${principal.role} "${principal.name}" already holds ${held} subscriptions over all its connections, the most allowed`,
      );
    }
    await this.subscriptions.open(subscription, (sink) => this.server.dispatcher.subscribe(topic, topicParams, sink, this.ctx as CallContext));
    return { subscription };
  }

  get subscriptionCount(): number {
    return this.subscriptions.size;
  }

  private onClose(): void {
    clearTimeout(this.authTimer);
    this.abort.abort();
    this.subscriptions.closeAll();
    this.budget?.connections.delete(this);
    this.budget = undefined;
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
  /** Per principal, for as long as the server runs: reconnecting does not refill a bucket. */
  private readonly budgets = new Map<string, PrincipalBudget>();
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

  get exposeInternalErrors(): boolean {
    return this.options.exposeInternalErrors ?? false;
  }

  budgetOf(principal: Principal): PrincipalBudget {
    const key = principalKey(principal);
    let budget = this.budgets.get(key);
    if (!budget) {
      budget = { limiter: new RateLimiter(this.limits.requestsPerSecond, this.limits.requestBurst), connections: new Set() };
      this.budgets.set(key, budget);
    }
    return budget;
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
