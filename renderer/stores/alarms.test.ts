import { createTestingPinia } from '@pinia/testing';
import { setActivePinia } from 'pinia';
import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import type { Alarm } from '../../main/protocol/controllerApi.ts';
import { setApiForTests, type ConsoleBridge } from '../api/index.ts';
import { deterlab } from '../../test/support/consoleFakes.ts';
import { useAlarmsStore } from './alarms.ts';
import { useOperatorStore } from './operator.ts';
import { useTopologyStore } from './topology.ts';

const alarm = (id: number, over: Partial<Alarm> = {}): Alarm => ({
  id,
  kind: 'spoofing',
  severity: 'critical',
  subject: `vi-r-${id}`,
  message: `VI vi-r-${id} emitted 1 packet(s) its rules do not allow`,
  firstSeen: 1_780_000_000_000 + id,
  lastSeen: 1_780_000_000_000 + id,
  count: 1,
  acknowledgedBy: null,
  ...over,
});

/** Each cloudlet's controller: `alarm.list` answers what it holds, the `alarms` topic is pushed by the test. */
function fakeControllers(listed: Record<string, Alarm[]>) {
  const sinks = new Map<string, (item: unknown, lost: number) => void>();
  const call = vi.fn(async ({ cloudletId, method, params }: { cloudletId: string; method: string; params: { alarmId?: number; reason?: string; operatorName?: string } }) => {
    if (method === 'alarm.list') return { alarms: listed[cloudletId] ?? [] };
    if (method === 'alarm.acknowledge') return { ...(listed[cloudletId] ?? []).find((a) => a.id === params.alarmId), acknowledgedBy: params.operatorName ?? 'noc-alice', acknowledgedPrincipal: 'noc-alice' };
    throw new Error(`unexpected ${method}`);
  });
  const subscribe = vi.fn(async (_t: string, p: { cloudletId: string; topic: string }, onItem: (item: unknown, lost: number) => void) => {
    sinks.set(`${p.cloudletId}:${p.topic}`, onItem);
    return async () => undefined;
  });
  setApiForTests({ subscribe, controller: { call }, scheduler: { call: vi.fn() } } as unknown as ConsoleBridge);
  return { call, push: (cloudletId: string, a: Alarm) => sinks.get(`${cloudletId}:alarms`)?.(a, 0) };
}

const settle = () => new Promise((r) => setTimeout(r, 0));

/** The browser's Notification as far as the store uses it, recording what was shown. */
class RecordingNotification {
  static permission: NotificationPermission = 'default';
  static shown: { title: string; body?: string }[] = [];
  static requestPermission = vi.fn(async () => (RecordingNotification.permission = 'granted'));
  constructor(title: string, options?: { body?: string }) {
    RecordingNotification.shown.push({ title, ...(options?.body ? { body: options.body } : {}) });
  }
}

describe('alarms store', () => {
  beforeEach(() => {
    setActivePinia(createTestingPinia({ stubActions: false, createSpy: vi.fn }));
    localStorage.clear();
    RecordingNotification.shown = [];
    RecordingNotification.permission = 'default';
    vi.stubGlobal('Notification', RecordingNotification);
  });
  afterEach(() => vi.unstubAllGlobals());

  test('alarms of every connected cloudlet in one list, open and most severe first; the badge counts the open ones', async () => {
    const fake = fakeControllers({ C1: [alarm(1, { severity: 'warning', kind: 'vi_over_limit' }), alarm(2, { acknowledgedBy: 'noc-bob' })], C2: [alarm(1)] });
    const store = useAlarmsStore();
    useTopologyStore().topology = deterlab();
    await settle();
    await settle();
    expect(fake.call).toHaveBeenCalledWith({ cloudletId: 'C1', method: 'alarm.list', params: { includeAcknowledged: true, limit: 1000 } });
    expect(store.list.map((a) => a.key)).toEqual(['C2:1', 'C1:1']);
    expect(store.open).toHaveLength(2);
    expect(store.openCritical).toBe(1);
    store.showAcknowledged = true;
    expect(store.list.map((a) => a.key)).toEqual(['C2:1', 'C1:1', 'C1:2']);
  });

  test('a repeat updates its alarm in place; acknowledging goes to the controller that raised it', async () => {
    const fake = fakeControllers({ C1: [alarm(3)] });
    const store = useAlarmsStore();
    useTopologyStore().topology = deterlab();
    await settle();
    await settle();
    fake.push('C1', alarm(3, { count: 4, lastSeen: 1_780_000_100_000 }));
    expect(store.list).toHaveLength(1);
    expect(store.list[0]?.count).toBe(4);
    const a = store.list[0];
    if (!a) throw new Error('no alarm');
    const done = await store.acknowledge(a, 'known tenant bug, ticket 42');
    expect(fake.call).toHaveBeenLastCalledWith({ cloudletId: 'C1', method: 'alarm.acknowledge', params: { alarmId: 3, reason: 'known tenant bug, ticket 42' } });
    expect(done.acknowledgedBy).toBe('noc-alice');
    expect(store.open).toHaveLength(0);
  });

  test("acknowledging carries the operator's name once one is set; a name that is not one line is kept back, with the reason", async () => {
    const fake = fakeControllers({ C1: [alarm(5), alarm(6)] });
    const store = useAlarmsStore();
    const operator = useOperatorStore();
    useTopologyStore().topology = deterlab();
    await settle();
    await settle();
    operator.set('Dana\u0007Okafor');
    expect(operator.problem).toBe('one line, no control characters');
    expect(operator.sendable).toBeUndefined();
    expect(localStorage.getItem('pcloud.operatorName')).toBeNull();
    operator.set('  Dana Okafor ');
    expect(operator.problem).toBe('');
    expect(localStorage.getItem('pcloud.operatorName')).toBe('Dana Okafor');
    const a = store.list.find((x) => x.id === 5);
    if (!a) throw new Error('no alarm 5');
    const done = await store.acknowledge(a, 'ticket 43');
    expect(fake.call).toHaveBeenLastCalledWith({ cloudletId: 'C1', method: 'alarm.acknowledge', params: { alarmId: 5, reason: 'ticket 43', operatorName: 'Dana Okafor' } });
    expect(done).toMatchObject({ acknowledgedBy: 'Dana Okafor', acknowledgedPrincipal: 'noc-alice' });
    // A console opened later on this machine knows the name.
    setActivePinia(createTestingPinia({ stubActions: false, createSpy: vi.fn }));
    expect(useOperatorStore().name).toBe('Dana Okafor');
  });

  test('desktop notifications stay off until the operator turns them on and the system allows; then only new critical alarms notify', async () => {
    const fake = fakeControllers({ C1: [alarm(1)] });
    const store = useAlarmsStore();
    useTopologyStore().topology = deterlab();
    await settle();
    await settle();
    fake.push('C1', alarm(5));
    expect(RecordingNotification.shown).toEqual([]);
    await store.setNotifications(true);
    expect(RecordingNotification.requestPermission).toHaveBeenCalled();
    expect(store.notificationsOn).toBe(true);
    expect(localStorage.getItem('pcloud.alarmNotifications')).toBe('on');
    fake.push('C1', alarm(6, { severity: 'warning', kind: 'vi_over_limit' }));
    fake.push('C1', alarm(7));
    // A repeat of a known alarm does not notify again.
    fake.push('C1', alarm(7, { count: 2 }));
    expect(RecordingNotification.shown.map((n) => n.title)).toEqual(['spoofing on C1: vi-r-7']);
  });
});
