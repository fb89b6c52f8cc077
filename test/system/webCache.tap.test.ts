// The web-cache service (squid, transparent intercepting) on real traffic,
// as root: a client, an origin web server and the VI, each behind a router
// namespace that sends the client's TCP port 80 to the VI (as the front-end
// router's demux rule would). The launcher runs as an unprivileged uid with
// CAP_NET_ADMIN alone (for its REDIRECT rule). The second fetch of a file is
// a hit and never reaches the origin.
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { isRoot } from '../../main/console/dataplaneLab.ts';
import { SERVICE_COUNTERS_FILE } from '../../main/services/sdk/serviceCounters.ts';
import { outputOf, readIfExists, TapServiceLab, waitFor } from '../support/tapServiceLab.ts';
import { fetchCommand, originScript, parseFetch } from '../support/webServers.ts';

const ORIGIN = '198.18.72.2';

describe.skipIf(!isRoot())('web-cache: squid intercepting in a tap VI (root)', () => {
  const lab = new TapServiceLab();
  let client = '';
  let dir = '';
  let originLog = '';
  let bodySha = '';
  const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

  beforeAll(async () => {
    client = lab.addNamespace('c');
    const origin = lab.addNamespace('o');
    const vi = lab.addNamespace('vi');
    const r = lab.router([{ ns: client, subnet: '198.18.71' }, { ns: origin, subnet: '198.18.72' }, { ns: vi, subnet: '198.18.73' }]);
    // The demux rule's part: the client's web traffic goes to the VI, the rest by destination.
    lab.exec(r, 'ip', 'rule', 'add', 'iif', 'r0', 'ipproto', 'tcp', 'dport', '80', 'lookup', '100');
    lab.exec(r, 'ip', 'route', 'add', 'default', 'via', '198.18.73.2', 'table', '100');

    const server = lab.spawnIn(origin, [process.execPath, '-e', originScript(ORIGIN)]);
    server.stdout?.on('data', (d: Buffer) => (originLog += d.toString()));
    bodySha = await waitFor('the origin to listen', 10_000, () => /listening ([0-9a-f]{64})/.exec(originLog)?.[1]);

    dir = lab.viDir();
    const cache = lab.runService(vi, 'web-cache', { 'cache-mib': '16' }, ['net_admin'], dir);
    await waitFor('squid to accept intercepted connections', 30_000, () => readIfExists(join(dir, 'cache.log')).includes('NAT intercepted HTTP Socket connections'), () => outputOf(cache) + readIfExists(join(dir, 'cache.log')));
  }, 60_000);

  afterAll(() => lab.close());

  const fetch = (): { status: string; body: Buffer } => parseFetch(lab.exec(client, 'sh', '-c', fetchCommand(ORIGIN)));

  it('serves the second fetch from its cache without asking the origin', async () => {
    const first = fetch();
    expect(sha(first.body)).toBe(bodySha);
    expect(first.status).toMatch(/X-Cache: MISS/);
    const originRequests = (): number => originLog.match(/request GET \/file/g)?.length ?? 0;
    await waitFor('the origin to log the first fetch', 5_000, () => originRequests() === 1, () => originLog);

    const second = fetch();
    expect(sha(second.body)).toBe(bodySha);
    expect(second.status).toMatch(/X-Cache: HIT/);
    // The origin saw one request for two fetches (its output had time to arrive, the first fetch's did).
    await new Promise((r) => setTimeout(r, 500));
    expect(originRequests()).toBe(1);

    const counters = await waitFor('the counters to show both fetches', 5_000, () => {
      const c = (JSON.parse(readIfExists(join(dir, SERVICE_COUNTERS_FILE)) || '{}') as { counters?: Record<string, number> }).counters ?? {};
      return c.requests === 2 ? c : undefined;
    });
    expect(counters).toMatchObject({ requests: 2, hits: 1, misses: 1 });
    expect(counters.hitBytes).toBeGreaterThanOrEqual(200_000);
  });
});
