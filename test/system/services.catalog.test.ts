/**
 * The service catalog through a real controller daemon: `service.list` over
 * its API and `pcctl services` against it show each built-in program with its
 * kind, port, arguments and availability, beside the programs the controller's
 * configuration names; a reservation whose arguments fail the program's
 * schema is refused at prepare with the argument named.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parseControllerConfig } from '../../main/controller/config.ts';
import { ControllerDaemon } from '../../main/controller/daemon.ts';
import { RpcClient } from '../../main/protocol/client.ts';
import { controllerApi } from '../../main/protocol/controllerApi.ts';
import { catalog } from '../../main/services/catalog.ts';
import { repoRoot } from './harness.ts';

const viewerToken = 'viewer-token-catalog-0123456789';

describe('the service catalog of a running controller', () => {
  let dir: string;
  let daemon: ControllerDaemon;
  let url: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pcloud-catalog-'));
    const config = parseControllerConfig({
      cloudletId: 'cat1',
      scheduler: { url: 'ws://127.0.0.1:1', token: 'controller-token-0123456789', backoffMs: 1000, maxBackoffMs: 1000 },
      listen: { host: '127.0.0.1', port: 0 },
      tokens: [{ token: viewerToken, role: 'viewer', name: 'noc-bob' }],
      nodes: [{ id: 'n1', capacity: { cpu: 2, memMiB: 2048, diskGiB: 10, netMbps: 1000 } }],
      stateDir: join(dir, 'state'),
      onExit: 'stop',
      programs: { sleeper: { command: ['/bin/sleep', '3600'] } },
    });
    daemon = new ControllerDaemon(config, { log: () => undefined });
    ({ url } = await daemon.start());
  });

  afterAll(async () => {
    await daemon?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('service.list gives every built-in with its port, arguments and availability, then the configured programs', async () => {
    const client = new RpcClient(controllerApi, { url, token: viewerToken, timeoutMs: 10_000 });
    await client.connect();
    try {
      const { services } = await client.call('service.list', {});
      expect(services.map((s) => s.program)).toEqual([...catalog.map((d) => d.program), 'upload', 'sleeper']);
      expect(services.find((s) => s.program === 'monitor')?.args?.map((a) => a.name)).toEqual(['interval-ms', 'burn-cores', 'alloc-mib', 'crash-after-ms', 'children']);
      expect(services.find((s) => s.program === 'sleeper')).toEqual({ program: 'sleeper', summary: expect.stringContaining('configured'), source: 'configured', mode: null, port: null, args: null, available: true, reason: null });
      expect(services.every((s) => s.available === (s.reason === null))).toBe(true);
    } finally {
      client.close();
    }
  });

  test('pcctl services prints them as a table, and as JSON with --json', async () => {
    const pcctl = (...args: string[]) => promisify(execFile)(process.execPath, ['--disable-warning=ExperimentalWarning', join(repoRoot, 'main/cli/pcctl.ts'), 'services', '--url', url, ...args], { env: { ...process.env, PCLOUD_TOKEN: viewerToken }, timeout: 30_000 });
    const { stdout } = await pcctl();
    const lines = stdout.split('\n');
    expect(lines[0]).toMatch(/^PROGRAM\s+MODE\s+PORT\s+ARGS\s+AVAILABLE$/);
    expect(lines.find((l) => l.startsWith('aes-encrypt'))).toMatch(/^aes-encrypt\s+transparent\s+ring\/single\s+key iv\s+yes$/);
    expect(lines.find((l) => l.startsWith('sleeper'))).toMatch(/^sleeper\s+-\s+-\s+\(any\)\s+yes$/);
    expect(stdout).toContain("aes-encrypt: AES-256-CBC over each packet's payload");
    const json = JSON.parse((await pcctl('--json')).stdout) as { program: string }[];
    expect(json.map((s) => s.program)).toContain('forward');
  });

  test('a prepare whose arguments fail the schema is refused with the argument named', async () => {
    const now = Date.now();
    const profile = [{ from: now, to: now + 60_000, capacity: { cpu: 0.1, memMiB: 64, diskGiB: 1, netMbps: 10 } }];
    const answer = await daemon.cloudlet.agent.command({ kind: 'prepare', commandId: 'p1', reservationId: 'r1', providerId: 'p1', nodeId: 'n1', t0: now, t1: now + 60_000, profile, service: { mode: 'transparent', program: 'monitor', args: { children: '99' }, rules: [] }, holdMs: 5000 });
    expect(answer).toEqual({ ok: false, reason: 'service "monitor": argument "children": from 0 to 16' });
  });
});
