import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { z } from 'zod';
import { TokenStore } from './auth.ts';
import { RpcClient } from './client.ts';
import { defineContract, method } from './contract.ts';
import { createDispatcher } from './dispatcher.ts';
import { ErrorCode } from './errors.ts';
import { RpcServer } from './server.ts';

const ping = defineContract({
  name: 'ping',
  version: 1,
  methods: { 'ping.ping': method({ summary: 'ping', roles: ['viewer'], params: z.object({}), result: z.object({ pong: z.literal(true) }) }) },
  topics: {},
});
const token = 'remote-viewer-token-0123456789';
let dir: string;
let server: RpcServer;
let port: number;

beforeAll(async () => {
  // A self-signed certificate for 127.0.0.1, made with the openssl command line.
  dir = mkdtempSync(join(tmpdir(), 'pcloud-tls-'));
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1',
    '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
    '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
  ], { stdio: 'ignore' });
  server = new RpcServer({
    dispatcher: createDispatcher(ping, { 'ping.ping': () => ({ pong: true as const }) }, {}),
    tokens: new TokenStore([{ token, principal: { role: 'viewer', name: 'remote' } }]),
  });
  port = (await server.listen('127.0.0.1', 0, { certFile: join(dir, 'cert.pem'), keyFile: join(dir, 'key.pem') })).port;
});

afterAll(async () => {
  await server?.close();
});

test('a client that trusts the certificate talks over wss://', async () => {
  const client = new RpcClient(ping, { url: `wss://127.0.0.1:${port}`, token, ca: readFileSync(join(dir, 'cert.pem')) });
  await client.connect();
  await expect(client.call('ping.ping', {})).resolves.toEqual({ pong: true });
  client.close();
});

test('a client that does not trust the certificate cannot connect', async () => {
  const client = new RpcClient(ping, { url: `wss://127.0.0.1:${port}`, token });
  await expect(client.connect()).rejects.toMatchObject({ code: ErrorCode.Unavailable, message: expect.stringMatching(/self-signed|certificate/) });
});
