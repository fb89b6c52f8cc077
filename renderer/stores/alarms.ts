/**
 * Alarms of every controller of the connection (spoofing, a VI over its
 * limits, crashed or lost, a node down, the scheduler unreachable...), one
 * list: each controller's `alarm.list` for what is there, then its `alarms`
 * topic for what is raised or repeats. Acknowledging goes to the controller
 * that raised it, audited there with the operator's reason and name.
 *
 * New critical alarms may also be shown as desktop notifications (the
 * browser's Notification, which Electron shows natively), off until the
 * operator turns them on and the system allows them.
 */
import { defineStore } from 'pinia';
import { computed, ref, shallowRef, watch } from 'vue';
import type { Alarm } from '../../main/protocol/controllerApi.ts';
import { toApiError } from '../api/index.ts';
import { controllerCall, controllerSubscribe } from '../api/relay.ts';
import { useConnectionStore } from './connection.ts';
import { useOperatorStore } from './operator.ts';
import { useTopologyStore } from './topology.ts';

export interface CloudletAlarm extends Alarm {
  cloudletId: string;
  /** cloudlet and alarm id: alarm ids are per controller. */
  key: string;
}

/** Alarm kinds whose subject is a VI id (the others name a node or the scheduler's URL). */
export const viAlarmKinds: ReadonlySet<Alarm['kind']> = new Set(['spoofing', 'vi_over_limit', 'vi_crashed', 'vi_lost']);
const severityRank: Record<Alarm['severity'], number> = { critical: 0, warning: 1, info: 2 };
const notifyKey = 'pcloud.alarmNotifications';

export const useAlarmsStore = defineStore('alarms', () => {
  const alarms = shallowRef(new Map<string, CloudletAlarm>());
  const errors = ref(new Map<string, string>());
  const showAcknowledged = ref(false);
  const notificationsOn = ref(localStorage.getItem(notifyKey) === 'on');
  const notificationState = ref<NotificationPermission | 'unsupported'>(typeof Notification === 'undefined' ? 'unsupported' : Notification.permission);
  /** Alarms seen when the list was first loaded per cloudlet: only later ones notify. */
  const followed = new Map<string, () => Promise<void>>();
  let generation = 0;

  const list = computed(() =>
    [...alarms.value.values()]
      .filter((a) => showAcknowledged.value || a.acknowledgedBy === null)
      .sort((a, b) => (a.acknowledgedBy === null ? 0 : 1) - (b.acknowledgedBy === null ? 0 : 1) || severityRank[a.severity] - severityRank[b.severity] || b.lastSeen - a.lastSeen),
  );
  const open = computed(() => [...alarms.value.values()].filter((a) => a.acknowledgedBy === null));
  const openCritical = computed(() => open.value.filter((a) => a.severity === 'critical').length);

  function put(cloudletId: string, alarm: Alarm, live: boolean): void {
    const key = `${cloudletId}:${alarm.id}`;
    const before = alarms.value.get(key);
    const next = new Map(alarms.value);
    next.set(key, { ...alarm, cloudletId, key });
    alarms.value = next;
    if (live && !before && alarm.severity === 'critical') notify(next.get(key) as CloudletAlarm);
  }

  function notify(a: CloudletAlarm): void {
    if (!notificationsOn.value || notificationState.value !== 'granted') return;
    try {
      new Notification(`${a.kind.replaceAll('_', ' ')} on ${a.cloudletId}: ${a.subject}`, { body: a.message, tag: a.key });
    } catch {
      // A browser that refuses notifications outside a service worker: the list and badge still say it.
    }
  }

  async function follow(cloudletId: string, mine: number): Promise<void> {
    try {
      const end = await controllerSubscribe(cloudletId, 'alarms', (a) => {
        if (mine === generation) put(cloudletId, a, true);
      });
      if (mine !== generation) {
        await end().catch(() => undefined);
        return;
      }
      followed.set(cloudletId, end);
      const listed = await controllerCall(cloudletId, 'alarm.list', { includeAcknowledged: true, limit: 1000 });
      for (const a of listed.alarms) if (!alarms.value.has(`${cloudletId}:${a.id}`)) put(cloudletId, a, false);
      const next = new Map(errors.value);
      next.delete(cloudletId);
      errors.value = next;
    } catch (e) {
      const next = new Map(errors.value);
      next.set(cloudletId, `Alarms of cloudlet ${cloudletId} are not shown: ${toApiError(e).message}`);
      errors.value = next;
    }
  }

  async function stopAll(): Promise<void> {
    const ends = [...followed.values()];
    followed.clear();
    await Promise.all(ends.map((end) => end().catch(() => undefined)));
  }

  // Follow every connected cloudlet of the topology; a new lab or scheduler starts over.
  const topology = useTopologyStore();
  watch(
    () => (topology.topology?.cloudlets ?? []).filter((c) => c.connected).map((c) => c.id).join(' '),
    (ids) => {
      for (const id of ids.split(' ').filter(Boolean)) if (!followed.has(id)) void follow(id, generation);
    },
    { immediate: true },
  );
  watch(
    () => useConnectionStore().target,
    () => {
      generation += 1;
      void stopAll();
      alarms.value = new Map();
      errors.value = new Map();
    },
  );

  /** Recorded under the operator's name when one is set (operator store), beside the token's principal. */
  async function acknowledge(a: CloudletAlarm, reason: string): Promise<CloudletAlarm> {
    const operatorName = useOperatorStore().sendable;
    const done = await controllerCall(a.cloudletId, 'alarm.acknowledge', { alarmId: a.id, reason, ...(operatorName ? { operatorName } : {}) });
    put(a.cloudletId, done, false);
    return alarms.value.get(a.key) as CloudletAlarm;
  }

  /** The reservation of an alarm's VI (its controller knows it). */
  async function reservationOf(a: CloudletAlarm): Promise<string> {
    return (await controllerCall(a.cloudletId, 'vi.get', { viId: a.subject })).reservationId;
  }

  /** Turns desktop notifications on (asking the system first) or off. */
  async function setNotifications(on: boolean): Promise<void> {
    if (on && typeof Notification !== 'undefined' && Notification.permission !== 'granted') notificationState.value = await Notification.requestPermission();
    notificationsOn.value = on && notificationState.value === 'granted';
    localStorage.setItem(notifyKey, notificationsOn.value ? 'on' : 'off');
  }

  return { alarms, list, open, openCritical, errors, showAcknowledged, notificationsOn, notificationState, acknowledge, reservationOf, setNotifications };
});
