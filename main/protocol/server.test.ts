import { once } from 'node:events';
import { afterEach, describe, expect, test } from 'vitest';
import { WebSocket } from 'ws';
import { z } from 'zod';
import { TokenStore } from './auth.ts';
import { RpcClient } from './client.ts';
import { defineContract, method, topic, type TopicSink } from './contract.ts';
import { createDispatcher } from './dispatcher.ts';
import { Conflict, ErrorCode, RpcError } from './errors.ts';
import type { ConnectionLimits } from './limits.ts';
import { RpcServer } from './server.ts';

const demo = defineContract({
  name: 'demo',
  version: 1,
  methods: {
    'demo.echo': method({ summary: 'echo', roles: ['viewer', 'operator'], params: z.object({ text: z.string().max(100) }), result: z.object({ text: z.string() }) }),
    'demo.restart': method({ summary: 'operators only', roles: ['operator'], params: z.object({}), result: z.object({ done: z.boolean() }) }),
    'demo.slow': method({ summary: 'never answers quickly', roles: ['viewer'], params: z.object({}), result: z.object({}) }),
    'demo.big': method({ summary: 'a reply of `kb` KiB', roles: ['viewer'], params: z.object({ kb: z.number().int().max(4096) }), result: z.object({ pad: z.string() }) }),
    'demo.costly': method({ summary: 'costs 5 units', roles: ['viewer'], params: z.object({}), result: z.object({}), cost: () => 5 }),
    'demo.fault': method({ summary: 'fails as asked', roles: ['viewer'], params: z.object({ kind: z.enum(['bug', 'conflict']) }), result: z.object({}) }),
    'demo.rows': method({
      summary: 'up to `limit` rows, `count` of them there; a row costs a unit afterwards',
      roles: ['viewer'],
      params: z.object({ limit: z.number().int(), count: z.number().int() }),
      result: z.object({ rows: z.array(z.number()) }),
      resultCost: (r) => r.rows.length,
    }),
  },
  topics: {
    'demo.ticks': topic({ summary: 'ticks', roles: ['viewer'], params: z.object({}), item: z.object({ n: z.number(), pad: z.string() }) }),
  },
});

const tokens = {
  viewer: 'viewer-token-0123456789abcdef',
  operator: 'operator-token-0123456789abcdef',
  // A second token of the same viewer "v": one principal, two tokens.
  viewer2: 'viewer-second-token-0123456789abcdef',
  otherViewer: 'other-viewer-token-0123456789abcdef',
};

interface Harness {
  server: RpcServer;
  url: string;
  sinks: TopicSink<unknown>[];
}

const servers: RpcServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function startServer(limits: Partial<ConnectionLimits> = {}, log: (line: string) => void = () => undefined, exposeInternalErrors = false): Promise<Harness> {
  const sinks: TopicSink<unknown>[] = [];
  const dispatcher = createDispatcher(
    demo,
    {
      'demo.echo': (p) => ({ text: p.text }),
      'demo.restart': () => ({ done: true }),
      'demo.slow': () => new Promise(() => undefined),
      'demo.big': (p) => ({ pad: 'x'.repeat(p.kb * 1024) }),
      'demo.costly': () => ({}),
      'demo.rows': (p) => ({ rows: Array.from({ length: Math.min(p.limit, p.count) }, (_, i) => i) }),
      'demo.fault': (p) => {
        if (p.kind === 'conflict') throw new Conflict('the demo is busy restarting');
        throw new Error('SQLITE_ERROR near "secret_table" in /var/lib/pcloud/scheduler.sqlite');
      },
    },
    {
      'demo.ticks': (_p, sink) => {
        sinks.push(sink as TopicSink<unknown>);
        return () => undefined;
      },
    },
  );
  const server = new RpcServer({
    dispatcher,
    tokens: new TokenStore([
      { token: tokens.viewer, principal: { role: 'viewer', name: 'v' } },
      { token: tokens.operator, principal: { role: 'operator', name: 'o' } },
      { token: tokens.viewer2, principal: { role: 'viewer', name: 'v' } },
      { token: tokens.otherViewer, principal: { role: 'viewer', name: 'w' } },
    ]),
    limits,
    log,
    exposeInternalErrors,
  });
  servers.push(server);
  const address = await server.listen('127.0.0.1', 0);
  return { server, url: `ws://127.0.0.1:${address.port}`, sinks };
}

