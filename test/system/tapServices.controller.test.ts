/**
 * The single-tap services run by a real controller (needs root): the controller's data plane in a
 * cloudlet namespace, the Linux kernel as the front-end router (main/console/dataplaneLab.ts), each
 * VI started as the scheduler has the controller start it, its rules sending it real traffic.
 *  - web-cache: its rules capture TCP port 80 towards the origin (h2) and the traffic to the VI's
 *    own address; h1 fetches a file twice: the second fetch is a hit the origin never sees, and
 *    the hits and misses are in the VI's usage.
 *  - load-balancer: a visible service on its own address; 30 connections from h1 spread over three
 *    backends beside h2; a stopped backend gets nothing once the health check noticed.
 * Both VIs come with a bare eth0 and set it up themselves from their address argument and the
 * router's MAC the controller gives them (attachToRouter).
 */
import { createHash } from 'node:crypto';
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { DataPlaneLab, H2, isRoot } from '../../main/console/dataplaneLab.ts';
import type { DemuxRuleSpec, ServiceSpec } from '../../main/protocol/domain.ts';
import { startLabController, startViByScheduler, type LabController } from '../support/labController.ts';
import { readIfExists } from '../support/tapServiceLab.ts';
import { backendScript, connectScript, fetchCommand, originScript, parseFetch, tallyAnswers } from '../support/webServers.ts';

/** The web cache's own address and the load balancer's visible one: the VIs', routed to the cloudlet by their rules. */
const CACHE_ADDRESS = '198.18.50.20';
const VISIBLE = '198.18.50.10';
const PORT = 8000;
/** Backends beside h2 on its segment (extra addresses of h2). */
const BACKENDS = ['198.18.20.2', '198.18.20.3', '198.18.20.4'];

const toVi = (match: DemuxRuleSpec['match']): DemuxRuleSpec => ({ priority: 10, match: { ethType: 0x0800, ...match }, action: 'to_vi', samplingRate: 0, ownershipProof: 'owns:p1' });

