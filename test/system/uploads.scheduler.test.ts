/**
 * Provider uploads through the scheduler: a real scheduler (`pcctl scheduler`) and a real
 * controller (`pcctl controller`) on loopback. `pcctl upload` with a provider token sends a bundle
 * larger than one message (1.5 MiB, past the old 512 KiB limit) for the provider's own
 * reservation in chunks with their offsets, the last with the bundle's SHA-256; the scheduler
 * forwards each to the controller that holds the reservation, which stores the bundle. Refused,
 * with the reason, and leaving nothing behind: another provider's upload for that reservation, a
 * corrupt bundle (its digest does not match), chunks out of order, an incomplete bundle, and one
 * over the 64 MiB limit.
 */
import type { ChildProcess } from 'node:child_process';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { RpcClient } from '../../main/protocol/client.ts';
import { BUNDLE_CHUNK_BYTES, type Reservation } from '../../main/protocol/domain.ts';
import { schedulerApi } from '../../main/protocol/schedulerApi.ts';
import { spawnScheduler } from '../support/schedulerProcess.ts';
import { tarArchive } from '../support/tarBundle.ts';
import { controllerConfig, operatorClient, startController, tempDir, tokens, waitFor, type RunningController } from './controllerHarness.ts';
import { repoRoot } from './harness.ts';

const dir = tempDir('svc13-upload-sched');
const providerToken = 'provider-p1-uploads-0123456789abcdef';
const otherProviderToken = 'provider-p2-uploads-0123456789abcdef';
const node = { id: 'cU-n1', capacity: { cpu: 2, memMiB: 2048, diskGiB: 10, netMbps: 1000 } };
/** Where the controller keeps uploads (controllerConfig's state directory). */
const uploadsDir = join(dir, 'state-cU', 'uploads');
let scheduler: ChildProcess | undefined;
let schedulerUrl = '';
let controller: RunningController | undefined;
let provider: RpcClient<typeof schedulerApi>;
let other: RpcClient<typeof schedulerApi>;

beforeAll(async () => {
  const configFile = join(dir, 'scheduler.json');
  writeFileSync(
    configFile,
    JSON.stringify({
      listen: { host: '127.0.0.1', port: 0 },
      tokens: [
        { token: tokens.operator, role: 'operator', name: 'noc' },
        { token: providerToken, role: 'provider', name: 'alice', providerId: 'p1' },
        { token: otherProviderToken, role: 'provider', name: 'mallory', providerId: 'p2' },
        { token: `${tokens.controller}-0`, role: 'controller', name: 'ctl-u', cloudletId: 'cU' },
      ],
      slotMs: 1000,
      holdTimeoutMs: 5000,
      reportIntervalMs: 500,
      staleAfterMs: 60_000,
      approval: { autoApproveAll: true },
      topology: { pops: [{ id: 'A' }], links: [], cloudlets: [{ id: 'cU', popId: 'A', nodes: [node] }] },
    }),
  );
  const started = await spawnScheduler(configFile);
  scheduler = started.child;
  schedulerUrl = started.url;
  controller = await startController(controllerConfig(dir, 'cU', schedulerUrl, 0, { nodes: [node], onExit: 'stop' }), dir);
  provider = new RpcClient(schedulerApi, { url: schedulerUrl, token: providerToken, timeoutMs: 30_000 });
  other = new RpcClient(schedulerApi, { url: schedulerUrl, token: otherProviderToken, timeoutMs: 30_000 });
  await provider.connect();
  await other.connect();
  await waitFor('the cloudlet connected and reporting', async () => (await provider.call('topology.get', {})).cloudlets.every((c) => c.connected && c.status === 'healthy'));
}, 60_000);

afterAll(async () => {
  provider?.close();
  other?.close();
  await controller?.stop();
  if (scheduler && scheduler.exitCode === null) {
    const exited = new Promise((r) => scheduler?.once('exit', r));
    scheduler.kill('SIGTERM');
    await exited;
  }
});

/** A reservation of p1 for program "upload", scheduled (held by cU's controller) and starting in a minute. */
async function scheduledUpload(): Promise<Reservation> {
  const t0 = Math.ceil((Date.now() + 60_000) / 1000) * 1000;
  const t1 = t0 + 60_000;
  const r = await provider.call('reservation.request', {
    requestorPopId: 'A',
    t0,
    t1,
    profile: [{ from: t0, to: t1, capacity: { cpu: 0.5, memMiB: 256, diskGiB: 1, netMbps: 10 } }],
    service: { mode: 'transparent', program: 'upload', args: {}, rules: [] },
  });
  return waitFor(`reservation ${r.id} scheduled`, async () => {
    const now = await provider.call('reservation.get', { id: r.id });
    if (now.state === 'failed' || now.state === 'declined') throw new Error(`reservation ${r.id} ${now.state}: ${now.reason}`);
    return now.state === 'scheduled' ? now : undefined;
  });
}

/** What the controller keeps for a reservation: its stored bundle, and any staged part. */
const kept = (id: string): string[] => (existsSync(uploadsDir) ? readdirSync(uploadsDir).filter((f) => f === id || f.startsWith(`${id}.`)) : []);