/** A raw socket, for sending what a well-behaved client never would. */
async function rawSocket(url: string): Promise<{ ws: WebSocket; next: () => Promise<Record<string, unknown>> }> {
  const ws = new WebSocket(url);
  const inbox: Record<string, unknown>[] = [];
  const waiters: ((m: Record<string, unknown>) => void)[] = [];
  ws.on('message', (data) => {
    const message = JSON.parse(data.toString()) as Record<string, unknown>;
    const waiter = waiters.shift();
    if (waiter) waiter(message);
    else inbox.push(message);
  });
  await once(ws, 'open');
  return { ws, next: () => new Promise((resolve) => (inbox.length ? resolve(inbox.shift() as Record<string, unknown>) : waiters.push(resolve))) };
}

async function authed(url: string, token = tokens.viewer) {
  const raw = await rawSocket(url);
  raw.ws.send(JSON.stringify({ jsonrpc: '2.0', id: 0, method: 'rpc.auth', params: { token, contract: 'demo', version: 1 } }));
  expect(await raw.next()).toMatchObject({ id: 0, result: { principal: { role: expect.any(String) } } });
  return raw;
}

describe('authentication comes first', () => {
  test('a call before rpc.auth is refused and the connection closed', async () => {
    const { url } = await startServer();
    const { ws, next } = await rawSocket(url);
    const closed = once(ws, 'close');
    ws.send(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'demo.echo', params: { text: 'hi' } }));
    expect(await next()).toMatchObject({ id: 1, error: { code: ErrorCode.Unauthenticated } });
    const [code] = await closed;
    expect(code).toBe(4401);
  });

  test('a wrong token is refused', async () => {
    const { url } = await startServer();
    const client = new RpcClient(demo, { url, token: 'not-a-valid-token-at-all' });
    await expect(client.connect()).rejects.toMatchObject({ code: ErrorCode.Unauthenticated });
  });

  test('a client of another contract version is refused', async () => {
    const { url } = await startServer();
    const { ws, next } = await rawSocket(url);
    ws.send(JSON.stringify({ jsonrpc: '2.0', id: 0, method: 'rpc.auth', params: { token: tokens.viewer, contract: 'demo', version: 2 } }));
    expect(await next()).toMatchObject({ error: { code: ErrorCode.VersionMismatch } });
  });

  test('a browser origin is refused at the upgrade by default', async () => {
    const { url } = await startServer();
    const ws = new WebSocket(url, { origin: 'https://evil.example' });
    const [error] = (await once(ws, 'error')) as [Error];
    expect(error.message).toMatch(/403/);
  });
});

