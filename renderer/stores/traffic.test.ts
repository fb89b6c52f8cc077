import { createTestingPinia } from '@pinia/testing';
import { setActivePinia } from 'pinia';
import { beforeEach, describe, expect, test, vi } from 'vitest';
import { effect } from 'vue';
import type { PacketSampleView } from '../../main/protocol/controllerApi.ts';
import { setApiForTests, type ConsoleBridge } from '../api/index.ts';
import { base64Of, eth, ipv4, tcp, udp } from '../../test/support/sampleFrames.ts';
import { useTrafficStore } from './traffic.ts';

/** The console bridge as far as the traffic store uses it: controller topics, by cloudlet and topic. */
function fakeControllers() {
  const sinks = new Map<string, (item: unknown, lost: number) => void>();
  const subscribe = vi.fn(async (_topic: string, p: { cloudletId: string; topic: string }, onItem: (item: unknown, lost: number) => void) => {
    sinks.set(`${p.cloudletId}:${p.topic}`, onItem);
    return async () => void sinks.delete(`${p.cloudletId}:${p.topic}`);
  });
  setApiForTests({ subscribe, controller: { call: vi.fn() }, scheduler: { call: vi.fn() } } as unknown as ConsoleBridge);
  return { subscribe, push: (key: string, item: unknown, lost = 0) => sinks.get(key)?.(item, lost), has: (key: string) => sinks.has(key) };
}

let n = 0;
function sample(bytes: number[], over: Partial<PacketSampleView> = {}): PacketSampleView {
  n += 1;
  return { at: 1_780_000_000_000 + n, ns: 0, viId: 'vi-1', ruleId: 'vi-1#0', direction: 'to_vi', verdict: 'to_vi', vni: 7, wireLength: bytes.length, samplingRate: 1, samplePool: n, drops: 0, bytes: base64Of(bytes), ...over };
}
const web = (sport: number) => eth(0x0800, ipv4('198.19.1.1', '198.18.30.7', 6, tcp(sport, 80)));
const dns = eth(0x0800, ipv4('198.19.1.1', '198.18.30.8', 17, udp(5353, 53)));

/** The store refreshes what it shows at most every 250 ms. */
const refreshed = () => new Promise((r) => setTimeout(r, 300));

