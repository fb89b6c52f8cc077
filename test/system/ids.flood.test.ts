/**
 * An ids VI under a flood must not make its controller slow for other clients
 * (needs root). The controller's data plane in a cloudlet namespace, the Linux
 * kernel as the front-end router (main/console/dataplaneLab.ts), an ids VI with
 * its default rules (PacketCloud's flood rules alone: no `rules` argument)
 * between h1 and h2. A bounded ICMP flood (20,000 echo requests) is dropped
 * inline, each dropped packet an alert in eve.json, while another client calls
 * the controller's API in a loop. Checked: every call answers (a generous bound,
 * the machine is shared); the VI's hit counter equals the alerts Suricata
 * logged; the alarms hold a bounded number of entries whose counts add up to
 * every alert, published a bounded number of times (not once per alert).
 * The controller runs in this process, so a blocked controller delays the calls.
 */
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { readIfExists } from '../support/tapServiceLab.ts';
import { DataPlaneLab, H1, H2, isRoot } from '../../main/console/dataplaneLab.ts';
import { RpcClient } from '../../main/protocol/client.ts';
import { labOperatorToken, startLabController, startViByScheduler } from '../support/labController.ts';
import { controllerApi, type Alarm } from '../../main/protocol/controllerApi.ts';
import type { ServiceSpec } from '../../main/protocol/domain.ts';
import type { ControllerDaemon } from '../../main/controller/daemon.ts';

const FLOOD_PACKETS = 20_000;
/** Each call of the other client must answer within this (generous: the machine runs other tests). */
const CALL_BOUND_MS = 5_000;