describe('roles and schemas', () => {
  test('a role that is not allowed gets Forbidden, an allowed one the result', async () => {
    const { url } = await startServer();
    const viewer = new RpcClient(demo, { url, token: tokens.viewer });
    await viewer.connect();
    await expect(viewer.call('demo.restart', {})).rejects.toMatchObject({ code: ErrorCode.Forbidden, message: expect.stringMatching(/viewer.*demo\.restart/) });
    const operator = new RpcClient(demo, { url, token: tokens.operator });
    await operator.connect();
    await expect(operator.call('demo.restart', {})).resolves.toEqual({ done: true });
    viewer.close();
    operator.close();
  });

  test('malformed JSON gets ParseError and the connection stays up', async () => {
    const { url } = await startServer();
    const { ws, next } = await authed(url);
    ws.send('{"jsonrpc": "2.0", "id": 5, "method": ');
    expect(await next()).toMatchObject({ id: null, error: { code: ErrorCode.ParseError } });
    ws.send(JSON.stringify({ jsonrpc: '2.0', id: 6, method: 'demo.echo', params: { text: 'still here' } }));
    expect(await next()).toMatchObject({ id: 6, result: { text: 'still here' } });
    ws.close();
  });

  test('params that violate the schema get InvalidParams naming the field, and the connection stays up', async () => {
    const { url } = await startServer();
    const { ws, next } = await authed(url);
    ws.send(JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'demo.echo', params: { text: 42 } }));
    const reply = await next();
    expect(reply).toMatchObject({ id: 7, error: { code: ErrorCode.InvalidParams } });
    expect((reply.error as { message: string }).message).toContain('params.text');
    ws.send(JSON.stringify({ jsonrpc: '2.0', id: 8, method: 'demo.nope', params: {} }));
    expect(await next()).toMatchObject({ id: 8, error: { code: ErrorCode.MethodNotFound } });
    ws.send(JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'demo.echo', params: { text: 'ok' } }));
    expect(await next()).toMatchObject({ id: 9, result: { text: 'ok' } });
    ws.close();
  });

  test('an oversized message closes the connection', async () => {
    const { url } = await startServer({ maxMessageBytes: 4096 });
    const { ws } = await authed(url);
    const closed = once(ws, 'close');
    ws.send(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'demo.echo', params: { text: 'x'.repeat(10_000) } }));
    const [code] = await closed;
    expect(code).toBe(1009);
  });
});

