import { createTestingPinia } from '@pinia/testing';
import { flushPromises, mount } from '@vue/test-utils';
import { setActivePinia } from 'pinia';
import { beforeEach, describe, expect, test, vi } from 'vitest';
import { connected, installFakeConsole } from '../../test/support/consoleFakes.ts';
import TopologyView from './TopologyView.vue';

describe('topology view', () => {
  beforeEach(() => {
    setActivePinia(createTestingPinia({ stubActions: false, createSpy: vi.fn }));
  });

  test('with no connection it says what to do, and Start the lab asks the backend for the lab', async () => {
    const fake = installFakeConsole();
    const view = mount(TopologyView, { attachTo: document.body });
    await flushPromises();
    fake.pushConnection({ ...connected, kind: 'none', name: '', state: 'idle', message: '' });
    await flushPromises();
    expect(view.get('[data-testid=topology-state]').text()).toContain('Not connected: start the lab or pick a profile');
    await view.get('[data-testid=topology-start-lab]').trigger('click');
    await flushPromises();
    expect(fake.api.useLab).toHaveBeenCalledWith({});
    view.unmount();
  });

  test('while the lab starts it shows its progress', async () => {
    const fake = installFakeConsole();
    const view = mount(TopologyView, { attachTo: document.body });
    await flushPromises();
    fake.pushConnection({ ...connected, state: 'starting', message: 'starting controller-C2', progress: { done: 2, total: 3 } });
    await flushPromises();
    const state = view.get('[data-testid=topology-state]');
    expect(state.text()).toContain('Connecting to deterlab');
    expect(state.text()).toContain('2 of 3 processes up');
    expect(state.get('progress').attributes('value')).toBe('2');
    view.unmount();
  });

  test('a failed load offers Retry with the reason', async () => {
    const fake = installFakeConsole({ failTopology: 'scheduler refused: viewer may not call topology.get' });
    const view = mount(TopologyView, { attachTo: document.body });
    await flushPromises();
    fake.pushConnection(connected);
    await fake.settle();
    await flushPromises();
    expect(view.get('[data-testid=topology-state]').text()).toContain('viewer may not call topology.get');
    expect(view.find('[data-testid=topology-retry]').exists()).toBe(true);
    view.unmount();
  });

  test('the keyboard help lists the shortcuts of every view too: Alt+1..4 and Ctrl+Shift+T', async () => {
    installFakeConsole();
    const view = mount(TopologyView, { attachTo: document.body });
    await flushPromises();
    window.dispatchEvent(new KeyboardEvent('keydown', { key: '?' }));
    await flushPromises();
    const help = view.get('[data-testid=keyboard-help]').text();
    for (const keys of ['Alt+1', 'Alt+2', 'Alt+3', 'Alt+4', 'Alt+5', 'Alt+6', 'Ctrl+Shift+T']) expect(help).toContain(keys);
    expect(help).toContain('Show Topology, Reservations, Traffic, Alarms, Audit, Terminals');
    view.unmount();
  });
});
