// Events a VI's service raises (an IDS alert) become alarms about that VI on
// the controller, with the flow kept; the events file is the VI's, so what a
// service may not raise, or cannot be read as an event, is skipped. A real VI
// process writes the file; the cloudlet's clock reads it.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, test } from 'vitest';
import type { Alarm } from '../protocol/controllerApi.ts';
import type { ServiceSpec } from '../protocol/domain.ts';
import { Cloudlet } from './cloudlet.ts';
import { RuleBook } from './ruleBook.ts';
import type { HostIsolation } from './sandbox.ts';
import { ControllerStore } from './store.ts';
import { ViSupervisor } from './viSupervisor.ts';
import { SERVICE_EVENTS_FILE } from '../services/sdk/serviceEvents.ts';

const T = Date.UTC(2030, 0, 1);
const H = 3_600_000;
const noIsolation: HostIsolation = { linux: true, root: false, unshare: null, userns: false, prlimit: null, setpriv: null, cgroup: null, notes: [] };

const alert = (flowId: string, srcPort: number) =>
  JSON.stringify({ kind: 'ids', subject: `203.0.113.9:${srcPort} -> 198.18.60.2:80`, message: 'ET SCAN Possible Nmap User-Agent Observed (sid 2024364)', severity: 'critical', detail: { sid: 2024364, flowId, proto: 'TCP', src: '203.0.113.9', srcPort, dst: '198.18.60.2', dstPort: 80, action: 'allowed' } });

/** The VI: appends two alerts, a forged node alarm and a broken line to its events file, then waits to be stopped. */
const lines = [alert('1234567890123456789', 40001), JSON.stringify({ kind: 'node_down', subject: 'n1', message: 'forged', severity: 'critical', detail: {} }), '{not json', alert('1234567890123456790', 40002)];
const script = `printf '%s\\n' ${lines.map((l) => `'${l}'`).join(' ')} >> "$PCLOUD_VI_DIR/${SERVICE_EVENTS_FILE}"; exec sleep 30`;

/** A flood as an IDS VI reports it: one event per flow and read with its count (30,000 echo requests dropped), and one claiming too much. */
const floodEvent = (count: number) =>
  JSON.stringify({ kind: 'ids', subject: '198.18.0.9 -> 198.18.60.2', message: 'blocked: PCLOUD ICMP echo flood (sid 1300001)', severity: 'warning', detail: { sid: 1300001, flowId: '77', proto: 'ICMP', src: '198.18.0.9', srcPort: null, dst: '198.18.60.2', dstPort: null, action: 'blocked', count } });
const floodLines = [...Array.from({ length: 1200 }, () => floodEvent(25)), floodEvent(2_000_000)];

let dir = '';
let now = T;
const published: Alarm[] = [];
let store: ControllerStore;
let cloudlet: Cloudlet;

beforeEach(() => {
  now = T;
  dir = mkdtempSync(join(tmpdir(), 'pcloud-service-events-'));
  store = new ControllerStore(join(dir, 'c.sqlite'));
  published.length = 0;
  writeFileSync(join(dir, 'flood.jsonl'), floodLines.map((l) => `${l}\n`).join(''));
  const flooder = `cat '${join(dir, 'flood.jsonl')}' >> "$PCLOUD_VI_DIR/${SERVICE_EVENTS_FILE}"; exec sleep 30`;
  const supervisor = new ViSupervisor({ host: noIsolation, store, cloudletId: 'c1', stateDir: dir, graceMs: 100, nofile: 256, maxProcesses: 64, viUids: { first: 1_500_000_000, count: 1000 }, programs: { alerter: { command: ['sh', '-c', script] }, flooder: { command: ['sh', '-c', flooder] } }, now: () => now, onChange: () => undefined, log: () => undefined });
  cloudlet = new Cloudlet({
    cloudletId: 'c1',
    nodes: [{ id: 'n1', capacity: { cpu: 4, memMiB: 1000, diskGiB: 10, netMbps: 100 } }],
    store,
    supervisor,
    ruleBook: new RuleBook({ verify: () => ({ ok: true, anchor: 't', notAfter: 0 }) }, []),
    events: { viChanged: () => undefined, alarm: (a) => published.push(a), usage: () => undefined, changed: () => undefined },
    now: () => now,
    log: () => undefined,
    fetchReservation: async () => undefined,
  });
});