describe.skipIf(!isRoot())('ids under a flood: the controller keeps answering, alarms coalesce, counters stay exact (root)', () => {
  let lab: DataPlaneLab;
  let dir: string;
  let daemon: ControllerDaemon;
  let url: string;
  let client: RpcClient<typeof controllerApi>;
  const viId = 'vi-idsflood1';
  /** Every alarm the controller published (its alarms topic). */
  const published: Alarm[] = [];

  beforeAll(async () => {
    lab = new DataPlaneLab().create();
    ({ dir, url, daemon, client } = await startLabController(lab, { cloudletId: 'idsfc' }));
    await client.subscribe('alarms', {}, (a) => published.push(a));
    const toVi = { priority: 10, match: { ethType: 0x0800, dstPrefix: '198.18.20.0/24' }, action: 'to_vi' as const, samplingRate: 0, ownershipProof: 'owns:p1' };
    // No `rules`: the default (the flood rules shipped in resources/rules) must work as it is.
    const service: ServiceSpec = { mode: 'transparent', program: 'ids', args: { 'home-net': '198.18.20.0/24' }, rules: [toVi] };
    const started = await startViByScheduler(daemon, 'idsflood1', service);
    expect(started, started.reason).toMatchObject({ ok: true });
  }, 90_000);

  afterAll(async () => {
    client?.close();
    await daemon?.stop();
    lab?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const eveFile = (): string => join(dir, 'state', 'vis', viId, 'suricata', 'eve.json');
  const viLog = (): string => [join(dir, 'state', 'vis', `${viId}.log`), join(dir, 'state', 'vis', viId, 'suricata', 'suricata.log')].map(readIfExists).join('\n');
  const pingCrosses = (): boolean => {
    try {
      lab.exec(lab.ns.h1, 'ping', '-c', '1', '-W', '1', H2);
      return true;
    } catch {
      return false;
    }
  };
  /** The bounded flood, asynchronously: the controller shares this process's event loop. */
  const flood = (): Promise<string> =>
    new Promise((resolve, reject) => {
      const p = spawn('ip', ['netns', 'exec', lab.ns.h1, 'hping3', '--icmp', '-q', '-c', String(FLOOD_PACKETS), '-i', 'u50', H2], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      p.stdout.on('data', (d: Buffer) => (out += d.toString()));
      p.stderr.on('data', (d: Buffer) => (out += d.toString()));
      const timer = setTimeout(() => p.kill('SIGKILL'), 60_000);
      p.once('error', reject);
      p.once('exit', () => {
        clearTimeout(timer);
        resolve(out);
      });
    });

  test('another client\'s calls all answer during the flood; hit counter = Suricata\'s alerts; alarms bounded with the total count', async () => {
    await expect.poll(pingCrosses, { timeout: 45_000, interval: 500 }).toBe(true).catch((e: unknown) => {
      throw new Error(`no ping crossed the ids VI (default rules); its output:\n${viLog()}`, { cause: e });
    });

    // The other client: its own connection, calling while the flood runs and until it is over.
    const other = new RpcClient(controllerApi, { url, token: labOperatorToken, client: 'idsflood-other', timeoutMs: CALL_BOUND_MS });
    await other.connect();
    const latencies: number[] = [];
    const failures: string[] = [];
    let flooding = true;
    const caller = (async () => {
      // Bounded in count as well as by the flood's end.
      for (let i = 0; i < 2000 && flooding; i++) {
        const t = performance.now();
        try {
          await (i % 2 === 0 ? other.call('alarm.list', {}) : other.call('vi.get', { viId }));
          latencies.push(performance.now() - t);
        } catch (e) {
          failures.push(`call ${i} after ${Math.round(performance.now() - t)} ms: ${(e as Error).message}`);
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    const out = await flood();
    // The controller reads the alerts Suricata is still writing: keep calling until they are all in.
    const alertsLogged = (): number => readIfExists(eveFile()).split('\n').filter((l) => l.includes('"event_type":"alert"')).length;
    const hits = async (): Promise<Record<string, number>> => (await client.call('vi.get', { viId })).usage?.service ?? {};
    let logged = -1;
    await expect
      .poll(
        async () => {
          const now = alertsLogged();
          const stable = now === logged;
          logged = now;
          return stable && (await hits()).alerts === now;
        },
        { timeout: 30_000, interval: 1000 },
      )
      .toBe(true);
    flooding = false;
    await caller;
    other.close();

    const stats = /(\d+) packets transmitted, (\d+) packets received/.exec(out);
    expect(stats, out).not.toBeNull();
    const [sent, received] = [Number(stats?.[1]), Number(stats?.[2])];
    expect(sent).toBe(FLOOD_PACKETS);
    expect(received / sent).toBeLessThan(0.25);

    expect(failures, failures.join('\n')).toEqual([]);
    expect(latencies.length).toBeGreaterThan(10);
    expect(Math.max(...latencies)).toBeLessThan(CALL_BOUND_MS);

    // The hit counter counts every alert Suricata logged; most of the flood was blocked.
    const counters = await hits();
    expect(logged).toBeGreaterThanOrEqual(Math.floor((sent - received) * 0.8));
    expect(counters).toMatchObject({ alerts: logged, blocked: logged, asTarget: logged, asSource: 0, eventsDropped: 0 });

    // The alarms: few entries, whose counts add up to every alert; few notices, not one per alert.
    const { alarms } = await client.call('alarm.list', {});
    const ids = alarms.filter((a) => a.kind === 'ids' && a.subject.startsWith(`${viId} `));
    expect(ids.length).toBeGreaterThan(0);
    expect(ids.length).toBeLessThanOrEqual(5);
    expect(ids.reduce((n, a) => n + a.count, 0)).toBe(logged);
    expect(ids.find((a) => a.subject === `${viId} sid 1300001`)?.flow).toMatchObject({ viId, proto: 'ICMP', src: H1, dst: H2 });
    const notices = published.filter((a) => a.kind === 'ids' && a.subject.startsWith(`${viId} `)).length;
    expect(notices).toBeLessThan(logged / 20);
    console.log(`ids flood: ${sent} sent, ${received} answered, ${logged} alerts, ${ids.length} alarm(s), ${notices} alarm notices, ${latencies.length} calls, slowest ${Math.round(Math.max(...latencies))} ms`);
  }, 150_000);
});
