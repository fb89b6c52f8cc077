/**
 * The lab without its network (any user, any OS with the addon): `pcctl lab
 * up --mode userspace` on the DeterLab topology; `pcctl lab traffic` starts
 * the userspace traffic source, which sends synthesized flows and replayed
 * captures as VXLAN to both controllers' uplinks over loopback, and their
 * uplink counters rise; `traffic stop` ends a runner before its time; `exec`
 * is refused with the reason; `down` ends the runners too.
 */
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { pcctlWith, repoRoot } from './harness.ts';

const dataDir = mkdtempSync(join(tmpdir(), 'pcl14u-'));
const labDir = join(dataDir, 'lab', 'deterlab');
const capture = join(repoRoot, '..', 'shared', 'testdata', 'pcap', 'sgr_hs-icmpScan.pcap');

const pcctl = pcctlWith(dataDir);

/** Datagrams a controller's uplink received, from its Prometheus endpoint. */
async function uplinkRx(cloudletId: string): Promise<number> {
  const config = JSON.parse(readFileSync(join(labDir, `controller-${cloudletId}.json`), 'utf8')) as { metrics: { port: number } };
  const text = await (await fetch(`http://127.0.0.1:${config.metrics.port}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`pcloud_dataplane_uplink_packets{what="rx",cloudlet="${cloudletId}"}`));
  return Number(line?.split(' ').pop() ?? 0);
}

const runners = (): { pid: number }[] => (JSON.parse(readFileSync(join(labDir, 'lab-state.json'), 'utf8')) as { traffic: { pid: number }[] }).traffic;
const alive = (pid: number): boolean => existsSync(`/proc/${pid}`) && !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z ');

afterAll(async () => {
  await pcctl('lab', 'down');
});

describe('the lab in userspace mode', () => {
  test('up says which mode it runs in and why; no network is made', async () => {
    const up = await pcctl('lab', 'up', '--topology', 'deterlab', '--mode', 'userspace');
    expect(up.code).toBe(0);
    expect(up.stdout).toContain('mode: userspace (asked for the userspace traffic source)');
    expect(existsSync(join(labDir, 'network.json')) ? JSON.parse(readFileSync(join(labDir, 'network.json'), 'utf8')) : null).toBeNull();
    const status = await pcctl('lab', 'status', '--topology', 'deterlab', '--json');
    expect(JSON.parse(status.stdout)).toMatchObject({ mode: { kind: 'userspace', reason: 'asked for the userspace traffic source' } });
    const exec = await pcctl('lab', 'exec', 'A', '--', 'true');
    expect(exec.code).toBe(2);
    expect(exec.stderr).toContain('runs the userspace traffic source (asked for the userspace traffic source): it has no hosts to run commands in');
  });

  test('a ping flood and a replayed capture reach both controllers as VXLAN: their uplink counters rise', async () => {
    const before = { C1: await uplinkRx('C1'), C2: await uplinkRx('C2') };
    const flood = await pcctl('lab', 'traffic', 'flood', '--duration', '3', '--pps', '200');
    expect(flood.code).toBe(0);
    expect(flood.stdout).toContain('flood traffic in the deterlab lab (userspace mode) for 3 s');
    const replay = await pcctl('lab', 'traffic', 'replay', '--duration', '3', '--pps', '200', '--pcap', capture);
    expect(replay.code).toBe(0);
    await expect.poll(async () => (await uplinkRx('C1')) - before.C1, { timeout: 30_000, interval: 250 }).toBeGreaterThan(300);
    await expect.poll(async () => (await uplinkRx('C2')) - before.C2, { timeout: 30_000, interval: 250 }).toBeGreaterThan(300);
    // Both runners end on their own when their time is up, and say what they did.
    const pids = runners().map((r) => r.pid);
    await expect.poll(() => pids.filter(alive), { timeout: 30_000 }).toEqual([]);
    const log = readFileSync(join(labDir, 'traffic.log'), 'utf8');
    expect(log).toMatch(/userspace source: sent \d+ VXLAN datagrams, \d+ came back/);
  });

  test('traffic stop ends a runner before its time; bad profiles and a replay without a capture are refused', async () => {
    const web = await pcctl('lab', 'traffic', 'web', '--duration', '600');
    expect(web.code).toBe(0);
    const pid = runners().at(-1)?.pid as number;
    expect(alive(pid)).toBe(true);
    const stop = await pcctl('lab', 'traffic', 'stop');
    expect(stop.stdout).toContain(`stopped traffic web (pid ${pid})`);
    await expect.poll(() => alive(pid), { timeout: 10_000 }).toBe(false);
    const bad = await pcctl('lab', 'traffic', 'nosuch');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('profiles: web, bulk, flood, replay, or stop');
    const replay = await pcctl('lab', 'traffic', 'replay');
    expect(replay.code).toBe(2);
    expect(replay.stderr).toContain('replay needs --pcap FILE');
  });
});