describe('traffic store', () => {
  beforeEach(() => {
    setActivePinia(createTestingPinia({ stubActions: false, createSpy: vi.fn }));
  });

  test('the scope goes to the controller as the capture-side filter; samples fill the list newest first and losses are counted', async () => {
    const fake = fakeControllers();
    const store = useTrafficStore();
    await store.start({ cloudletId: 'cT', viId: 'vi-1', direction: 'to_vi' });
    expect(store.state).toBe('live');
    expect(fake.subscribe).toHaveBeenCalledWith('controller.subscribe', { cloudletId: 'cT', topic: 'vi.samples', params: { viId: 'vi-1', direction: 'to_vi' } }, expect.any(Function));
    fake.push('cT:vi.samples', sample(web(1000)));
    fake.push('cT:vi.samples', sample(dns), 3);
    fake.push('cT:vi.samples', sample(web(1001)));
    await refreshed();
    expect(store.rows.map((r) => r.seq)).toEqual([3, 2, 1]);
    expect(store.lost).toBe(3);
    expect(store.rows[0]?.item.decode().summary).toMatchObject({ src: '198.19.1.1', dst: '198.18.30.7', protocol: 'TCP' });
  });

  test('a display filter narrows the list; one that does not parse says why and leaves the list as it was', async () => {
    const fake = fakeControllers();
    const store = useTrafficStore();
    await store.start({ cloudletId: 'cT' });
    for (const bytes of [web(1000), dns, web(1001), dns]) fake.push('cT:vi.samples', sample(bytes));
    await refreshed();
    store.filterText = 'udp.port == 53';
    expect(store.rows.map((r) => r.seq)).toEqual([4, 2]);
    store.filterText = 'udp.port == 53 &&';
    expect(store.filterError).toEqual({ message: 'the expression ends too soon: something must follow', at: 17 });
    expect(store.rows.map((r) => r.seq)).toEqual([4, 2]);
    store.filterText = '';
    expect(store.rows).toHaveLength(4);
  });

  test('paused, the list keeps its rows while capture goes on; resume shows what came meanwhile', async () => {
    const fake = fakeControllers();
    const store = useTrafficStore();
    await store.start({ cloudletId: 'cT' });
    fake.push('cT:vi.samples', sample(web(1000)));
    await refreshed();
    store.pause();
    fake.push('cT:vi.samples', sample(web(1001)));
    fake.push('cT:vi.samples', sample(web(1002)));
    await refreshed();
    expect(store.state).toBe('paused');
    expect(store.rows.map((r) => r.seq)).toEqual([1]);
    expect(store.received).toBe(3);
    store.resume();
    expect(store.rows.map((r) => r.seq)).toEqual([3, 2, 1]);
  });

  test('following the selected packet shows its conversation, both directions', async () => {
    const fake = fakeControllers();
    const store = useTrafficStore();
    await store.start({ cloudletId: 'cT' });
    const reply = eth(0x0800, ipv4('198.18.30.7', '198.19.1.1', 6, tcp(80, 1000, 0x12)));
    for (const bytes of [web(1000), dns, reply, web(1001)]) fake.push('cT:vi.samples', sample(bytes));
    await refreshed();
    store.select(1);
    expect(store.followSelected()).toBe(true);
    expect(store.filterText).toBe('ip.addr == 198.19.1.1 && ip.addr == 198.18.30.7 && tcp.port == 1000 && tcp.port == 80');
    expect(store.rows.map((r) => r.seq)).toEqual([3, 1]);
  });

  test('a new capture lets go of the previous subscription and starts a fresh ring', async () => {
    const fake = fakeControllers();
    const store = useTrafficStore();
    await store.start({ cloudletId: 'cT' });
    fake.push('cT:vi.samples', sample(web(1000)));
    await store.start({ cloudletId: 'cU', ruleId: 'vi-9#0' });
    expect(fake.has('cT:vi.samples')).toBe(false);
    expect(fake.subscribe).toHaveBeenLastCalledWith('controller.subscribe', { cloudletId: 'cU', topic: 'vi.usage', params: {} }, expect.any(Function));
    await refreshed();
    expect(store.rows).toEqual([]);
    expect(store.received).toBe(0);
  });

  test('a filter kept across captures judges the new ring afresh (its sequence numbers start again)', async () => {
    const fake = fakeControllers();
    const store = useTrafficStore();
    store.filterText = 'udp';
    await store.start({ cloudletId: 'cT' });
    fake.push('cT:vi.samples', sample(web(1000)));
    await refreshed();
    expect(store.rows).toEqual([]);
    await store.start({ cloudletId: 'cT' });
    fake.push('cT:vi.samples', sample(dns));
    await refreshed();
    expect(store.rows.map((r) => r.seq)).toEqual([1]);
  });
  test('a stream of samples does not recompute the list per sample: a view reading it is refreshed a few times a second, not per packet', async () => {
    // The lab e2e with every packet sampled (some 100 samples/s) froze the page: each sample re-ran the
    // list (a copy and a filter pass over the whole ring) and so re-rendered it, O(ring) per packet.
    const fake = fakeControllers();
    const store = useTrafficStore();
    await store.start({ cloudletId: 'cT' });
    let listRuns = 0;
    // What a component's render does: read the list; it runs again whenever the list may have changed.
    const view = effect(() => {
      void store.rows.length;
      listRuns += 1;
    });
    const pushed = 2000;
    for (let i = 0; i < pushed; i++) {
      fake.push('cT:vi.samples', sample(web(1000 + (i % 50))));
      // Each sample is a message of its own: the reactive system settles between them.
      await Promise.resolve();
    }
    await refreshed();
    view.effect.stop();
    expect(store.rows).toHaveLength(pushed);
    // Once at first, then once per refresh period that had samples: far fewer than the samples.
    expect(listRuns).toBeLessThan(10);
  });
});