afterEach(async () => {
  for (const vi of cloudlet.vis.live()) await cloudlet.vis.teardown(vi, 'stopped', 'test over');
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

test('alerts a VI raises become one counted ids alarm with the latest flow; forged and broken lines are skipped', async () => {
  const service: ServiceSpec = { mode: 'transparent', program: 'alerter', args: {}, rules: [] };
  const profile = [{ from: T, to: T + H, capacity: { cpu: 1, memMiB: 100, diskGiB: 1, netMbps: 10 } }];
  expect(await cloudlet.agent.command({ kind: 'prepare', commandId: 'p', reservationId: 'r1', providerId: 'p1', nodeId: 'n1', t0: T, t1: T + H, profile, service, holdMs: 1000 })).toEqual({ ok: true });
  expect(await cloudlet.agent.command({ kind: 'commit', commandId: 'c', reservationId: 'r1' })).toEqual({ ok: true });
  await cloudlet.clock.tick();
  const [vi] = cloudlet.vis.live();
  expect(vi?.state).toBe('running');
  // Until the VI wrote its lines, then once more: each event is raised once.
  for (let i = 0; i < 50 && store.alarms(true, 10).length === 0; i++) {
    await new Promise((r) => setTimeout(r, 100));
    await cloudlet.clock.tick();
  }
  await cloudlet.clock.tick();

  const alarms = store.alarms(true, 10);
  expect(alarms).toHaveLength(1);
  expect(alarms[0]).toMatchObject({
    kind: 'ids',
    severity: 'critical',
    subject: `${vi?.id} sid 2024364`,
    count: 2,
    message: `VI ${vi?.id}: ET SCAN Possible Nmap User-Agent Observed (sid 2024364) 203.0.113.9:40002 -> 198.18.60.2:80`,
    // The latest occurrence's flow, its id exact beyond what a JavaScript number holds.
    flow: { viId: vi?.id, flowId: '1234567890123456790', proto: 'TCP', src: '203.0.113.9', srcPort: 40002, dst: '198.18.60.2', dstPort: 80 },
  });
});

test('a flood of alert events is one alarm with the total count, stored and published once per flow and tick, not once per event', async () => {
  const service: ServiceSpec = { mode: 'transparent', program: 'flooder', args: {}, rules: [] };
  const profile = [{ from: T, to: T + H, capacity: { cpu: 1, memMiB: 100, diskGiB: 1, netMbps: 10 } }];
  expect(await cloudlet.agent.command({ kind: 'prepare', commandId: 'p', reservationId: 'r1', providerId: 'p1', nodeId: 'n1', t0: T, t1: T + H, profile, service, holdMs: 1000 })).toEqual({ ok: true });
  expect(await cloudlet.agent.command({ kind: 'commit', commandId: 'c', reservationId: 'r1' })).toEqual({ ok: true });
  await cloudlet.clock.tick();
  const [vi] = cloudlet.vis.live();
  // 1200 events of 25 each, and one whose claimed count is over the bound (counted as one).
  const total = 1200 * 25 + 1;
  for (let i = 0; i < 50 && (store.alarms(true, 10)[0]?.count ?? 0) < total; i++) {
    await new Promise((r) => setTimeout(r, 100));
    await cloudlet.clock.tick();
  }
  await cloudlet.clock.tick();

  const alarms = store.alarms(true, 10);
  expect(alarms).toHaveLength(1);
  expect(alarms[0]).toMatchObject({ kind: 'ids', subject: `${vi?.id} sid 1300001`, count: total, flow: { proto: 'ICMP', src: '198.18.0.9', dst: '198.18.60.2' } });
  // The events file is read in slices (256 KiB), each tick's slice coalesced into one write and one notice.
  expect(published.length).toBeGreaterThan(0);
  expect(published.length).toBeLessThanOrEqual(5);
  expect(published.at(-1)?.count).toBe(total);
});
