// The ids service (Suricata inline in a bump VI) on real traffic, as root:
// the launcher runs in a namespace shaped like a bump VI (in0/out0) as an
// unprivileged uid with CAP_NET_RAW alone. The nmap capture replayed through
// it raises the ET alerts Suricata raises offline on the same file with the
// same configuration; a ping flood is dropped inline while a TCP transfer
// beside it goes on.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isRoot } from '../../main/console/dataplaneLab.ts';
import { SERVICE_COUNTERS_FILE } from '../../main/services/sdk/serviceCounters.ts';
import { SERVICE_EVENTS_FILE } from '../../main/services/sdk/serviceEvents.ts';
import { alertKey, etRules, NMAP_TARGET, nmapCapture, offlineNmapAlerts } from '../support/nmapCapture.ts';
import { outputOf, readIfExists, TapServiceLab, waitFor } from '../support/tapServiceLab.ts';

/** The protected side: the lab's segment and the web server that the capture's nmap probes. */
const homeNet = `[198.18.60.0/24,${NMAP_TARGET}]`;

interface Event {
  kind: string;
  message: string;
  detail: Record<string, string | number | null>;
}

describe.skipIf(!isRoot())('ids: Suricata inline in a bump VI (root)', () => {
  const lab = new TapServiceLab();
  let net: { a: string; vi: string; b: string };
  let dir = '';
  const events = (): Event[] => readIfExists(join(dir, SERVICE_EVENTS_FILE)).split('\n').filter(Boolean).map((l) => JSON.parse(l) as Event);
  const counters = (): Record<string, number> => (JSON.parse(readIfExists(join(dir, SERVICE_COUNTERS_FILE)) || '{}') as { counters?: Record<string, number> }).counters ?? {};

  beforeAll(async () => {
    net = lab.bump();
    dir = lab.viDir();
    const ids = lab.runService(net.vi, 'ids', { rules: etRules, 'home-net': homeNet }, ['net_raw'], dir);
    await waitFor('Suricata to start inline', 45_000, () => readIfExists(join(dir, 'suricata', 'suricata.log')).includes('Engine started'), () => outputOf(ids) + readIfExists(join(dir, 'suricata', 'suricata.log')));
  }, 60_000);

  afterAll(async () => {
    await lab.close();
  });

  it('raises on the replayed nmap capture the ET alerts that suricata -r raises offline', async () => {
    const offline = offlineNmapAlerts(homeNet);
    expect(offline.length, 'the offline run raises alerts at all').toBeGreaterThan(0);
    const expected = [...new Set(offline.map(alertKey))].sort();

    // In through a's side, out of the VI's out0: every packet of the capture crosses the IDS in order.
    lab.exec(net.a, 'tcpreplay', '-q', '-i', 'eth0', '--pps=1000', nmapCapture);
    const inline = await waitFor('the inline alerts to reach the offline count', 20_000, () => {
      const got = events().filter((e) => e.kind === 'ids');
      return got.length >= offline.length ? got : undefined;
    }, () => `offline: ${expected.join('\n')}\ninline: ${events().map((e) => alertKey(e.detail as never)).join('\n')}`);
    expect([...new Set(inline.map((e) => alertKey(e.detail as never)))].sort()).toEqual(expected);
    expect(inline.length).toBe(offline.length);
    // Each alarm keeps what finds its packets again: the flow id and the 5-tuple.
    for (const e of inline) {
      expect(e.detail.flowId).toMatch(/^[0-9]+$/);
      expect(e.detail.proto).toBe('TCP');
    }
    // The probes target the protected server; none come from it.
    expect(counters()).toMatchObject({ alerts: offline.length, asTarget: offline.length, asSource: 0 });
  });

  it('drops a ping flood inline while a TCP transfer beside it continues', async () => {
    const before = counters();
    // An ordinary ping crosses the IDS untouched.
    expect(lab.exec(net.a, 'ping', '-c', '3', '-i', '0.2', '-W', '2', '198.18.60.2')).toMatch(/3 received/);

    const server = lab.spawnIn(net.b, ['iperf3', '-s', '-1', '-B', '198.18.60.2', '-p', '5201']);
    await waitFor('iperf3 to listen', 10_000, () => lab.exec(net.b, 'ss', '-ltn').includes('198.18.60.2:5201'));
    const transfer = new Promise<string>((res, rej) => {
      const c = lab.spawnIn(net.a, ['iperf3', '-c', '198.18.60.2', '-p', '5201', '-t', '4', '-J']);
      let out = '';
      c.stdout?.on('data', (d: Buffer) => (out += d.toString()));
      c.once('exit', (code) => (code === 0 ? res(out) : rej(new Error(`iperf3 client exited with ${code}: ${out}`))));
    });
    // The flood, bounded: 4000 echo requests about 200 us apart, while the transfer runs.
    await new Promise((r) => setTimeout(r, 500));
    const flood = lab.exec(net.a, 'sh', '-c', 'hping3 --icmp -q -c 4000 -i u200 198.18.60.2 2>&1 || true');
    const stats = /(\d+) packets transmitted, (\d+) packets received/.exec(flood);
    expect(stats, flood).not.toBeNull();
    const [sent, received] = [Number(stats?.[1]), Number(stats?.[2])];
    const result = JSON.parse(await transfer) as { end: { sum_received: { bytes: number } } };
    await lab.stop(server);

    expect(sent).toBe(4000);
    // The threshold rule lets 100 echo requests per second through, so most of the flood is dropped.
    expect(received / sent).toBeLessThan(0.25);
    const after = counters();
    // Most of what went missing was blocked by the IDS (on a loaded host a ring may lose some too, which is no block).
    expect((after.blocked ?? 0) - (before.blocked ?? 0)).toBeGreaterThanOrEqual(Math.floor((sent - received) * 0.8));
    expect(events().some((e) => e.message.includes('PCLOUD ICMP echo flood'))).toBe(true);
    // The transfer went on beside it: megabytes crossed in the flood's seconds.
    expect(result.end.sum_received.bytes).toBeGreaterThan(1_000_000);
    // Against the protected network as target, not from it.
    expect(after.asTarget).toBeGreaterThan(before.asTarget ?? 0);
  });
});
