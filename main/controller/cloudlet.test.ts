import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import type { ControllerCommand, Profile, ServiceSpec } from '../protocol/domain.ts';
import { Cloudlet } from './cloudlet.ts';
import { capacityAt } from '../protocol/profile.ts';
import { viIdOf } from './holds.ts';
import type { OwnershipVerifier } from './ownership.ts';
import { RuleBook } from './ruleBook.ts';
import type { HostIsolation } from './sandbox.ts';
import { ControllerStore } from './store.ts';
import { ViSupervisor } from './viSupervisor.ts';
import { catalog } from '../services/catalog.ts';

const H = 3_600_000;
const T = Date.UTC(2030, 0, 1);
const verifier: OwnershipVerifier = { verify: (proof, c) => (proof === `owns:${c.providerId}` ? { ok: true, anchor: 't', notAfter: 0 } : { ok: false, reason: 'no' }) };
const noIsolation: HostIsolation = { linux: true, root: false, unshare: null, userns: false, prlimit: null, setpriv: null, cgroup: null, notes: [] };
const service = (rules: ServiceSpec['rules'] = []): ServiceSpec => ({ mode: 'visible', program: 'monitor', args: {}, rules });
const profile = (from: number, to: number, cpu: number): Profile => [{ from, to, capacity: { cpu, memMiB: 100, diskGiB: 1, netMbps: 10 } }];

let now = T;
let store: ControllerStore;
let cloudlet: Cloudlet;

beforeEach(() => {
  now = T;
  const dir = mkdtempSync(join(tmpdir(), 'pcloud-cloudlet-'));
  store = new ControllerStore(join(dir, 'c.sqlite'));
  const supervisor = new ViSupervisor({ host: noIsolation, store, cloudletId: 'c1', stateDir: dir, graceMs: 100, nofile: 256, maxProcesses: 64, viUids: { first: 1_500_000_000, count: 1000 }, programs: {}, now: () => now, onChange: () => undefined, log: () => undefined });
  cloudlet = new Cloudlet({
    cloudletId: 'c1',
    nodes: [{ id: 'n1', capacity: { cpu: 4, memMiB: 1000, diskGiB: 10, netMbps: 100 } }],
    store,
    supervisor,
    ruleBook: new RuleBook(verifier, []),
    events: { viChanged: () => undefined, alarm: () => undefined, usage: () => undefined, changed: () => undefined },
    now: () => now,
    log: () => undefined,
    fetchReservation: async () => undefined,
  });
});
afterEach(() => store.close());

let n = 0;
function prepare(id: string, from: number, to: number, cpu: number, extra: Partial<Extract<ControllerCommand, { kind: 'prepare' }>> = {}) {
  return cloudlet.agent.command({ kind: 'prepare', commandId: `c${n++}`, reservationId: id, providerId: 'p1', nodeId: 'n1', t0: from, t1: to, profile: profile(from, to, cpu), service: service(), holdMs: 1000, ...extra });
}