describe('limits', () => {
  test('requests beyond the pending limit are refused with TooManyPending', async () => {
    const { url } = await startServer({ maxPending: 2 });
    const { ws, next } = await authed(url);
    for (const id of [1, 2, 3]) ws.send(JSON.stringify({ jsonrpc: '2.0', id, method: 'demo.slow', params: {} }));
    expect(await next()).toMatchObject({ id: 3, error: { code: ErrorCode.TooManyPending } });
    ws.close();
  });

  test('a burst over the rate limit is refused with RateLimited', async () => {
    // rpc.auth takes one unit of the four; three requests pass.
    const { url } = await startServer({ requestsPerSecond: 1, requestBurst: 4 });
    const { ws, next } = await authed(url);
    for (let id = 1; id <= 5; id++) ws.send(JSON.stringify({ jsonrpc: '2.0', id, method: 'demo.echo', params: { text: 'x' } }));
    const replies = await Promise.all([1, 2, 3, 4, 5].map(() => next()));
    expect(replies.filter((r) => 'error' in r && (r.error as { code: number }).code === ErrorCode.RateLimited)).toHaveLength(2);
    ws.close();
  });

  test('the request budget is per principal, shared by all its connections and tokens', async () => {
    // Two rpc.auth take two units of the six; four requests of six pass.
    const { url } = await startServer({ requestsPerSecond: 1, requestBurst: 6 });
    const a = await authed(url);
    const b = await authed(url, tokens.viewer2);
    const other = await authed(url, tokens.otherViewer);
    for (let id = 1; id <= 3; id++) a.ws.send(JSON.stringify({ jsonrpc: '2.0', id, method: 'demo.echo', params: { text: 'x' } }));
    for (let id = 1; id <= 3; id++) b.ws.send(JSON.stringify({ jsonrpc: '2.0', id, method: 'demo.echo', params: { text: 'x' } }));
    const replies = [...(await Promise.all([1, 2, 3].map(() => a.next()))), ...(await Promise.all([1, 2, 3].map(() => b.next())))];
    const refused = replies.filter((r) => (r.error as { code?: number } | undefined)?.code === ErrorCode.RateLimited);
    expect(refused).toHaveLength(2);
    expect((refused[0]?.error as { message: string }).message).toMatch(/viewer "v" is over its budget .* shared by all its connections/);
    // Another principal has its own budget.
    other.ws.send(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'demo.echo', params: { text: 'x' } }));
    expect(await other.next()).toMatchObject({ id: 1, result: { text: 'x' } });
    for (const c of [a, b, other]) c.ws.close();
  });

  test('a costly method is charged its weight and refused when the budget is short', async () => {
    const { url } = await startServer({ requestsPerSecond: 1, requestBurst: 9 });
    const { ws, next } = await authed(url);
    ws.send(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'demo.costly', params: {} }));
    expect(await next()).toMatchObject({ id: 1, result: {} });
    ws.send(JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'demo.costly', params: {} }));
    const refused = await next();
    expect(refused).toMatchObject({ id: 2, error: { code: ErrorCode.RateLimited } });
    expect((refused.error as { message: string }).message).toMatch(/demo\.costly costs 5 units/);
    // Plain requests still fit in what is left (9 - 1 for rpc.auth - 5 - 1 for the refused message).
    ws.send(JSON.stringify({ jsonrpc: '2.0', id: 3, method: 'demo.echo', params: { text: 'x' } }));
    expect(await next()).toMatchObject({ id: 3, result: { text: 'x' } });
    ws.close();
  });

  test('a client that keeps sending while refused is held off, then disconnected, and cannot come back at once', async () => {
    const lines: string[] = [];
    const { url, server } = await startServer({ requestsPerSecond: 1, requestBurst: 2 }, (l) => lines.push(l));
    const { ws } = await authed(url);
    const closed = once(ws, 'close');
    for (let id = 1; id <= 400; id++) ws.send(JSON.stringify({ jsonrpc: '2.0', id, method: 'demo.echo', params: { text: 'x' } }));
    const [code] = (await closed) as [number];
    expect(code).toBe(4430);
    expect(lines.join('\n')).toMatch(/disconnected a connection of viewer "v": 100 requests in a row over its budget/);
    // Its budget is spent: authenticating again is refused as well.
    const again = await rawSocket(url);
    again.ws.send(JSON.stringify({ jsonrpc: '2.0', id: 0, method: 'rpc.auth', params: { token: tokens.viewer, contract: 'demo', version: 1 } }));
    expect(await again.next()).toMatchObject({ id: 0, error: { code: ErrorCode.RateLimited } });
    await expect.poll(() => server.connectionCount).toBe(0);
  });

  test('a list is charged for the rows it returned, after the call: asking for many of few costs little', async () => {
    const { url } = await startServer({ requestsPerSecond: 1, requestBurst: 20 });
    const { ws, next } = await authed(url);
    const send = (id: number, params: object) => ws.send(JSON.stringify({ jsonrpc: '2.0', id, method: 'demo.rows', params }));
    // Asking for up to 10,000 of 3 rows: 1 + 3 units, twice.
    send(1, { limit: 10_000, count: 3 });
    expect(await next()).toMatchObject({ id: 1, result: { rows: [0, 1, 2] } });
    send(2, { limit: 10_000, count: 3 });
    expect(await next()).toMatchObject({ id: 2, result: { rows: [0, 1, 2] } });
    // 30 rows are answered (the work is done), and owed: the next call is refused.
    send(3, { limit: 10_000, count: 30 });
    expect(await next()).toMatchObject({ id: 3, result: { rows: expect.any(Array) } });
    send(4, { limit: 1, count: 1 });
    expect(await next()).toMatchObject({ id: 4, error: { code: ErrorCode.RateLimited } });
    ws.close();
  });

  test('connections beyond the per-principal cap are refused at rpc.auth, and a closed one frees its place', async () => {
    const { url, server } = await startServer({ maxConnectionsPerPrincipal: 2 });
    const first = await authed(url);
    await authed(url, tokens.viewer2);
    const third = await rawSocket(url);
    const closed = once(third.ws, 'close');
    third.ws.send(JSON.stringify({ jsonrpc: '2.0', id: 0, method: 'rpc.auth', params: { token: tokens.viewer, contract: 'demo', version: 1 } }));
    const refusal = await third.next();
    expect(refusal).toMatchObject({ id: 0, error: { code: ErrorCode.TooManyConnections } });
    expect((refusal.error as { message: string }).message).toMatch(/viewer "v" already has 2 connections open/);
    expect((await closed)[0]).toBe(4429);
    // Another principal is not affected.
    await authed(url, tokens.otherViewer);
    first.ws.close();
    await expect.poll(() => server.connectionCount).toBe(2);
    await authed(url);
  });

  test('a client that stops reading has its further requests refused once its replies pile up', async () => {
    const { url } = await startServer({ sendHighWaterBytes: 64 * 1024, maxUnsentBytes: 256 << 20, requestsPerSecond: 1000 });
    const { ws, next } = await authed(url);
    ws.pause();
    // One at a time, so each arrives after the previous reply was queued: 48 MiB in all.
    for (let id = 1; id <= 48; id++) {
      ws.send(JSON.stringify({ jsonrpc: '2.0', id, method: 'demo.big', params: { kb: 1024 } }));
      await new Promise((r) => setTimeout(r, 10));
    }
    ws.resume();
    const replies = await Promise.all(Array.from({ length: 48 }, () => next()));
    const backlogged = replies.filter((r) => (r.error as { code?: number } | undefined)?.code === ErrorCode.Backlogged);
    expect(backlogged.length).toBeGreaterThan(0);
    expect((backlogged[0]?.error as { message: string }).message).toMatch(/bytes of earlier replies are still unsent/);
    expect(replies.filter((r) => 'result' in r).length).toBeGreaterThan(0);
    ws.close();
  });

  test('a client whose unsent bytes pass the bound is dropped, and the server says why', async () => {
    const lines: string[] = [];
    const { url, server } = await startServer({ maxUnsentBytes: 4 << 20, requestsPerSecond: 1000 }, (l) => lines.push(l));
    const { ws } = await authed(url);
    const other = new RpcClient(demo, { url, token: tokens.otherViewer });
    await other.connect();
    ws.pause();
    // All at once: they arrive before any reply is written, so none is refused; 64 MiB of replies.
    for (let id = 1; id <= 64; id++) ws.send(JSON.stringify({ jsonrpc: '2.0', id, method: 'demo.big', params: { kb: 1024 } }));
    await expect.poll(() => server.connectionCount).toBe(1);
    expect(lines.join('\n')).toMatch(/dropped a connection of viewer "v": \d+ bytes unsent, over the bound of 4194304/);
    await expect(other.call('demo.echo', { text: 'still served' })).resolves.toEqual({ text: 'still served' });
    other.close();
    ws.terminate();
  });

  test('subscriptions beyond the limit are refused', async () => {
    const { url } = await startServer({ maxSubscriptions: 1 });
    const client = new RpcClient(demo, { url, token: tokens.viewer });
    await client.connect();
    await client.subscribe('demo.ticks', {}, () => undefined);
    await expect(client.subscribe('demo.ticks', {}, () => undefined)).rejects.toMatchObject({ code: ErrorCode.TooManySubscriptions });
    client.close();
  });
});

