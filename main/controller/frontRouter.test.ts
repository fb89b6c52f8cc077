import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import type { Alarm } from '../protocol/controllerApi.ts';
import type { DemuxMatch } from '../protocol/domain.ts';
import { Alarms, LocalAudit } from './alarms.ts';
import { parseControllerConfig } from './config.ts';
import { controllerCookie, COOKIE_MASK, FrontRouter, openflowMatches, portMasks, routerFlows } from './frontRouter.ts';
import { OvsRouter, parseFlowLine } from './ovsRouter.ts';
import { ControllerStore } from './store.ts';
import type { InstalledRule } from './ruleInstaller.ts';

const rule = (id: string, priority: number, match: DemuxMatch, owner: 'tenant' | 'isp' = 'tenant', action: InstalledRule['action'] = 'to_vi'): InstalledRule => ({
  id,
  owner,
  providerId: owner === 'isp' ? 'isp' : 'p1',
  viId: owner === 'isp' ? null : id.split('#')[0] ?? null,
  reservationId: null,
  priority,
  match,
  action,
  samplingRate: 0,
  provenBy: null,
  installedAt: 0,
});

describe('port ranges as OpenFlow masks', () => {
  test.each([
    [80, 80],
    [0, 65535],
    [1024, 65535],
    [1000, 2000],
    [5, 6],
    [49151, 49153],
  ])('%i-%i is covered exactly', (from, to) => {
    const masks = portMasks(from, to);
    const covered = new Set<number>();
    for (const { value, mask } of masks) for (let p = 0; p < 65536; p++) if ((p & mask) === value) covered.add(p);
    expect(covered.size).toBe(to - from + 1);
    expect(Math.min(...covered)).toBe(from);
    expect(Math.max(...covered)).toBe(to);
  });

  test('an aligned range is one mask', () => {
    expect(portMasks(1024, 2047)).toEqual([{ value: 1024, mask: 0xfc00 }]);
  });
});

describe('demux matches as OpenFlow matches', () => {
  test('prefixes, protocol and ports with their prerequisites', () => {
    expect(openflowMatches({ dstPrefix: '198.18.20.0/24' })).toEqual(['ip,nw_dst=198.18.20.0/24']);
    expect(openflowMatches({ srcPrefix: '2001:db8::/32', ipProto: 6, dstPorts: { from: 443, to: 443 } })).toEqual(['ipv6,nw_proto=6,ipv6_src=2001:db8::/32,tp_dst=443']);
    expect(openflowMatches({ ethType: 0x0806 })).toEqual(['dl_type=0x0806']);
    expect(openflowMatches({})).toEqual(['']);
  });

  test('a protocol without a family matches both families', () => {
    expect(openflowMatches({ ipProto: 17 })).toEqual(['ip,nw_proto=17', 'ipv6,nw_proto=17']);
  });

  test('a port range that is not one mask becomes several flows', () => {
    expect(openflowMatches({ dstPrefix: '198.18.0.0/16', ipProto: 6, dstPorts: { from: 80, to: 81 } })).toEqual(['ip,nw_proto=6,nw_dst=198.18.0.0/16,tp_dst=0x50/0xfffe']);
    expect(openflowMatches({ dstPrefix: '198.18.0.0/16', ipProto: 6, dstPorts: { from: 79, to: 80 } })).toHaveLength(2);
  });
});

describe('the router table of a rule book', () => {
  const cookie = controllerCookie('c1');
  const o = { cookie, vni: 100, vxlanPort: 3 };

  test('fixed flows, one flow per VI rule at its priority towards the VXLAN port, all carrying the cookie', () => {
    const flows = routerFlows([rule('vi-a#0', 10, { dstPrefix: '198.18.20.0/24' })], [], o);
    expect(flows.map((f) => [f.priority, f.match, f.actions, f.ruleId])).toEqual([
      [65535, 'in_port=3', 'goto_table:1', null],
      [0, '', 'goto_table:1', null],
      [10, 'ip,nw_dst=198.18.20.0/24', 'set_field:100->tun_id,output:3', 'vi-a#0'],
    ]);
    for (const f of flows) expect(f.cookie & COOKIE_MASK).toBe(cookie);
    expect(new Set(flows.map((f) => f.cookie)).size).toBe(flows.length);
  });

  test('the same rules give the same cookies; another controller has other cookies', () => {
    const rules = [rule('vi-a#0', 10, { dstPrefix: '198.18.20.0/24' })];
    expect(routerFlows(rules, [], o)).toEqual(routerFlows(rules, [], o));
    expect(controllerCookie('c2')).not.toBe(cookie);
  });

  test('an ISP rule above an overlapping tenant rule keeps its share out of the VI; ISP rules elsewhere are not the router\'s business', () => {
    const tenant = [rule('vi-a#0', 10, { dstPrefix: '198.18.0.0/16' })];
    const isp = [rule('isp#0', 100, { dstPrefix: '198.18.5.0/24' }, 'isp', 'drop'), rule('isp#1', 100, { dstPrefix: '198.18.6.0/24' }, 'isp', 'legacy'), rule('isp#2', 100, { dstPrefix: '10.0.0.0/8' }, 'isp', 'legacy')];
    const flows = routerFlows(tenant, isp, o).filter((f) => f.ruleId?.startsWith('isp'));
    expect(flows.map((f) => [f.ruleId, f.priority, f.actions])).toEqual([
      ['isp#0', 100, 'drop'],
      ['isp#1', 100, 'goto_table:1'],
    ]);
  });
});