describe('the service catalog at prepare', () => {
  const spec = (program: string, args: Record<string, string>, port?: ServiceSpec['port']): ServiceSpec => ({ mode: 'transparent', program, args, rules: [], ...(port ? { port } : {}) });

  test('arguments that fail the program\'s schema are refused, naming the argument and what it needs', async () => {
    expect(await prepare('r1', T, T + H, 1, { service: spec('aes-encrypt', { key: 'abc' }) })).toEqual({ ok: false, reason: 'service "aes-encrypt": argument "key": 64 hexadecimal digits (32 bytes)' });
    expect(await prepare('r1', T, T + H, 1, { service: spec('aes-encrypt', { key: 'zz'.repeat(32) }) })).toEqual({ ok: false, reason: 'service "aes-encrypt": argument "key": hexadecimal digits only' });
    expect(await prepare('r1', T, T + H, 1, { service: spec('aes-encrypt', { cipher: 'des' }) })).toEqual({ ok: false, reason: 'service "aes-encrypt": unknown argument "cipher" (aes-encrypt takes key, iv)' });
    expect(await prepare('r1', T, T + H, 1, { service: spec('monitor', { 'interval-ms': 'soon' }) })).toEqual({ ok: false, reason: 'service "monitor": argument "interval-ms": a whole number, written in digits' });
    expect(await prepare('r1', T, T + H, 1, { service: spec('forward', { x: '1' }) })).toEqual({ ok: false, reason: 'service "forward": unknown argument "x" (forward takes no arguments)' });
    expect(store.hold('r1')).toBeUndefined();
  });

  test('a port of the wrong kind is refused; good arguments are held', async () => {
    expect(await prepare('r1', T, T + H, 1, { service: spec('aes-encrypt', {}, { kind: 'tap', layout: 'single' }) })).toEqual({ ok: false, reason: 'service "aes-encrypt" runs on a ring port, not a tap port (leave port out to get its own)' });
    expect(await prepare('r2', T, T + H, 1, { service: spec('aes-encrypt', { key: 'ab'.repeat(32), iv: '00'.repeat(16) }) })).toEqual({ ok: true });
    expect(await prepare('r3', T, T + H, 1, { service: spec('monitor', { 'interval-ms': '200', children: '2' }) })).toEqual({ ok: true });
  });

  test('service.list describes each program: kind, port, arguments, availability', () => {
    const offers = cloudlet.agent['supervisor'].offers();
    expect(offers.map((o) => o.program)).toEqual(catalog.map((d) => d.program));
    // A tap service says where it runs and why a host cannot run it.
    expect(offers.find((o) => o.program === 'ids')).toMatchObject({ mode: 'transparent', port: { kind: 'tap', layout: 'bump' }, args: [{ name: 'rules', required: false }, { name: 'home-net', required: false }, { name: 'echo-limit', required: false }, { name: 'syn-limit', required: false }] });
    if (process.getuid?.() !== 0) expect(offers.find((o) => o.program === 'web-cache')).toMatchObject({ available: false, reason: 'tap ports need a root controller' });
    expect(offers.find((o) => o.program === 'aes-encrypt')).toEqual({
      program: 'aes-encrypt',
      summary: expect.stringContaining('AES-256-CBC'),
      source: 'built-in',
      mode: 'transparent',
      port: { kind: 'ring', layout: 'single' },
      args: [
        { name: 'key', required: false, description: expect.stringContaining('secret') },
        { name: 'iv', required: false, description: expect.stringContaining('32 hex digits') },
      ],
      available: true,
      reason: null,
    });
  });
});