describe('subscriptions', () => {
  test('items arrive in order with nothing lost when the consumer keeps up', async () => {
    const { url, sinks } = await startServer();
    const client = new RpcClient(demo, { url, token: tokens.viewer });
    await client.connect();
    const seen: number[] = [];
    await client.subscribe('demo.ticks', {}, (item, lost) => {
      expect(lost).toBe(0);
      seen.push(item.n);
    });
    for (let n = 0; n < 100; n++) sinks[0]?.push({ n, pad: '' });
    await expect.poll(() => seen.length).toBe(100);
    expect(seen).toEqual([...Array(100).keys()]);
    client.close();
  });

  test('a slow subscriber loses the oldest items and is told how many', async () => {
    const { url, sinks } = await startServer({ subscriptionQueue: 8, sendHighWaterBytes: 16 * 1024 });
    const { ws, next } = await authed(url);
    ws.send(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'rpc.subscribe', params: { topic: 'demo.ticks', subscription: 'slow' } }));
    expect(await next()).toMatchObject({ id: 1, result: { subscription: 'slow' } });
    ws.pause(); // Stop reading: the socket fills and the server must queue, then drop.
    const total = 2000;
    const pad = 'x'.repeat(32 * 1024);
    for (let n = 0; n < total; n++) sinks[0]?.push({ n, pad });
    await new Promise((r) => setTimeout(r, 300));
    ws.resume();
    const received: number[] = [];
    let lost = 0;
    while (received.length + lost < total) {
      const message = (await next()) as { params: { item: { n: number }; lost: number } };
      received.push(message.params.item.n);
      lost += message.params.lost;
    }
    expect(lost).toBeGreaterThan(0);
    expect(received.length + lost).toBe(total);
    expect(received.at(-1)).toBe(total - 1); // The newest survives; the oldest were dropped.
    expect(received).toEqual([...received].sort((a, b) => a - b));
    ws.close();
  });

  test('an item pushed to many subscribers is serialized once', async () => {
    const { url, sinks } = await startServer();
    const clients = await Promise.all([tokens.viewer, tokens.viewer2, tokens.otherViewer].map(async (token) => {
      const c = new RpcClient(demo, { url, token });
      await c.connect();
      return c;
    }));
    const got: number[] = [];
    for (const c of clients) await c.subscribe('demo.ticks', {}, (item) => got.push(item.n));
    let serialized = 0;
    const item = { n: 7, pad: '', toJSON: () => (serialized++, { n: 7, pad: '' }) };
    for (const sink of sinks) sink.push(item);
    await expect.poll(() => got.length).toBe(3);
    expect(got).toEqual([7, 7, 7]);
    expect(serialized).toBe(1);
    for (const c of clients) c.close();
  });

  test('the server ending a subscription tells the client', async () => {
    const { url, sinks } = await startServer();
    const client = new RpcClient(demo, { url, token: tokens.viewer });
    await client.connect();
    const ended = new Promise<string | undefined>((resolve) => void client.subscribe('demo.ticks', {}, () => undefined, resolve));
    await expect.poll(() => sinks.length).toBe(1);
    sinks[0]?.end();
    await expect(ended).resolves.toBe('ended by server');
    client.close();
  });
});

