/**
 * Provider uploads through a running controller: `pcctl upload` stores a
 * bundle (a tar archive made by GNU tar) for a reservation whose program is
 * "upload"; at start the VI runs the manifest's command from the bundle in its
 * sandbox, as its own unprivileged user when the controller is root. A bad
 * bundle is refused with the member named, and so is an upload for a
 * reservation that would never run it.
 */
import { execFile, execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parseControllerConfig } from '../../main/controller/config.ts';
import { ControllerDaemon } from '../../main/controller/daemon.ts';
import { RpcClient } from '../../main/protocol/client.ts';
import { controllerApi } from '../../main/protocol/controllerApi.ts';
import type { ControllerCommand, ServiceSpec } from '../../main/protocol/domain.ts';
import { tarArchive } from '../support/tarBundle.ts';
import { repoRoot } from './harness.ts';

const operatorToken = 'operator-token-uploads-0123456789';

describe('uploaded bundles run in their VI', () => {
  let dir: string;
  let daemon: ControllerDaemon;
  let url: string;
  let client: RpcClient<typeof controllerApi>;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pcloud-svc13-uploads-'));
    chmodSync(dir, 0o711);
    const config = parseControllerConfig({
      cloudletId: 'up1',
      scheduler: { url: 'ws://127.0.0.1:1', token: 'controller-token-0123456789', backoffMs: 1000, maxBackoffMs: 1000 },
      listen: { host: '127.0.0.1', port: 0 },
      tokens: [{ token: operatorToken, role: 'operator', name: 'noc-alice' }],
      nodes: [{ id: 'n1', capacity: { cpu: 2, memMiB: 2048, diskGiB: 10, netMbps: 1000 } }],
      stateDir: join(dir, 'state'),
      onExit: 'stop',
    });
    daemon = new ControllerDaemon(config, { log: () => undefined });
    ({ url } = await daemon.start());
    client = new RpcClient(controllerApi, { url, token: operatorToken, timeoutMs: 10_000 });
    await client.connect();
  });

  afterAll(async () => {
    client?.close();
    await daemon?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const now = Date.now();
  const profile = [{ from: now - 1000, to: now + 600_000, capacity: { cpu: 0.5, memMiB: 256, diskGiB: 1, netMbps: 10 } }];
  let n = 0;
  const command = (c: ControllerCommand) => daemon.cloudlet.agent.command(c);
  /** Prepared only: a committed hold whose t0 has passed is started by the controller's clock. */
  async function hold(reservationId: string, program: string): Promise<ServiceSpec> {
    const service: ServiceSpec = { mode: 'transparent', program, args: {}, rules: [] };
    expect(await command({ reservationId, commandId: `c${n++}`, kind: 'prepare', providerId: 'p1', nodeId: 'n1', t0: now - 1000, t1: now + 600_000, profile, service, holdMs: 60_000 })).toEqual({ ok: true });
    return service;
  }
  async function commitAndStart(reservationId: string, service: ServiceSpec) {
    expect(await command({ reservationId, commandId: `c${n++}`, kind: 'commit' })).toEqual({ ok: true });
    return command({ reservationId, commandId: `c${n++}`, kind: 'start', nodeId: 'n1', profile, service, t1: now + 600_000 });
  }
  const pcctl = (...args: string[]) => promisify(execFile)(process.execPath, ['--disable-warning=ExperimentalWarning', join(repoRoot, 'main/cli/pcctl.ts'), 'upload', ...args, '--controller', url], { env: { ...process.env, PCLOUD_TOKEN: operatorToken }, timeout: 30_000 });

  test('pcctl upload stores a bundle; the VI runs its command from the bundle as the VI user', async () => {
    const service = await hold('u1', 'upload');
    const src = join(dir, 'bundle');
    mkdirSync(src);
    writeFileSync(join(src, 'manifest.json'), JSON.stringify({ command: ['./run.sh', 'hello'] }));
    // Writes a file into its VI directory (its owner on the host says who ran it), then stays up like a service.
    writeFileSync(join(src, 'run.sh'), '#!/bin/sh\necho "$(id -u) $(id -g) $1 $PCLOUD_BUNDLE_DIR" > "$PCLOUD_VI_DIR/whoami"\nexec sleep 600\n', { mode: 0o755 });
    const file = join(dir, 'bundle.tar');
    execFileSync('tar', ['-C', src, '-cf', file, '.']);
    const { stdout } = await pcctl('u1', file, '--reason', 'first version');
    expect(JSON.parse(stdout)).toMatchObject({ reservationId: 'u1', files: 2, command: ['run.sh', 'hello'] });
    const started = await commitAndStart('u1', service);
    expect(started, started.reason).toMatchObject({ ok: true });
    const whoami = join(dir, 'state', 'vis', 'vi-u1', 'whoami');
    await expect.poll(() => existsSync(whoami), { timeout: 15_000 }).toBe(true);
    const [, , arg, bundleDir] = readFileSync(whoami, 'utf8').trim().split(' ');
    // Inside a user namespace the program is root of that namespace only; the host sees its own user.
    const { uid, gid } = statSync(whoami);
    const vi = await client.call('vi.get', { viId: 'vi-u1' });
    expect(vi.state).toBe('running');
    expect(arg).toBe('hello');
    expect(bundleDir).toBe(join(dir, 'state', 'uploads', 'u1', 'files'));
    if (process.getuid?.() === 0) {
      // A root controller gives the VI a user of its own, never root.
      expect(vi.isolation.user).toBeTruthy();
      expect(uid).toBe(vi.isolation.user?.uid);
      expect(gid).toBe(vi.isolation.user?.gid);
      expect(uid).not.toBe(0);
    } else {
      expect(uid).toBe(process.getuid?.());
    }
    const audit = await client.call('audit.list', {});
    expect(audit.entries.find((e) => e.action === 'bundle.upload')?.reason).toMatch(/^first version \(\d+ bytes, sha256 [0-9a-f]{64}, 2 files, command \["run.sh","hello"\]\)$/);
    await client.call('vi.terminate', { viId: 'vi-u1', reason: 'end of the upload test' });
    // The bundle goes with the reservation's hold.
    expect(existsSync(join(dir, 'state', 'uploads', 'u1'))).toBe(false);
  });

  test('a bad bundle is refused with the member named; an upload for a reservation that does not run bundles is refused', async () => {
    await hold('u2', 'upload');
    const bad = join(dir, 'bad.tar');
    writeFileSync(bad, tarArchive([{ name: 'manifest.json', data: '{"command":["./run.sh"]}' }, { name: 'run.sh', mode: 0o4755, data: '#!/bin/sh\n' }]));
    await expect(pcctl('u2', bad)).rejects.toMatchObject({ stderr: expect.stringContaining('bundle refused: member "run.sh": its mode 4755 is set-uid or set-gid; such files are refused') });
    await hold('u3', 'monitor');
    const good = join(dir, 'good.tar');
    writeFileSync(good, tarArchive([{ name: 'manifest.json', data: '{"command":["./run.sh"]}' }, { name: 'run.sh', mode: 0o755, data: '#!/bin/sh\n' }]));
    await expect(pcctl('u3', good)).rejects.toMatchObject({ stderr: expect.stringContaining('reservation u3 runs program "monitor", not "upload": its bundle would never run') });
    await expect(pcctl('nosuch', good)).rejects.toMatchObject({ stderr: expect.stringContaining('reservation nosuch is not held on cloudlet up1') });
  });

  test('a VI of program "upload" with no bundle fails to start, saying to upload one', async () => {
    const service = await hold('u4', 'upload');
    const started = await commitAndStart('u4', service);
    expect(started).toEqual({ ok: false, reason: 'VI vi-u4 could not start: reservation u4 runs its uploaded bundle, and none was uploaded (pcctl upload u4 BUNDLE.tar)' });
  });
});
