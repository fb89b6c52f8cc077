/**
 * The Fig. 8 WAN's network built and removed as root (needs root, Open
 * vSwitch, iproute2): its hosts (user A at Hong Kong, user B at Barcelona,
 * attackers X at New York and Y in Florida) each get a namespace on their
 * PoP's router, and reach one another across the five routers along the
 * lowest-RTT paths; removing it leaves nothing behind. Only the network (no
 * controllers or scheduler: lab.network.test.ts covers `pcctl lab up`).
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { afterAll, describe, expect, test } from 'vitest';
import { allNamespaces, buildLabNetwork, planLabNetwork, removeLabNetwork } from '../../main/console/labNetwork.ts';
import { loadLabTopology } from '../../main/console/labTopology.ts';
import { namespacesTagged, ovsDaemonsUnder } from './harness.ts';

const isRoot = process.getuid?.() === 0;
// Short: the OVS sockets live under it (108-byte socket paths).
const dir = isRoot ? mkdtempSync('/tmp/pcf17-') : '';
// Names unique to this test (other tests build labs at the same time).
const tag = `f17${randomBytes(2).toString('hex')}`;

const ping = (from: string, to: string): string =>
  execFileSync('ip', ['netns', 'exec', `${tag}-${from}`, 'ping', '-c', '3', '-i', '0.2', '-W', '3', to], { encoding: 'utf8', timeout: 20_000 });

afterAll(async () => {
  if (!isRoot) return;
  await removeLabNetwork(dir);
  for (const ns of namespacesTagged(tag)) execFileSync('ip', ['netns', 'del', ns]);
  rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!isRoot)('the global WAN (Fig. 8) with its hosts, in network namespaces (root)', () => {
  test('A reaches B across the WAN by name, the attackers reach A, and removal leaves nothing behind', async () => {
    const plan = planLabNetwork(loadLabTopology('globalwan'), dir, tag);
    await buildLabNetwork(plan, dir);
    expect(namespacesTagged(tag).sort()).toEqual(['A', 'B', 'X', 'Y', 'HKG', 'LAX', 'NYC', 'MIA', 'BCN', 'HKG-C', 'LAX-C', 'NYC-C', 'MIA-C', 'BCN-C', 'wire'].map((p) => `${tag}-${p}`).sort());

    const aToB = ping('A', 'B');
    expect(aToB).toContain('PING B (198.18.2.2)');
    expect(aToB).toContain('3 received');
    // Hong Kong, Los Angeles, New York, Barcelona: four routers on the lowest-RTT path.
    expect(aToB).toContain('ttl=60');
    // New York -> Los Angeles -> Hong Kong, and Miami -> Los Angeles -> Hong Kong: three routers each.
    for (const attacker of ['X', 'Y']) {
      const toA = ping(attacker, 'A');
      expect(toA).toContain('3 received');
      expect(toA).toContain('ttl=61');
    }

    const removed = await removeLabNetwork(dir);
    expect(removed).toContain(`namespaces ${allNamespaces(plan).join(', ')}`);
    expect(namespacesTagged(tag)).toEqual([]);
    expect(ovsDaemonsUnder(dir)).toEqual([]);
    expect(existsSync(`/etc/netns/${tag}-A`)).toBe(false);
  }, 90_000);
});
