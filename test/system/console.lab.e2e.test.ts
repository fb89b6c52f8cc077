/**
 * The traffic inspector on the embedded lab with live traffic (root with Open
 * vSwitch: the lab's namespaces mode, hosts and routers as the paper's
 * DeterLab testbed): the lab comes up as a lab session (contracts.md 1), the
 * headless host (the `npm run serve` path) connects Chromium to its scheduler,
 * a forward VI at cloudlet C1 takes the traffic to host B (reserved through
 * the scheduler as the lab's provider, serving once its router flows are in),
 * and `pcctl lab traffic flood` pings B from A.
 *
 * Checked through the page: the VI's packets appear; a display filter narrows
 * them; a packet's tree and highlighted bytes are shown; the exported view is
 * read by tshark with the same count. The routers count the links: the
 * topology's links carry loads, and with the traffic overlay on, A's access
 * link (10 Mb/s in this lab's variant of DeterLab, so that the lab fills it)
 * saturated from A is listed and drawn in the high-load colour while R2-B,
 * with only the pings, is in the low-load colour. The lab's provider uploads
 * a bundle of its own through the scheduler (test/support/spoofingBundle: it
 * spoofs) and runs it at cloudlet C2 on B's replies to A: its spoofing alarm
 * appears in the alarm list, the operator follows it to the VI's packets and
 * to the VI, and terminates it with a reason after the undo window: its rules
 * and router flows are gone, A's pings still reach B and come back (legacy
 * forwarding), and the audit view shows the entry with the evidence's SHA-256.
 * Screenshots go to test-results/.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { isRoot } from '../../main/console/dataplaneLab.ts';
import { hostSubnet } from '../../main/console/labNetwork.ts';
import { startLabSession, type LabSession } from '../../main/console/labSession.ts';
import { loadLabTopology } from '../../main/console/labTopology.ts';
import { icmpEcho, ipv4Frame, writePcapFrames } from '../../main/console/labTrafficSource.ts';
import { RpcClient } from '../../main/protocol/client.ts';
import { controllerApi } from '../../main/protocol/controllerApi.ts';
import { schedulerApi } from '../../main/protocol/schedulerApi.ts';
import { spoofingBundle } from '../support/spoofingBundle.ts';
import { consoleSteps, type ConsoleSteps } from './consoleSteps.ts';
import { launchChromium, pcctlWith, resultsDir, startHeadlessHost, type RunningHost } from './harness.ts';

/**
 * DeterLab as the lab's topology, with A's access link at 10 Mb/s (in the topology the scheduler
 * knows and in the lab's shaping): a load this machine's lab can put on a link fills it.
 */
function deterlabWithSlowAccess(dataDir: string): string {
  const deterlab = loadLabTopology('deterlab');
  const dir = join(dataDir, 'labs');
  mkdirSync(dir, { recursive: true });
  const links = deterlab.links.map((l) => (l.a === 'A' && l.b === 'R1' ? { ...l, capacityMbps: 10 } : l));
  writeFileSync(join(dir, 'deterlab.json'), JSON.stringify({ ...deterlab, title: `${deterlab.title}, A's access link at 10 Mb/s`, links }));
  return dir;
}

