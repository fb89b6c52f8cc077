import { createTestingPinia } from '@pinia/testing';
import { flushPromises, mount } from '@vue/test-utils';
import { setActivePinia } from 'pinia';
import { beforeEach, expect, test, vi } from 'vitest';
import type { ConnectionStatus } from '../../main/protocol/consoleApi.ts';
import type { Reservation } from '../../main/protocol/domain.ts';
import { setApiForTests, type ConsoleBridge } from '../api/index.ts';
import { reservation } from '../../test/support/consoleFakes.ts';
import { useConnectionStore } from '../stores/connection.ts';
import ConnectionBar from './ConnectionBar.vue';

const deterlab: ConnectionStatus = { kind: 'lab', name: 'deterlab', schedulerUrl: 'ws://127.0.0.1:1', state: 'connected', message: 'connected', progress: null };

function fakeBackend(open: Reservation[]) {
  const useLab = vi.fn(async () => ({ ...deterlab, name: 'globalwan', state: 'starting' }));
  setApiForTests({
    lab: { topologies: vi.fn(async () => [{ name: 'globalwan', title: 'Global WAN', pops: 5, nodes: 10 }]) },
    profile: { list: vi.fn(async () => []) },
    connection: { useLab },
    scheduler: { call: vi.fn(async () => ({ reservations: open })) },
  } as unknown as ConsoleBridge);
  return { useLab };
}

beforeEach(() => setActivePinia(createTestingPinia({ stubActions: false, createSpy: vi.fn })));

test('leaving a lab with pending or active reservations asks first, and switches only once confirmed', async () => {
  const { useLab } = fakeBackend([reservation('r-5', 'C11', 'pending_approval'), reservation('r-6', 'C12', 'active')]);
  useConnectionStore().apply(deterlab);
  const bar = mount(ConnectionBar, { attachTo: document.body });
  await bar.get('[data-testid=connection-toggle]').trigger('click');
  await flushPromises();
  await bar.get('[data-testid=use-lab-globalwan]').trigger('click');
  await flushPromises();
  expect(useLab).not.toHaveBeenCalled();
  expect(bar.get('[data-testid=confirm-consequence]').text()).toContain('1 pending and 1 active or scheduled reservation(s) end with it');
  await bar.get('[data-testid=confirm-ok]').trigger('click');
  await flushPromises();
  expect(useLab).toHaveBeenCalledWith({ topology: 'globalwan' });
  bar.unmount();
});

test('an empty lab is left without a question; a switch in progress shows a moving bar', async () => {
  const { useLab } = fakeBackend([]);
  const connection = useConnectionStore();
  connection.apply(deterlab);
  const bar = mount(ConnectionBar, { attachTo: document.body });
  await bar.get('[data-testid=connection-toggle]').trigger('click');
  await flushPromises();
  await bar.get('[data-testid=use-lab-globalwan]').trigger('click');
  await flushPromises();
  expect(useLab).toHaveBeenCalled();
  expect(bar.find('[data-testid=confirm-dialog]').exists()).toBe(false);
  connection.apply({ ...deterlab, name: 'globalwan', schedulerUrl: null, state: 'starting', message: 'stopping the deterlab lab, then starting the globalwan lab' });
  await flushPromises();
  expect(bar.find('[data-testid=connection-progress]').exists()).toBe(true);
  expect(bar.get('[data-testid=connection-toggle]').text()).toContain('lab globalwan: starting');
  bar.unmount();
});

test("a lab's mode and its reason are shown; a remote connection shows none", async () => {
  fakeBackend([]);
  const connection = useConnectionStore();
  connection.apply({ ...deterlab, labMode: { kind: 'userspace', reason: 'building namespaces, links and routers needs root' } });
  const bar = mount(ConnectionBar, { attachTo: document.body });
  await flushPromises();
  expect(bar.get('[data-testid=lab-mode]').text()).toBe('userspace traffic source: building namespaces, links and routers needs root');
  connection.apply({ ...deterlab, labMode: { kind: 'namespaces', reason: 'root, with Open vSwitch and iproute2' } });
  await flushPromises();
  expect(bar.get('[data-testid=lab-mode]').text()).toBe('hosts and routers: root, with Open vSwitch and iproute2');
  connection.apply({ kind: 'remote', name: 'isp', schedulerUrl: 'wss://x', state: 'connected', message: 'connected', progress: null });
  await flushPromises();
  expect(bar.find('[data-testid=lab-mode]').exists()).toBe(false);
  bar.unmount();
});
