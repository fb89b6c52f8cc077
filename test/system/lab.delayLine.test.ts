/**
 * pcloud-delayline, the lab's userspace delay line, on its own (needs root:
 * namespaces, veth, AF_PACKET): host a and host b, each joined by a veth to
 * the wire namespace where the delay line joins the two wire ends. Checks
 * that every frame is held for half the RTT each way (ping's minimum RTT is
 * at least the configured RTT: a lower bound, deterministic; the upper bound
 * only catches gross errors), that the configured loss is dropped and counted
 * at its rate over a bounded number of frames, that a burst past the queue
 * bound is tail-dropped and counted, that jumbo and malformed frames pass
 * without harm, and that the program exits by itself once its devices go.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { delayLinePids, readDelayLineStats, startDelayLine, stopDelayLine, type DelayLineLink, type DelayLineSpec } from '../../main/console/labDelayLine.ts';
import { findTool } from '../../main/console/labNetwork.ts';
import { LinkPairLab, run } from '../support/linkPairLab.ts';

const isRoot = process.getuid?.() === 0;
const lab = new LinkPairLab('wire', 'pdl');
const dir = isRoot ? mkdtempSync('/tmp/pdl14-') : '';
const spec: DelayLineSpec = { ns: lab.ns.wire, stats: join(dir, 'delayline.json'), log: join(dir, 'delayline.log'), seed: 14 };
const ping = (from: 'a' | 'b', ...args: string[]) => lab.ping(from, ...args);

function link(overrides: Partial<DelayLineLink>): DelayLineLink {
  return { wireA: 'wa', wireB: 'wb', oneWayUs: 1000, lossPpm: 0, queueBytes: 1 << 20, ...overrides };
}

describe.skipIf(!isRoot)('pcloud-delayline between two namespaces (root)', () => {
  beforeAll(() => {
    lab.create();
  });

  afterEach(async () => {
    await stopDelayLine(spec);
  });

  afterAll(async () => {
    await stopDelayLine(spec);
    lab.remove();
    rmSync(dir, { recursive: true, force: true });
  });

  test('holds every frame for half the RTT each way: ping min RTT is at least the configured 20 ms', async () => {
    await startDelayLine(spec, [link({ oneWayUs: 10_000 })], { ip: findTool('ip') });
    const r = ping('a', '-c', '20', '-i', '0.05', '-W', '2');
    expect(r.received).toBe(20);
    expect(r.minMs).toBeGreaterThanOrEqual(20);
    // Only a gross error (a second added, units mixed up) would pass this bound.
    expect(r.minMs).toBeLessThan(20 + 200);
    await expect.poll(() => readDelayLineStats(spec)?.links[0]?.bToA.forwarded ?? 0, { timeout: 3000 }).toBe(20);
    expect(readDelayLineStats(spec)?.links[0]).toMatchObject({ a: 'wa', b: 'wb', oneWayUs: 10_000 });
    expect(readDelayLineStats(spec)?.links[0]?.bToA).toMatchObject({ frames: 20, forwarded: 20, lossDrops: 0, queueDrops: 0, sendErrors: 0 });
  });

  test('drops the configured loss at its rate, seeded and counted, each way', async () => {
    await startDelayLine(spec, [link({ lossPpm: 200_000 })], { ip: findTool('ip') });
    const sent = 400;
    const r = ping('a', '-c', String(sent), '-i', '0.002', '-W', '1');
    expect(r.transmitted).toBe(sent);
    // 20% each way: a reply needs both to pass (0.8 * 0.8 = 64%). Binomial sd over 400 is 2-2.4%: bounds of about 5 sd.
    expect(r.received / sent).toBeGreaterThan(0.52);
    expect(r.received / sent).toBeLessThan(0.76);
    // Until the stats file (rewritten every 500 ms) has every request and reply.
    const settled = (): boolean => {
      const l = readDelayLineStats(spec)?.links[0];
      return l?.aToB.frames === sent && l.bToA.frames === l.aToB.forwarded && l.bToA.forwarded === r.received && l.aToB.queuedFrames + l.bToA.queuedFrames === 0;
    };
    await expect.poll(settled, { timeout: 3000 }).toBe(true);
    const aToB = readDelayLineStats(spec)?.links[0]?.aToB;
    expect(aToB?.lossDrops ?? 0).toBeGreaterThan(sent * 0.1);
    expect(aToB?.lossDrops ?? 0).toBeLessThan(sent * 0.3);
    // What came back is exactly what survived both ways (settled says so), nothing else was dropped.
    expect(aToB).toMatchObject({ forwarded: sent - (aToB?.lossDrops ?? 0), queueDrops: 0, sendErrors: 0 });
  });

  test('a burst past the queue bound is tail-dropped and counted; jumbo and malformed frames pass without harm', async () => {
    lab.setMtu(9000);
    try {
      await startDelayLine(spec, [link({ oneWayUs: 50_000, queueBytes: 10_000 })], { ip: findTool('ip') });
      // 20 echo requests of 1042 bytes at once (preload) into a 10,000-byte queue: at most 9 fit.
      const burst = ping('a', '-c', '20', '-l', '20', '-s', '1000', '-W', '2');
      expect(burst.transmitted).toBe(20);
      await expect.poll(() => readDelayLineStats(spec)?.links[0]?.aToB.queueDrops ?? 0, { timeout: 3000 }).toBeGreaterThanOrEqual(11);
      const aToB = readDelayLineStats(spec)?.links[0]?.aToB;
      expect(aToB?.forwarded).toBe(20 - (aToB?.queueDrops ?? 0));
      expect(aToB?.maxQueuedBytes).toBeLessThanOrEqual(10_000);
      expect(burst.received).toBe(aToB?.forwarded);

      // A 9014-byte frame each way (it fits the queue once the burst is gone).
      const jumbo = ping('a', '-c', '2', '-s', '8972', '-M', 'do', '-W', '2');
      expect(jumbo.received).toBe(2);
      // A frame that is nothing but 20 bytes of garbage after a broadcast header: forwarded as it is.
      // The stats file is rewritten every 500 ms: wait until it has the 22 requests so far.
      await expect.poll(() => readDelayLineStats(spec)?.links[0]?.aToB.frames ?? 0, { timeout: 3000 }).toBe(22);
      execFileSync('ip', ['netns', 'exec', lab.ns.a, 'socat', '-u', 'STDIN', 'INTERFACE:eth0'], { input: Buffer.from('ffffffffffff020000000001dead' + '00'.repeat(20), 'hex'), timeout: 10_000 });
      await expect.poll(() => readDelayLineStats(spec)?.links[0]?.aToB.frames ?? 0, { timeout: 3000 }).toBe(23);
      expect(readDelayLineStats(spec)?.links[0]?.aToB.truncated).toBe(0);
      expect(delayLinePids(spec)).toHaveLength(1);
      expect(ping('a', '-c', '1', '-W', '2').received).toBe(1);
    } finally {
      lab.setMtu(1500);
    }
  });

  test('refuses a device that is not there, saying which; exits by itself when its devices go', async () => {
    await expect(startDelayLine(spec, [link({ wireB: 'nosuch' })], { ip: findTool('ip') })).rejects.toThrow(/device nosuch: .*is it in this namespace/);
    const pid = await startDelayLine(spec, [link({})], { ip: findTool('ip') });
    expect(delayLinePids(spec)).toEqual([pid]);
    // Removing host b's namespace destroys its veth, wire end included: the lab is being removed.
    run('ip', 'netns', 'del', lab.ns.b);
    await expect.poll(() => delayLinePids(spec), { timeout: 5000 }).toEqual([]);
    expect(readDelayLineStats(spec)?.final).toBe(true);
  });
});