describe('prepare, commit and abort from local truth', () => {
  test('a node is not overbooked at any instant; the refusal names the resource and the interval', async () => {
    expect(await prepare('r1', T, T + 2 * H, 3)).toEqual({ ok: true });
    expect(await prepare('r2', T + H, T + 3 * H, 2)).toEqual({ ok: false, reason: 'node n1 has 1 cpu free from 2030-01-01T01:00:00.000Z to 2030-01-01T03:00:00.000Z, 2 requested' });
    // After r1 ends there is room.
    expect(await prepare('r3', T + 2 * H, T + 3 * H, 4)).toEqual({ ok: true });
  });

  test('abort releases a hold; commit keeps it past its hold time; a lapsed prepare frees its capacity', async () => {
    expect(await prepare('r1', T + H, T + 2 * H, 4)).toEqual({ ok: true });
    expect((await prepare('r2', T + H, T + 2 * H, 1)).ok).toBe(false);
    expect(await cloudlet.agent.command({ kind: 'abort', commandId: 'a', reservationId: 'r1', reason: 'declined' })).toEqual({ ok: true });
    expect(await prepare('r2', T + H, T + 2 * H, 4)).toEqual({ ok: true });
    expect(await cloudlet.agent.command({ kind: 'commit', commandId: 'b', reservationId: 'r2' })).toEqual({ ok: true });
    // Before t0, so the tick only lapses holds; the committed one stays.
    now += 60_000;
    await cloudlet.clock.tick();
    expect(store.hold('r2')?.state).toBe('committed');
    expect((await prepare('r3', T + H, T + 2 * H, 1)).ok).toBe(false);
    expect(await prepare('r3', T + 2 * H, T + 3 * H, 4)).toEqual({ ok: true });
    expect((await prepare('r4', T + 2 * H, T + 3 * H, 4)).ok).toBe(false);
    now += 10_000;
    expect(await prepare('r4', T + 2 * H, T + 3 * H, 4)).toEqual({ ok: true });
  });

  test('commit without a prepare, an unknown node, a missing program and a down node are refused with the reason', async () => {
    expect(await cloudlet.agent.command({ kind: 'commit', commandId: 'x', reservationId: 'nope' })).toEqual({ ok: false, reason: expect.stringContaining('nothing prepared for reservation nope') });
    expect(await prepare('r1', T, T + H, 1, { nodeId: 'n9' })).toEqual({ ok: false, reason: 'node "n9" is not in cloudlet c1 (nodes: n1)' });
    expect(await prepare('r1', T, T + H, 1, { service: { ...service(), program: 'wanopt' } })).toEqual({ ok: false, reason: `program "wanopt" is not installed on cloudlet c1 (installed: ${catalog.map((d) => d.program).join(', ')})` });
    await cloudlet.operator.setNodeHealth({ name: 'noc', role: 'operator' }, 'n1', 'down', 'maintenance');
    expect(await prepare('r1', T, T + H, 1)).toEqual({ ok: false, reason: 'node n1 is down (maintenance)' });
  });

  test("a prepared hold's rules are promised: another tenant overlapping them in time is refused", async () => {
    const rule = (provider: string) => ({ priority: 1, match: { dstPrefix: '10.1.0.0/16' }, action: 'to_vi' as const, samplingRate: 0, ownershipProof: `owns:${provider}` });
    expect(await prepare('r1', T, T + H, 1, { service: service([rule('p1')]) })).toEqual({ ok: true });
    expect(await prepare('r2', T, T + H, 1, { providerId: 'p2', service: service([rule('p2')]) })).toEqual({
      ok: false,
      reason: expect.stringContaining('would capture traffic already claimed by rule vi-r1#0 of provider "p1"'),
    });
    expect(await prepare('r3', T + H, T + 2 * H, 1, { providerId: 'p2', service: service([rule('p2')]) })).toEqual({ ok: true });
  });

  test('a start refused (node down) ends the hold, so it is not started later behind the scheduler', async () => {
    await prepare('r1', T + H, T + 2 * H, 1);
    await cloudlet.agent.command({ kind: 'commit', commandId: 'c', reservationId: 'r1' });
    await cloudlet.operator.setNodeHealth({ name: 'noc', role: 'operator' }, 'n1', 'down', 'fire');
    now = T + H;
    const refused = await cloudlet.agent.command({ kind: 'start', commandId: 's', reservationId: 'r1', nodeId: 'n1', profile: profile(T + H, T + 2 * H, 1), service: service(), t1: T + 2 * H });
    expect(refused).toEqual({ ok: false, reason: 'node n1 is down (fire)' });
    expect(store.hold('r1')?.state).toBe('ended');
  });

  test('reconcile ends committed holds the scheduler no longer lists', async () => {
    await prepare('r1', T + H, T + 2 * H, 1);
    await cloudlet.agent.command({ kind: 'commit', commandId: 'c', reservationId: 'r1' });
    await cloudlet.agent.reconcile([]);
    expect(store.hold('r1')?.state).toBe('ended');
  });
});

test('VI ids are readable for safe reservation ids and hashed otherwise; capacity follows the profile', () => {
  expect(viIdOf('r-123')).toBe('vi-r-123');
  expect(viIdOf('../../etc')).toMatch(/^vi-[0-9a-f]{24}$/);
  const p: Profile = [...profile(T, T + H, 1), ...profile(T + H, T + 2 * H, 3)];
  expect(capacityAt(p, T + H).cpu).toBe(3);
  expect(capacityAt(p, T + 2 * H).cpu).toBe(0);
});