describe.skipIf(!isRoot())('single-tap services through the controller: web-cache and load-balancer (root)', () => {
  let lab: DataPlaneLab;
  let ctl: LabController;
  const children: ChildProcess[] = [];

  /** A process in one of the lab's namespaces, its output kept; killed after the tests. */
  const spawnIn = (ns: string, argv: string[]): { child: ChildProcess; output: () => string } => {
    const child = spawn('ip', ['netns', 'exec', ns, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let out = '';
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
    return { child, output: () => out };
  };
  const viLog = (viId: string, ...files: string[]): string => [join(ctl.dir, 'state', 'vis', `${viId}.log`), ...files.map((f) => join(ctl.dir, 'state', 'vis', viId, f))].map(readIfExists).join('\n');
  /** The VI's network as it set it up, and its port's counters: what a failure message needs. */
  const viNetwork = async (viId: string): Promise<string> => {
    const vi = await ctl.client.call('vi.get', { viId });
    const inVi = (cmd: string): string => {
      try {
        return lab.exec(lab.ns.c, 'nsenter', '-t', String(vi.pid), '-n', 'sh', '-c', cmd);
      } catch (e) {
        return (e as Error).message;
      }
    };
    return `${inVi('ip addr; ip route; ip neigh; nft list ruleset; iptables -t nat -L -n -v')}\ntraffic: ${JSON.stringify(vi.usage?.traffic)}`;
  };
  const serviceCounters = async (viId: string): Promise<Record<string, number>> => (await ctl.client.call('vi.get', { viId })).usage?.service ?? {};
  const start = async (reservationId: string, service: ServiceSpec): Promise<void> => {
    const started = await startViByScheduler(ctl.daemon, reservationId, service);
    expect(started, started.reason).toMatchObject({ ok: true });
    const vi = await ctl.client.call('vi.get', { viId: `vi-${reservationId}` });
    expect(vi.state, vi.reason).toBe('running');
    expect(vi.isolation.port).toEqual({ kind: 'tap', layout: 'single', interfaces: ['eth0'] });
  };

  beforeAll(async () => {
    lab = new DataPlaneLab().create();
    ctl = await startLabController(lab, { cloudletId: 'tapc', routerMac: lab.routerMac });
  }, 60_000);

  afterAll(async () => {
    for (const c of children) c.kill('SIGKILL');
    await ctl?.close();
    lab?.close();
  });

  test('web-cache: the second fetch through the VI is a hit, not seen at the origin, and counted in the VI\'s usage', async () => {
    const viId = 'vi-wc1';
    const origin = spawnIn(lab.ns.h2, [process.execPath, '-e', originScript(H2)]);
    await expect.poll(() => /listening ([0-9a-f]{64})/.test(origin.output()), { timeout: 10_000 }).toBe(true);
    const bodySha = /listening ([0-9a-f]{64})/.exec(origin.output())?.[1];

    await start('wc1', {
      mode: 'transparent',
      program: 'web-cache',
      args: { 'cache-mib': '16', address: CACHE_ADDRESS },
      // The clients' web traffic to the origin, and the origin's answers to squid's own fetches.
      rules: [toVi({ ipProto: 6, dstPrefix: `${H2}/32`, dstPorts: { from: 80, to: 80 } }), toVi({ dstPrefix: `${CACHE_ADDRESS}/32` })],
    });
    await expect.poll(() => viLog(viId, 'cache.log').includes('NAT intercepted HTTP Socket connections'), { timeout: 30_000, interval: 250 }).toBe(true).catch((e: unknown) => {
      throw new Error(`squid never listened for intercepted connections; the VI's output:\n${viLog(viId, 'cache.log')}`, { cause: e });
    });

    const fetch = (): { status: string; body: Buffer } => parseFetch(lab.exec(lab.ns.h1, 'sh', '-c', fetchCommand(H2)));
    const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
    const originRequests = (): number => origin.output().match(/request GET \/file/g)?.length ?? 0;
    const first = fetch();
    expect(first.status, await viNetwork(viId)).toMatch(/X-Cache: MISS/);
    expect(sha(first.body)).toBe(bodySha);
    await expect.poll(originRequests, { timeout: 5_000 }).toBe(1);

    const second = fetch();
    expect(second.status).toMatch(/X-Cache: HIT/);
    expect(sha(second.body)).toBe(bodySha);
    // The origin saw one request for two fetches (its output had time to arrive, the first fetch's did).
    await new Promise((r) => setTimeout(r, 500));
    expect(originRequests()).toBe(1);

    await expect.poll(async () => (await serviceCounters(viId)).requests, { timeout: 10_000, interval: 200 }).toBe(2);
    const counters = await serviceCounters(viId);
    expect(counters).toMatchObject({ requests: 2, hits: 1, misses: 1 });
    expect(counters.hitBytes).toBeGreaterThanOrEqual(200_000);
  }, 90_000);

  test('load-balancer: 30 connections to the visible address spread over three backends; a stopped backend gets nothing after the health check', async () => {
    const viId = 'vi-lb1';
    for (const addr of BACKENDS) lab.exec(lab.ns.h2, 'ip', 'addr', 'add', `${addr}/24`, 'dev', 'eth0');
    const backends = new Map(BACKENDS.map((addr) => [addr, spawnIn(lab.ns.h2, [process.execPath, '-e', backendScript(addr)])]));
    for (const [addr, b] of backends) await expect.poll(() => b.output().includes('listening'), { timeout: 10_000 }).toBe(true).catch((e: unknown) => {
      throw new Error(`backend ${addr} never listened: ${b.output()}`, { cause: e });
    });
    const accepted = (addr: string): number => backends.get(addr)?.output().split('\n').filter((l) => l === 'conn').length ?? 0;

    await start('lb1', {
      mode: 'visible',
      program: 'load-balancer',
      args: { address: VISIBLE, backends: BACKENDS.map((a) => `${a}:8080`).join(','), port: String(PORT), 'check-ms': '300' },
      rules: [toVi({ dstPrefix: `${VISIBLE}/32` })],
    });
    await expect.poll(async () => (await serviceCounters(viId)).serversUp, { timeout: 30_000, interval: 250 }).toBe(3).catch((e: unknown) => {
      throw new Error(`haproxy never saw three backends up; the VI's output:\n${viLog(viId)}`, { cause: e });
    });
    const connections = (n: number): Map<string, number> => tallyAnswers(lab.exec(lab.ns.h1, process.execPath, '-e', connectScript(VISIBLE, PORT, n)));

    const tally = connections(30);
    // Round robin: ten each, each seen by the backend itself.
    expect(Object.fromEntries(tally)).toEqual(Object.fromEntries(BACKENDS.map((a) => [a, 10])));
    await expect.poll(() => BACKENDS.map(accepted), { timeout: 5_000 }).toEqual([10, 10, 10]);
    await expect.poll(async () => (await serviceCounters(viId)).connections, { timeout: 10_000, interval: 200 }).toBe(30);

    const [kept1 = '', kept2 = '', stopped = ''] = BACKENDS;
    backends.get(stopped)?.child.kill('SIGKILL');
    await expect.poll(async () => (await serviceCounters(viId)).serversDown, { timeout: 10_000, interval: 200 }).toBe(1);
    const givenBefore = (await serviceCounters(viId))['b3.connections'];
    // Every connection answered, by the two that run: none went to the stopped one (it would have failed).
    expect(Object.fromEntries(connections(20))).toEqual({ [kept1]: 10, [kept2]: 10 });
    await expect.poll(async () => (await serviceCounters(viId)).connections, { timeout: 10_000, interval: 200 }).toBe(50);
    expect((await serviceCounters(viId))['b3.connections']).toBe(givenBefore);
  }, 90_000);
});