describe.skipIf(!isRoot())('the console on the embedded lab with traffic (namespaces mode: root, Open vSwitch)', () => {
  // Short: Open vSwitch's sockets live under it (108-byte Unix socket paths).
  const dataDir = mkdtempSync(join(tmpdir(), 'pc15-'));
  const pcctl = pcctlWith(dataDir);
  let lab: LabSession | undefined;
  let host: RunningHost | undefined;
  let browser: Browser | undefined;
  let page: Page;
  let steps: ConsoleSteps;
  let scheduler: RpcClient<typeof schedulerApi>;
  let viId: string;
  let hostB: string;

  beforeAll(async () => {
    // The daemons' start allowed more than the default: other work on a 2-core machine can slow them.
    lab = await startLabSession({ topology: 'deterlab', dataDir, readyTimeoutMs: 60_000, labsDir: deterlabWithSlowAccess(dataDir) });
    hostB = lab.addressOf('B');
    const b = lab.plan.hosts.find((h) => h.id === 'B');
    if (!b) throw new Error('the DeterLab lab has no host B');
    // Everything to B's network passes R1, where cloudlet C1 is: it goes through the VI there.
    ({ viId } = await lab.reserveVi({
      cloudletId: 'C1',
      program: 'forward',
      name: 'console15-lab-e2e',
      // The session's default capacity (256 MiB): the forward service holds some 45 MiB under these pings.
      // Every packet sampled: the traffic view takes a sample stream in its stride.
      rules: [{ priority: 10, match: { ethType: 0x0800, dstPrefix: hostSubnet(b) }, action: 'to_vi', samplingRate: 1 }],
    }));
    scheduler = new RpcClient(schedulerApi, { url: lab.state.schedulerUrl, token: lab.operatorToken, timeoutMs: 15_000 });
    await scheduler.connect();
    // Pings from A to B, 20 a second for at most 300 s (the lab's traffic runner; stopped with the lab).
    const traffic = await pcctl('lab', 'traffic', 'flood', '--duration', '300', '--pps', '20');
    expect(traffic.code, traffic.stderr).toBe(0);
    host = await startHeadlessHost({ PCLOUD_SCHEDULER_TOKEN: lab.operatorToken }, ['--scheduler', lab.state.schedulerUrl]);
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1440, height: 900 }, acceptDownloads: true });
    steps = consoleSteps(page);
    await page.goto(host.url);
    await page.locator('[data-testid="connection-bar"]', { hasText: 'connected' }).waitFor({ timeout: 60_000 });
  }, 240_000);

  afterAll(async () => {
    await browser?.close();
    await host?.stop();
    scheduler?.close();
    // A lab that failed to start is taken down from what it recorded: no namespace or daemon stays behind.
    await (lab ? lab.stop() : pcctl('lab', 'down'));
    rmSync(dataDir, { recursive: true, force: true });
  }, 60_000);

  test("the routers count the lab's links: every link carries a load, the pings' first hop a rising one", async () => {
    await expect
      .poll(async () => (await scheduler.call('topology.get', {})).links.find((l) => l.a === 'A' && l.b === 'R1')?.load?.abBps ?? 0, { timeout: 20_000, interval: 500 })
      .toBeGreaterThan(0);
    const links = (await scheduler.call('topology.get', {})).links;
    // Every link of DeterLab ends at a router, so every one is counted.
    expect(links.every((l) => l.load !== null && l.load !== undefined)).toBe(true);
  });

  test("in the browser, a saturated link is drawn in the high-load colour and one with only pings in the low-load colour (the outline's link list, from the canvas's classes)", async () => {
    await steps.showView('topology');
    await page.locator('[data-testid="overlay-traffic"]').click();
    await expect.poll(() => page.locator('[data-testid="overlay-traffic"]').getAttribute('aria-pressed')).toBe('true');
    // Echo requests from A, above A's 10 Mb/s, to an address no router routes: only A-R1 carries them (R1 drops them).
    const pcap = join(dataDir, 'saturate-a.pcap');
    const a = lab?.plan.hosts.find((h) => h.id === 'A');
    if (!a) throw new Error('the DeterLab lab has no host A');
    writePcapFrames(pcap, Array.from({ length: 16 }, (_, n) => ipv4Frame({ address: a.address, mac: a.mac }, { address: '198.18.250.9', mac: a.gatewayMac }, 1, icmpEcho(0x1515, n, 1400), 2)));
    // At most 10 s at 30 Mb/s (tcpreplay stops at the timeout).
    const saturating = lab?.exec('A', ['timeout', '10', 'tcpreplay', '--intf1=eth0', '--mbps=30', '--loop=0', pcap], { timeoutMs: 20_000, allowFailure: true });
    try {
      const classes = (from: string, to: string) => page.locator(`[data-testid="topology-link-${from}-${to}"]`).getAttribute('data-classes');
      await expect.poll(() => classes('A', 'R1'), { timeout: 20_000, interval: 500 }).toBe('link traffic-high');
      expect(await classes('R2', 'B')).toBe('link traffic-low');
      expect(await page.locator('[data-testid="topology-link-A-R1"] [data-testid="overlay-text"]').innerText()).toMatch(/\((8\d|9\d|1\d\d)%\)$/);
      // The colours the page draws them in: the theme's "bad" and "ok", as the canvas's edge styles use them.
      const drawn = await page.evaluate(() => {
        const colourOf = (cssVar: string): string => {
          const probe = document.createElement('span');
          probe.style.color = `var(${cssVar})`;
          document.body.append(probe);
          const colour = getComputedStyle(probe).color;
          probe.remove();
          return colour;
        };
        const swatch = (id: string): string => getComputedStyle(document.querySelector(`[data-testid="${id}"] [data-testid="link-swatch"]`) as Element).borderTopColor;
        return { loaded: swatch('topology-link-A-R1'), idle: swatch('topology-link-R2-B'), bad: colourOf('--bad'), ok: colourOf('--ok') };
      });
      expect(drawn.loaded).toBe(drawn.bad);
      expect(drawn.idle).toBe(drawn.ok);
      expect(drawn.bad).not.toBe(drawn.ok);
      await page.screenshot({ path: join(resultsDir, 'view-lab-topology-link-loads.png') });
    } finally {
      await saturating;
    }
  });

  test("the VI's packets appear; a filter narrows them; tree and bytes; the exported view reads in tshark with the same count", async () => {
    await steps.showView('traffic');
    await steps.captureVi('C1', viId);
    // Both directions of the forwarding VI, every packet: pings to it, and back out of it.
    await expect.poll(steps.shown, { timeout: 30_000 }).toBeGreaterThan(10);
    await steps.filter(`dir == "to_vi" && icmp && ip.dst == ${hostB}`);
    await page.locator('[data-testid="capture-pause"]').click();
    const all = await steps.shown();
    expect(all).toBeGreaterThan(0);
    await page.locator('[data-testid="display-filter"]').fill('');
    await expect.poll(steps.shown).toBeGreaterThan(all);
    await steps.filter(`dir == "to_vi" && icmp && ip.dst == ${hostB}`);
    expect(await steps.shown()).toBe(all);

    await page.locator('[data-testid="packet-row"]').first().click();
    const tree = page.locator('[data-testid="packet-tree"]');
    await expect.poll(() => tree.innerText()).toContain(`Internet Protocol Version 4, Src: ${lab?.addressOf('A')}, Dst: ${hostB}`);
    expect(await tree.innerText()).toContain('Internet Control Message Protocol');
    await tree.locator('[data-field="ip.dst"]').click();
    expect(await page.locator('[data-testid="hex-pane"] .hex [data-lit]').allInnerTexts()).toEqual(hostB.split('.').map((x) => Number(x).toString(16).padStart(2, '0')));
    await page.screenshot({ path: join(resultsDir, 'view-lab-traffic.png') });

    // Paused, the view holds still: tshark reads as many packets as it shows, every one an echo request to B.
    const lines = await steps.exportView(join(dataDir, 'lab-view.pcapng'), ['icmp.type', 'ip.dst']);
    expect(lines).toHaveLength(all);
    expect(lines.every((l) => l === `8\t${hostB}`)).toBe(true);
    await page.locator('[data-testid="capture-resume"]').click();
  });

  test("a provider's uploaded bundle that spoofs raises an alarm; followed to the VI and its packets, terminated after the undo window: rules and router flows gone, pings still reach B (legacy), the audit shows the evidence hash", async () => {
    // The lab's provider uploads its own program through the scheduler and runs it at C2 on the replies to A.
    const spoofer = await lab?.reserveVi({
      cloudletId: 'C2',
      program: 'upload',
      bundle: spoofingBundle(),
      port: { kind: 'tap', layout: 'single' },
      name: 'console15-lab-spoofer',
      rules: [{ priority: 10, match: { ethType: 0x0800, dstPrefix: lab.subnetOf('A') }, action: 'to_vi', samplingRate: 1 }],
    });
    if (!spoofer) throw new Error('the lab is not up');
    const spooferId = spoofer.viId;
    const c2 = new RpcClient(controllerApi, { url: lab?.controllerUrl('C2') ?? '', token: lab?.operatorToken ?? '', timeoutMs: 15_000 });
    await c2.connect();
    try {
      const vi = await c2.call('vi.get', { viId: spooferId });
      expect(vi).toMatchObject({ program: 'upload', state: 'running' });
      // Least privilege intact: its own unprivileged user, in namespaces of its own.
      expect(vi.isolation.user?.uid).toBeGreaterThan(0);
      expect(vi.isolation.namespaces).toEqual(expect.arrayContaining(['net', 'pid']));
      const ruleIds = new Set((await c2.call('rule.list', { viId: spooferId })).rules.map((r) => r.id));
      expect(ruleIds.size).toBe(1);

      await steps.showView('alarms');
      const row = page.locator('[data-testid="alarm-row"][data-kind="spoofing"]', { hasText: spooferId });
      await row.waitFor({ timeout: 30_000 });
      await page.screenshot({ path: join(resultsDir, 'view-lab-alarms.png') });

      // From the alarm to its packets: the spoofed copies, pre-filtered.
      await row.locator('[data-testid="alarm-packets"]').click();
      await page.locator('[data-view="traffic"]').waitFor({ state: 'visible' });
      expect(await page.locator('[data-testid="display-filter"]').inputValue()).toBe('verdict == "spoofing"');
      await expect.poll(steps.shown, { timeout: 15_000 }).toBeGreaterThanOrEqual(1);
      expect(await page.locator('[data-testid="packet-row"]').first().innerText()).toContain('198.19.66.66');
      await page.screenshot({ path: join(resultsDir, 'view-lab-traffic-spoofing-evidence.png') });

      // From the alarm to the VI (its detail in the topology), and from there: terminate.
      await steps.showView('alarms');
      await row.locator('[data-testid="alarm-vi"]').click();
      await page.locator('[data-view="topology"]').waitFor({ state: 'visible' });
      await page.locator('[data-testid="topology-detail"]', { hasText: spooferId }).waitFor({ timeout: 20_000 });
      await page.locator('[data-testid="vi-terminate"]').click();
      await expect.poll(() => page.locator('[data-testid="confirm-path"]').innerText(), { timeout: 10_000 }).toContain(`cloudlet C2`);
      await steps.confirmTerminate(spooferId, 'lab e2e: its uploaded program spoofs 198.19.66.66', {
        screenshot: join(resultsDir, 'dialog-lab-terminate-vi.png'),
        // Nothing is sent during the undo window.
        beforeSent: async () => expect((await c2.call('vi.get', { viId: spooferId })).state).toBe('running'),
      });
      expect((await c2.call('vi.get', { viId: spooferId })).state).toBe('terminated');
      expect((await c2.call('rule.list', { viId: spooferId })).rules).toEqual([]);
      await expect.poll(async () => (await c2.call('router.flows', {})).flows.filter((f) => f.ruleId !== null && ruleIds.has(f.ruleId)).length, { timeout: 15_000 }).toBe(0);
      // A still reaches B, and B's replies reach A: straight through R2 now.
      const ping = await lab?.exec('A', ['ping', '-c', '3', '-i', '0.2', '-W', '2', hostB], { timeoutMs: 15_000 });
      expect(ping?.stdout).toMatch(/3 received/);
      const entry = (await c2.call('audit.list', { afterSeq: 0, limit: 100 })).entries.find((e) => e.action === 'vi.terminate' && e.target.endsWith(spooferId));
      expect(entry?.reason).toMatch(/sha256 [0-9a-f]{64}/);
      await steps.showView('audit');
      await expect.poll(() => page.locator('[data-testid="audit-row"]', { hasText: spooferId }).allInnerTexts(), { timeout: 30_000, interval: 1000 }).toEqual(
        expect.arrayContaining([expect.stringMatching(/vi\.terminate[\s\S]*sha256 [0-9a-f]{64}/)]),
      );
      await page.screenshot({ path: join(resultsDir, 'view-lab-audit-terminate.png') });
    } finally {
      c2.close();
    }
  });
});