describe('listening', () => {
  test('a non-loopback address without TLS is refused', async () => {
    const { server } = await startServer();
    await expect(server.listen('0.0.0.0', 0)).rejects.toThrow(/without TLS/);
  });

  test('RpcError keeps its code across the wire', () => {
    expect(new RpcError(ErrorCode.Conflict, 'x').toJSON()).toEqual({ code: ErrorCode.Conflict, message: 'x' });
  });
});

describe('errors a handler throws', () => {
  test('a domain error keeps its code and message; an unexpected one is answered with a reference, its details only in the log', async () => {
    const lines: string[] = [];
    const { url } = await startServer({}, (line) => lines.push(line));
    const client = new RpcClient(demo, { url, token: tokens.viewer });
    await client.connect();
    await expect(client.call('demo.fault', { kind: 'conflict' })).rejects.toMatchObject({ code: ErrorCode.Conflict, message: 'the demo is busy restarting' });
    const refused = await client.call('demo.fault', { kind: 'bug' }).then(
      () => undefined,
      (e: unknown) => e as RpcError,
    );
    expect(refused?.code).toBe(ErrorCode.InternalError);
    const reference = /^internal error \(reference ([0-9a-f]{8}) in the daemon's log\)$/.exec(refused?.message ?? '')?.[1];
    expect(reference, refused?.message).toBeDefined();
    expect(refused?.message).not.toContain('secret_table');
    expect(lines.find((l) => l.includes(reference as string))).toMatch(/demo\.fault: .*secret_table/s);
    client.close();
  });

  test("the console's own host, whose client is the operator at this machine, passes the message on", async () => {
    const { url } = await startServer({}, () => undefined, true);
    const client = new RpcClient(demo, { url, token: tokens.viewer });
    await client.connect();
    await expect(client.call('demo.fault', { kind: 'bug' })).rejects.toMatchObject({ code: ErrorCode.InternalError, message: expect.stringContaining('secret_table') });
    client.close();
  });
});
