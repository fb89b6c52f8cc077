/**
 * The headless host: the console's backend and built renderer served to a
 * browser over HTTP + WebSocket, for tests here and for operating a headless
 * lab box through an SSH tunnel.
 *
 * Security model: binds loopback unless TLS is given; the printed URL carries
 * a single-use token (in the fragment, so it never reaches logs or the
 * Referer) that the page exchanges for a session token; the WebSocket upgrade
 * must come from this host's own origin, and requests must name this host
 * (a DNS-rebinding page cannot). Every call then goes through the same
 * dispatcher and schemas as the Electron IPC path.
 */
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { TokenStore } from '../protocol/auth.ts';
import { assertBindAllowed, isLoopbackHost, readTls, type TlsFiles } from '../protocol/listen.ts';
import { RpcServer } from '../protocol/server.ts';
import type { ConsoleBackend } from './consoleBackend.ts';
import { contentSecurityPolicy, readRendererFile, securityHeaders } from './rendererContent.ts';

export const headlessApiPath = '/api';

export interface HeadlessHostOptions {
  host: string;
  port: number;
  rendererDir: string;
  backend: ConsoleBackend;
  tls?: TlsFiles;
}

export interface HeadlessHost {
  /** The URL to open, carrying the single-use token in its fragment. */
  readonly url: string;
  readonly origin: string;
  readonly port: number;
  /** Issues another single-use URL (for a second browser). */
  newUrl(): string;
  close(): Promise<void>;
}

function formatHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

export async function startHeadlessHost(options: HeadlessHostOptions): Promise<HeadlessHost> {
  assertBindAllowed(options.host, options.tls, 'headless host');
  const tokens = new TokenStore();
  const scheme = options.tls ? 'https' : 'http';
  const server = options.tls ? createHttpsServer(readTls(options.tls)) : createHttpServer();
  let port = options.port;
  let allowedHosts = new Set<string>();
  let origins = new Set<string>();

  const rpc = new RpcServer({
    // Its one client is the operator who started it (loopback, or TLS with their token).
    exposeInternalErrors: true,
    dispatcher: options.backend.dispatcher,
    tokens,
    checkOrigin: (origin) => origin !== undefined && origins.has(origin),
    onDisconnect: (connectionId) => options.backend.disconnect(connectionId),
  });

  const csp = (): string => contentSecurityPolicy([...origins].map((o) => o.replace(/^http/, 'ws')));

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    void (async () => {
      if (!allowedHosts.has(req.headers.host ?? '')) {
        res.writeHead(421, { 'content-type': 'text/plain' }).end('wrong Host header: open the URL the host printed\n');
        return;
      }
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { allow: 'GET, HEAD' }).end();
        return;
      }
      const file = await readRendererFile(options.rendererDir, req.url ?? '/');
      res.writeHead(file.status, { 'content-type': file.contentType, ...securityHeaders(csp()) });
      res.end(req.method === 'HEAD' ? undefined : file.body);
    })();
  });
  server.on('upgrade', (req, socket, head) => {
    const path = (req.url ?? '').split('?')[0];
    if (path !== headlessApiPath || !allowedHosts.has(req.headers.host ?? '')) {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n');
      return;
    }
    rpc.handleUpgrade(req, socket, head);
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(new Error(`headless host cannot listen on ${options.host}:${options.port}: ${e.code === 'EADDRINUSE' ? 'the port is in use (pick another with --port)' : e.message}`)),
    );
    server.listen(options.port, options.host, () => resolve());
  });
  port = (server.address() as AddressInfo).port;
  const names = [formatHost(options.host), ...(isLoopbackHost(options.host) ? ['127.0.0.1', 'localhost'] : [])];
  allowedHosts = new Set(names.map((n) => `${n}:${port}`));
  origins = new Set(names.map((n) => `${scheme}://${n}:${port}`));
  const origin = `${scheme}://${formatHost(options.host)}:${port}`;
  const newUrl = (): string => `${origin}/#token=${tokens.issue({ role: 'operator', name: 'headless-browser' }, { singleUse: true })}`;

  return {
    url: newUrl(),
    origin,
    port,
    newUrl,
    async close() {
      await rpc.close();
      server.closeAllConnections?.();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await options.backend.close();
    },
  };
}
