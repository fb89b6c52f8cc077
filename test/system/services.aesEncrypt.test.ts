/**
 * aes-encrypt through the real data plane (needs root): a controller daemon
 * with its uplink in a cloudlet namespace, the Linux kernel as the front-end
 * router (main/console/dataplaneLab.ts), and the built-in aes-encrypt service
 * in a VI on a ring port, given its key as a (secret) argument. Checked: a
 * UDP datagram from h1 arrives at h2 with its payload's whole blocks
 * AES-256-CBC encrypted under that key and IV (node:crypto says what they
 * must be), its tail and size unchanged; pings still get through (the ICMP
 * checksum is fixed after encryption); the service's own counters reach the
 * VI's usage; the key is on no command line and in no API answer.
 */
import { execFile, execFileSync } from 'node:child_process';
import { createCipheriv, randomBytes } from 'node:crypto';
import { readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { DataPlaneLab, H2, isRoot } from '../../main/console/dataplaneLab.ts';
import type { RpcClient } from '../../main/protocol/client.ts';
import { startLabController } from '../support/labController.ts';
import type { controllerApi } from '../../main/protocol/controllerApi.ts';
import type { ControllerCommand, ServiceSpec } from '../../main/protocol/domain.ts';
import type { ControllerDaemon } from '../../main/controller/daemon.ts';

const key = randomBytes(32);
const iv = randomBytes(16);

describe.skipIf(!isRoot())('aes-encrypt encrypts payloads on the data path (root)', () => {
  let lab: DataPlaneLab;
  let dir: string;
  let daemon: ControllerDaemon;
  let client: RpcClient<typeof controllerApi>;
  const viId = 'vi-aes1';

  beforeAll(async () => {
    lab = new DataPlaneLab().create();
    ({ dir, daemon, client } = await startLabController(lab, { cloudletId: 'aes' }));
    const now = Date.now();
    const profile = [{ from: now - 1000, to: now + 600_000, capacity: { cpu: 0.5, memMiB: 256, diskGiB: 1, netMbps: 100 } }];
    const service: ServiceSpec = {
      mode: 'transparent',
      program: 'aes-encrypt',
      args: { key: key.toString('hex'), iv: iv.toString('hex') },
      rules: [{ priority: 10, match: { ethType: 0x0800, dstPrefix: '198.18.20.0/24' }, action: 'to_vi', samplingRate: 0, ownershipProof: 'owns:p1' }],
    };
    const run = (c: ControllerCommand) => daemon.cloudlet.agent.command(c);
    const base = { reservationId: 'aes1' };
    expect(await run({ ...base, commandId: 'c1', kind: 'prepare', providerId: 'p1', nodeId: 'n1', t0: now - 1000, t1: now + 600_000, profile, service, holdMs: 5000 })).toEqual({ ok: true });
    expect(await run({ ...base, commandId: 'c2', kind: 'commit' })).toEqual({ ok: true });
    const started = await run({ ...base, commandId: 'c3', kind: 'start', nodeId: 'n1', profile, service, t1: now + 600_000 });
    expect(started, started.reason).toMatchObject({ ok: true });
  });

  afterAll(async () => {
    client?.close();
    await daemon?.stop();
    lab?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const pings = (count: number): boolean => {
    try {
      lab.exec(lab.ns.h1, 'ping', '-c', String(count), '-i', '0.2', '-W', '1', '-s', '120', H2);
      return true;
    } catch {
      return false;
    }
  };

  test('pings pass through it (ICMP checksum fixed after encryption)', async () => {
    // Frames wait in the ring while the service (a Node process) starts.
    await expect.poll(() => pings(1), { timeout: 30_000, interval: 200 }).toBe(true);
    expect(pings(3)).toBe(true);
  });

  test('a UDP payload arrives with its whole blocks AES-256-CBC encrypted under the key and IV, the tail and size unchanged', async () => {
    const payload = randomBytes(16 * 20 + 7);
    const received = new Promise<Buffer>((resolve, reject) => {
      execFile('ip', ['netns', 'exec', lab.ns.h2, 'timeout', '20', 'socat', '-u', 'UDP4-RECVFROM:5555', 'STDOUT'], { encoding: 'buffer', timeout: 30_000 }, (e, stdout) => (e ? reject(e) : resolve(stdout)));
    });
    await expect.poll(() => lab.exec(lab.ns.h2, 'ss', '-uln'), { timeout: 10_000 }).toContain(':5555');
    execFileSync('ip', ['netns', 'exec', lab.ns.h1, 'socat', '-u', 'STDIN', `UDP4-SENDTO:${H2}:5555`], { input: payload, timeout: 10_000 });
    const got = await received;
    const cipher = createCipheriv('aes-256-cbc', key, iv).setAutoPadding(false);
    const blocks = Buffer.concat([cipher.update(payload.subarray(0, 320)), cipher.final()]);
    expect(got.length).toBe(payload.length);
    expect(got.subarray(0, 320).equals(blocks)).toBe(true);
    expect(got.subarray(320).equals(payload.subarray(320))).toBe(true);
  });

  test("the service's counters reach the VI's usage", async () => {
    await expect.poll(async () => (await client.call('vi.get', { viId })).usage?.service?.packets ?? 0, { timeout: 10_000 }).toBeGreaterThanOrEqual(5);
    const usage = (await client.call('vi.get', { viId })).usage;
    expect(usage?.service?.bytes).toBeGreaterThanOrEqual(320);
  });

  test('the key is on no command line, in no API answer, and not left in the VI directory', async () => {
    const hex = key.toString('hex');
    const vi = await client.call('vi.get', { viId });
    expect(vi.state).toBe('running');
    const cmdlines = readdirSync('/proc').filter((p) => /^\d+$/.test(p)).map((p) => {
      try {
        return readFileSync(`/proc/${p}/cmdline`, 'utf8');
      } catch {
        return '';
      }
    });
    expect(cmdlines.some((c) => c.includes('aes-encrypt'))).toBe(true);
    expect(cmdlines.some((c) => c.includes(hex))).toBe(false);
    for (const answer of [vi, await client.call('vi.list', {}), await client.call('rule.list', {}), await client.call('service.list', {})]) expect(JSON.stringify(answer)).not.toContain(hex);
    expect(readdirSync(join(dir, 'state', 'vis', viId))).not.toContain('secret-args.json');
  });
});
