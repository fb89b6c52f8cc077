// The load-balancer service (haproxy) on real traffic, as root: a client,
// three backends and the VI (its visible address 198.18.62.2 on eth0), each
// behind a router namespace. The launcher runs as an unprivileged uid with no
// capabilities at all. Connections spread over the three backends; a stopped
// backend gets no connection once the health check noticed (haproxy retries
// nothing elsewhere, so one sent to it would fail at the client).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { isRoot } from '../../main/console/dataplaneLab.ts';
import { SERVICE_COUNTERS_FILE } from '../../main/services/sdk/serviceCounters.ts';
import { outputOf, readIfExists, TapServiceLab, waitFor } from '../support/tapServiceLab.ts';
import { backendScript, connectScript, tallyAnswers } from '../support/webServers.ts';

const VISIBLE = '198.18.62.2';
const PORT = 8000;
const BACKENDS = ['198.18.63.2', '198.18.63.3', '198.18.63.4'];

describe.skipIf(!isRoot())('load-balancer: haproxy in a tap VI (root)', () => {
  const lab = new TapServiceLab();
  let client = '';
  let dir = '';
  const servers = new Map<string, { child: ChildProcess; connections: number }>();
  const counters = (): Record<string, number> => (JSON.parse(readIfExists(join(dir, SERVICE_COUNTERS_FILE)) || '{}') as { counters?: Record<string, number> }).counters ?? {};

  /** `n` connections from the client namespace, each answer tallied. */
  const connections = (n: number): Map<string, number> => tallyAnswers(lab.exec(client, process.execPath, '-e', connectScript(VISIBLE, PORT, n)));

  beforeAll(async () => {
    client = lab.addNamespace('c');
    const vi = lab.addNamespace('vi');
    const backend = lab.addNamespace('be');
    lab.router([{ ns: client, subnet: '198.18.61' }, { ns: vi, subnet: '198.18.62' }, { ns: backend, subnet: '198.18.63', extra: BACKENDS.slice(1) }]);
    for (const addr of BACKENDS) {
      const child = lab.spawnIn(backend, [process.execPath, '-e', backendScript(addr)]);
      const entry = { child, connections: 0 };
      let out = '';
      child.stdout?.on('data', (d: Buffer) => {
        out += d.toString();
        entry.connections = out.split('\n').filter((l) => l === 'conn').length;
      });
      servers.set(addr, entry);
      await waitFor(`backend ${addr} to listen`, 10_000, () => out.includes('listening'));
    }
    dir = lab.viDir();
    const lb = lab.runService(vi, 'load-balancer', { address: VISIBLE, backends: BACKENDS.map((a) => `${a}:8080`).join(','), port: String(PORT), 'check-ms': '300' }, [], dir);
    await waitFor('haproxy to see three backends up', 30_000, () => counters().serversUp === 3, () => outputOf(lb) + JSON.stringify(counters()));
  }, 60_000);

  afterAll(() => lab.close());

  it('spreads connections to its visible address over the three backends', async () => {
    const tally = connections(30);
    expect([...tally.keys()].sort()).toEqual(BACKENDS);
    // Round robin: ten each.
    for (const addr of BACKENDS) expect(tally.get(addr)).toBe(10);
    // And each backend itself saw its ten (haproxy resets its TCP health checks before the server accepts them, so they do not count).
    await waitFor('each backend to report ten connections', 5_000, () => BACKENDS.every((a) => servers.get(a)?.connections === 10), () => BACKENDS.map((a) => `${a}: ${servers.get(a)?.connections}`).join(', '));
    await waitFor('the counters to show 30 connections', 5_000, () => counters().connections === 30, () => JSON.stringify(counters()));
    expect(counters()).toMatchObject({ 'b1.connections': 10, 'b2.connections': 10, 'b3.connections': 10 });
  });

  it('gives a stopped backend nothing once the health check noticed', async () => {
    const stopped = BACKENDS[2] ?? '';
    const entry = servers.get(stopped);
    if (!entry) throw new Error('no third backend');
    await lab.stop(entry.child);
    await waitFor('haproxy to mark the stopped backend down', 10_000, () => counters().serversDown === 1, () => JSON.stringify(counters()));
    const givenBefore = counters()['b3.connections'];

    const tally = connections(20);
    // Every connection answered, by the two that run: none went to the stopped one (it would have failed).
    expect(Object.fromEntries(tally)).toEqual({ [BACKENDS[0] ?? '']: 10, [BACKENDS[1] ?? '']: 10 });
    await waitFor('the counters to show 50 connections', 5_000, () => counters().connections === 50, () => JSON.stringify(counters()));
    expect(counters()['b3.connections']).toBe(givenBefore);
  });
});