describe('ovs-ofctl dump-flows lines', () => {
  test('cookie, table, priority, counters and the flow text', () => {
    expect(parseFlowLine(' cookie=0x5043000100000002, duration=0.033s, table=0, n_packets=7, n_bytes=686, priority=10,ip,nw_dst=198.18.50.2 actions=set_field:0x64->tun_id,output:3')).toEqual({
      cookie: 0x5043000100000002n,
      table: 0,
      priority: 10,
      text: 'ip,nw_dst=198.18.50.2 actions=set_field:0x64->tun_id,output:3',
      packets: 7,
      bytes: 686,
    });
    expect(parseFlowLine(' cookie=0x1, duration=2.4s, table=0, n_packets=6, n_bytes=476, priority=0 actions=goto_table:1')).toMatchObject({ priority: 0, text: 'actions=goto_table:1' });
    // OpenFlow's default priority is not printed.
    expect(parseFlowLine(' cookie=0x0, duration=0.1s, table=1, n_packets=0, n_bytes=0, ip,nw_dst=198.18.50.1 actions=output:2')).toMatchObject({ table: 1, priority: 32768 });
    expect(parseFlowLine('OFPST_FLOW reply (OF1.3) (xid=0x2):')).toBeUndefined();
  });
});

describe('a router that cannot be programmed', () => {
  test('raises a router alarm once, says why, and its VIs are not steered', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pcloud-router-'));
    const store = new ControllerStore(join(dir, 'c.sqlite'));
    try {
      const raised: Alarm[] = [];
      const events = { viChanged: () => undefined, alarm: (a: Alarm) => raised.push(a), usage: () => undefined, changed: () => undefined };
      const audit = new LocalAudit({ store, events, now: Date.now });
      const alarms = new Alarms({ cloudletId: 'c1', store, audit, events, now: Date.now, log: () => undefined });
      // No OVS database here (and perhaps no Open vSwitch at all): either way a clear reason.
      const driver = new OvsRouter({ kind: 'ovs', bridge: 'br0', vxlanPort: 'vx0', ovsdb: `unix:${join(dir, 'db.sock')}`, vni: 7, checkIntervalMs: 1000, commandTimeoutMs: 3000 });
      const changed: string[][] = [];
      const router = new FrontRouter({ driver, cloudletId: 'c1', vni: 7, checkIntervalMs: 1000, alarms, now: Date.now, log: () => undefined, onSteeringChanged: (ids) => changed.push([...ids]) });
      router.load([rule('vi-a#0', 10, { dstPrefix: '198.18.20.0/24' })], []);
      await router.reconcile();
      await router.reconcile();
      expect(router.ok).toBe(false);
      expect(raised).toHaveLength(1);
      expect(raised[0]).toMatchObject({ kind: 'router', severity: 'critical', subject: `ovs bridge br0 at unix:${dir}/br0.mgmt` });
      expect(raised[0]?.message).toMatch(/^router flows missing: (ovs-vsctl --db=unix:\S+ get Bridge br0 datapath_id .* failed: .*database connection failed|ovs-vsctl is not installed)/);
      expect(router.steers('vi-a')).toMatchObject({ installed: false, detail: expect.stringContaining('flows of vi-a#0 not installed: router flows missing') });
      expect(router.steers('vi-b')).toBeUndefined();
      // Announced once (it never was steered), not at every pass.
      expect(changed).toEqual([['vi-a']]);
      await expect(router.table()).rejects.toThrow(/cannot read the flows of ovs bridge br0/);
      await router.stop();
    } finally {
      store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a config whose OpenFlow target cannot be derived is refused', () => {
    const base = { cloudletId: 'c1', scheduler: { url: 'ws://127.0.0.1:1', token: 'controller-token-0123456789' }, nodes: [{ id: 'n1', capacity: { cpu: 1, memMiB: 1, diskGiB: 1, netMbps: 1 } }], stateDir: '/tmp/x' };
    expect(() => parseControllerConfig({ ...base, router: { kind: 'ovs', bridge: 'br0', vxlanPort: 'vx0', ovsdb: 'tcp:127.0.0.1:6640', vni: 7 } })).toThrow(/router\.openflow.*derived only from a unix: database socket/);
    expect(parseControllerConfig({ ...base, router: { kind: 'ovs', bridge: 'br0', vxlanPort: 'vx0', ovsdb: 'unix:/run/ovs/db.sock', vni: 7 } }).router).toMatchObject({ checkIntervalMs: 2000, commandTimeoutMs: 5000 });
  });
});
