import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { WebSocket } from 'ws';
import { consoleApi } from '../protocol/consoleApi.ts';
import { RpcClient } from '../protocol/client.ts';
import { ErrorCode } from '../protocol/errors.ts';
import type { LabStarter } from './connectionManager.ts';
import { createConsoleBackend } from './consoleBackend.ts';
import { fileModeVault } from './profiles.ts';
import { startHeadlessHost, type HeadlessHost } from './headlessHost.ts';

const hosts: HeadlessHost[] = [];
// These tests are about the host itself; a lab is never asked for.
const noLab: LabStarter = { start: () => Promise.reject(new Error('no lab in this test')) };
afterEach(async () => {
  await Promise.all(hosts.splice(0).map((h) => h.close()));
});

async function start(): Promise<HeadlessHost> {
  const rendererDir = mkdtempSync(join(tmpdir(), 'pcloud-renderer-'));
  mkdirSync(join(rendererDir, 'assets'));
  writeFileSync(join(rendererDir, 'index.html'), '<!doctype html><title>t</title>');
  writeFileSync(join(rendererDir, 'assets', 'app.js'), 'console.log(1)');
  const backend = createConsoleBackend({ version: '0.0.0-test', transport: 'headless', dataDir: rendererDir, vault: fileModeVault, lab: noLab });
  const host = await startHeadlessHost({ host: '127.0.0.1', port: 0, rendererDir, backend });
  hosts.push(host);
  return host;
}

function get(port: number, path: string, hostHeader: string): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers: { host: hostHeader } }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('the headless host', () => {
  test('serves the renderer with a strict CSP', async () => {
    const host = await start();
    const page = await get(host.port, '/', `127.0.0.1:${host.port}`);
    expect(page.status).toBe(200);
    const csp = String(page.headers['content-security-policy']);
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain('unsafe-eval');
    expect(csp).toContain("frame-ancestors 'none'");
    expect((await get(host.port, '/assets/app.js', `127.0.0.1:${host.port}`)).headers['content-type']).toMatch(/javascript/);
  });

  test('refuses another Host header (DNS rebinding) and paths outside the renderer', async () => {
    const host = await start();
    expect((await get(host.port, '/', `evil.example:${host.port}`)).status).toBe(421);
    expect((await get(host.port, '/../../etc/passwd', `127.0.0.1:${host.port}`)).status).not.toBe(200);
    expect((await get(host.port, '/%2e%2e/%2e%2e/etc/passwd', `127.0.0.1:${host.port}`)).status).toBe(403);
  });

  test('refuses a WebSocket from another origin', async () => {
    const host = await start();
    const ws = new WebSocket(`ws://127.0.0.1:${host.port}/api`, { origin: 'http://evil.example' });
    const [error] = (await new Promise<[Error]>((resolve) => ws.once('error', (e) => resolve([e]))));
    expect(error.message).toMatch(/403/);
  });

  test("the URL's token works once and yields a session token for reconnects", async () => {
    const host = await start();
    const token = new URL(host.url).hash.replace('#token=', '');
    const url = `ws://127.0.0.1:${host.port}/api`;
    const first = new RpcClient(consoleApi, { url, token, origin: host.origin });
    const auth = await first.connect();
    expect(auth.principal.role).toBe('operator');
    expect(auth.sessionToken).toEqual(expect.any(String));
    await expect(first.call('app.info', {})).resolves.toMatchObject({ transport: 'headless' });
    first.close();
    const replay = new RpcClient(consoleApi, { url, token, origin: host.origin });
    await expect(replay.connect()).rejects.toMatchObject({ code: ErrorCode.Unauthenticated });
    const resumed = new RpcClient(consoleApi, { url, token: auth.sessionToken as string, origin: host.origin });
    await expect(resumed.connect()).resolves.toMatchObject({ principal: { role: 'operator' } });
    resumed.close();
  });

  test('will not bind a non-loopback address without TLS', async () => {
    const backend = createConsoleBackend({ version: '0', transport: 'headless', dataDir: tmpdir(), vault: fileModeVault, lab: noLab });
    await expect(startHeadlessHost({ host: '0.0.0.0', port: 0, rendererDir: tmpdir(), backend })).rejects.toThrow(/without TLS/);
  });
});