const pcctlUpload = async (id: string, file: string, token: string): Promise<{ code: number; stdout: string; stderr: string }> => {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, ['--disable-warning=ExperimentalWarning', join(repoRoot, 'main/cli/pcctl.ts'), 'upload', id, file, '--url', schedulerUrl], {
      env: { ...process.env, PCLOUD_TOKEN: token },
      timeout: 60_000,
    });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return { code: err.code ?? 1, stdout: err.stdout ?? '', stderr: err.stderr ?? '' };
  }
};

describe('uploads by a provider through the scheduler', () => {
  const payload = randomBytes(1_500_000);
  const bundle = tarArchive([
    { name: 'manifest.json', data: JSON.stringify({ command: ['run.sh', 'hello'] }) },
    { name: 'run.sh', mode: 0o755, data: '#!/bin/sh\nexec sleep 600\n' },
    { name: 'data.bin', data: payload },
  ]);
  const sha256 = createHash('sha256').update(bundle).digest('hex');
  const file = join(dir, 'bundle.tar');
  writeFileSync(file, bundle);

  test('pcctl upload sends a bundle past one message in chunks; the controller holding the reservation stores it', async () => {
    expect(bundle.length).toBeGreaterThan(4 * BUNDLE_CHUNK_BYTES);
    const r = await scheduledUpload();
    const result = await pcctlUpload(r.id, file, providerToken);
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ id: r.id, received: bundle.length, stored: true, detail: `stored: ${bundle.length} bytes, sha256 ${sha256}, 3 files, command ["run.sh","hello"]` });
    expect(JSON.parse(readFileSync(join(uploadsDir, r.id, 'bundle.json'), 'utf8'))).toMatchObject({ sha256, bytes: bundle.length, command: ['run.sh', 'hello'] });
    expect(readFileSync(join(uploadsDir, r.id, 'files', 'data.bin')).equals(payload)).toBe(true);
    expect(kept(r.id)).toEqual([r.id]);
    // The controller audits it like an upload made there, naming the provider and its reason.
    const op = await operatorClient(controller?.url ?? '');
    const { entries } = await op.call('audit.list', {});
    op.close();
    expect(entries.find((e) => e.action === 'bundle.upload' && e.target === `cU/${r.id}`)).toMatchObject({ actor: 'p1 (through the scheduler)', role: 'provider', reason: `uploaded with pcctl from ${file} (${bundle.length} bytes, sha256 ${sha256}, 3 files, command ["run.sh","hello"])` });

    // Another provider cannot upload for it: to p2 the reservation does not exist; p1's bundle stays.
    const refused = await pcctlUpload(r.id, file, otherProviderToken);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain(`no reservation "${r.id}"`);
    await expect(other.call('reservation.upload', { id: r.id, offset: 0, total: 4, chunk: 'AAAAAA==' })).rejects.toThrow(`no reservation "${r.id}"`);
    expect(readFileSync(join(uploadsDir, r.id, 'files', 'data.bin')).equals(payload)).toBe(true);
  }, 90_000);

  test('a corrupt, disordered, incomplete or oversized upload is refused with its reason and leaves nothing', async () => {
    const r = await scheduledUpload();
    const chunk = (offset: number): string => bundle.subarray(offset, offset + BUNDLE_CHUNK_BYTES).toString('base64');
    const send = (offset: number, extra: { sha256?: string; total?: number } = {}) =>
      provider.call('reservation.upload', { id: r.id, offset, total: extra.total ?? bundle.length, chunk: chunk(offset), ...(extra.sha256 ? { sha256: extra.sha256 } : {}) });

    // Corrupt: every chunk arrives, but the bytes are not the ones the digest was taken of.
    const last = Math.floor((bundle.length - 1) / BUNDLE_CHUNK_BYTES) * BUNDLE_CHUNK_BYTES;
    for (let offset = 0; offset < last; offset += BUNDLE_CHUNK_BYTES) {
      expect(await send(offset)).toMatchObject({ received: offset + BUNDLE_CHUNK_BYTES, stored: false });
    }
    expect(kept(r.id)).toEqual([`${r.id}.part`]);
    const wrong = createHash('sha256').update('another bundle').digest('hex');
    await expect(send(last, { sha256: wrong })).rejects.toThrow(`the bundle's SHA-256 is ${sha256}, not the ${wrong} it was sent with: it was corrupted on the way`);
    expect(kept(r.id)).toEqual([]);

    // Out of order: a chunk that skips one.
    expect(await send(0)).toMatchObject({ received: BUNDLE_CHUNK_BYTES });
    await expect(send(2 * BUNDLE_CHUNK_BYTES)).rejects.toThrow(`a chunk at offset ${2 * BUNDLE_CHUNK_BYTES}, but ${BUNDLE_CHUNK_BYTES} bytes had arrived: chunks must come in order`);
    expect(kept(r.id)).toEqual([]);

    // Incomplete: the "last" chunk ends before the stated size.
    await expect(send(0, { sha256 })).rejects.toThrow(`the last chunk ends at ${BUNDLE_CHUNK_BYTES} bytes, but the bundle was stated as ${bundle.length}: the upload is incomplete`);
    expect(kept(r.id)).toEqual([]);

    // Over the limit, refused at its first chunk.
    await expect(send(0, { total: 65 * 1024 * 1024 })).rejects.toThrow(`the bundle is ${65 * 1024 * 1024} bytes, over the limit of ${64 * 1024 * 1024}`);
    expect(kept(r.id)).toEqual([]);
  }, 90_000);
});
