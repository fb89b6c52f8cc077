/**
 * The traffic inspector, alarms and VI actions end to end, without root: a
 * real scheduler (`pcctl scheduler`), a real controller daemon whose data
 * plane listens on loopback, and this test playing the front-end router (a
 * UDP socket that sends VXLAN to the controller's uplink and receives what
 * comes back). The headless console connects to that scheduler and Chromium
 * shows it.
 *
 * Checked through the page: packets of a VI appear in the traffic view; a
 * display filter narrows them (and a wrong one says why, in place); a
 * packet's tree and its highlighted bytes are shown; the exported view is
 * read by tshark with the same count. A VI that spoofs raises an alarm; the
 * operator follows it to the VI and terminates it with a reason after the
 * undo window; its rules are gone, its traffic comes back as legacy, and the
 * audit entry carries the sealed evidence's SHA-256. Desktop notifications
 * (the browser's): none for a critical alarm while the operator has not
 * allowed them, one for a new critical alarm once allowed; an acknowledgement
 * records the name the operator typed beside the token's principal.
 * Screenshots go to test-results/.
 */
import { type ChildProcess } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { buildFrame, ipv4Header } from '../../native/test/frameBuilder.ts';
import { parseControllerConfig } from '../../main/controller/config.ts';
import { ControllerDaemon } from '../../main/controller/daemon.ts';
import type { OwnershipVerifier } from '../../main/controller/ownership.ts';
import { RpcClient } from '../../main/protocol/client.ts';
import { controllerApi } from '../../main/protocol/controllerApi.ts';
import type { ServiceSpec } from '../../main/protocol/domain.ts';
import { schedulerApi } from '../../main/protocol/schedulerApi.ts';
import { spawnScheduler } from '../support/schedulerProcess.ts';
import { waitFor } from './controllerHarness.ts';
import { consoleSteps, type ConsoleSteps } from './consoleSteps.ts';
import { launchChromium, repoRoot, resultsDir, startHeadlessHost, type RunningHost } from './harness.ts';

const VNI = 5115;
const operatorToken = 'operator-token-console15-0123456789';
const providerToken = 'provider-token-console15-0123456789';
const controllerToken = 'controller-token-console15-0123456789';
const capacity = { cpu: 4, memMiB: 4096, diskGiB: 20, netMbps: 1000 };
const verifier: OwnershipVerifier = { verify: (proof, c) => (proof === `owns:${c.providerId}` ? { ok: true, anchor: 'e2e', notAfter: 0 } : { ok: false, reason: 'not the owner' }) };

/** 198.18.0.0/15 only: the forward VI owns 198.18.30.0/24, the spoofer 198.18.31.0/24. */
const ip = (a: number, b: number, c: number, d: number): number => ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;
const SOURCE = ip(198, 19, 1, 1);

function vxlan(frame: Uint8Array): Buffer {
  const out = Buffer.alloc(8 + frame.length);
  out[0] = 0x08;
  out.writeUIntBE(VNI, 4, 3);
  out.set(frame, 8);
  return out;
}

describe('traffic, alarms and VI actions in the console (controller data plane on loopback)', () => {
  let dir: string;
  let scheduler: ChildProcess | undefined;
  let daemon: ControllerDaemon | undefined;
  let router: Socket;
  let host: RunningHost | undefined;
  let browser: Browser | undefined;
  let page: Page;
  let showView: ConsoleSteps['showView'];
  let shown: ConsoleSteps['shown'];
  let captureVi: ConsoleSteps['captureVi'];
  let filter: ConsoleSteps['filter'];
  let exportView: ConsoleSteps['exportView'];
  let confirmTerminate: ConsoleSteps['confirmTerminate'];
  let provider: RpcClient<typeof schedulerApi>;
  let controller: RpcClient<typeof controllerApi>;
  /** Frames the controller sent back to the router (legacy hairpin and what VIs forwarded). */
  const returned: Buffer[] = [];

  /** Sends `count` UDP frames to `dst`:`dport` through the uplink, in small bursts (bounded in count and time). */
  async function send(dst: number, dport: number, count: number): Promise<void> {
    const port = daemon?.dataPlanePort as number;
    for (let i = 0; i < count; i++) {
      const frame = buildFrame(ipv4Header(SOURCE, dst, 40000 + (i % 4), dport, 17), { payload: 64 });
      await new Promise<void>((resolve, reject) => router.send(vxlan(frame), port, '127.0.0.1', (e) => (e ? reject(e) : resolve())));
      if (i % 10 === 9) await new Promise((r) => setTimeout(r, 20));
    }
  }

  async function reserve(program: string, prefix: string): Promise<string> {
    const t0 = Math.ceil((Date.now() + 2000) / 1000) * 1000;
    const t1 = t0 + 10 * 60_000;
    const service: ServiceSpec = { mode: 'transparent', program, args: {}, rules: [{ priority: 10, match: { ethType: 0x0800, dstPrefix: prefix }, action: 'to_vi', samplingRate: 1, ownershipProof: 'owns:p1' }] };
    const r = await provider.call('reservation.request', { requestorPopId: 'A', t0, t1, profile: [{ from: t0, to: t1, capacity: { cpu: 0.5, memMiB: 256, diskGiB: 1, netMbps: 100 } }], service });
    expect(r.state, r.reason).not.toBe('declined');
    const viId = `vi-${r.id}`;
    await expect.poll(async () => (await controller.call('vi.list', { limit: 50 })).vis.find((v) => v.id === viId)?.state, { timeout: 40_000, interval: 500 }).toBe('running');
    return viId;
  }

  /** Titles of the desktop notifications the page made (counted by the init script of the browser context). */
  const notificationsShown = (): Promise<string[]> => page.evaluate(() => [...((window as unknown as { __notificationsShown: string[] }).__notificationsShown)]);


  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pcloud-console15-e2e-'));
    chmodSync(dir, 0o711);
    router = createSocket('udp4');
    router.on('message', (m) => returned.push(m));
    await new Promise<void>((resolve) => router.bind(0, '127.0.0.1', resolve));
    const schedulerConfig = join(dir, 'scheduler.json');
    writeFileSync(
      schedulerConfig,
      JSON.stringify({
        listen: { host: '127.0.0.1', port: 0 },
        database: join(dir, 'scheduler.db'),
        tokens: [
          { token: operatorToken, role: 'operator', name: 'noc-alice' },
          { token: providerToken, role: 'provider', name: 'tenant-p1', providerId: 'p1' },
          { token: controllerToken, role: 'controller', name: 'ctl-t', cloudletId: 'cT' },
        ],
        slotMs: 1000,
        reportIntervalMs: 500,
        staleAfterMs: 60_000,
        approval: { autoApproveAll: true },
        providers: [{ id: 'p1', prefixes: ['198.18.30.0/24', '198.18.31.0/24'] }],
        topology: { pops: [{ id: 'A' }], links: [], cloudlets: [{ id: 'cT', popId: 'A', nodes: [{ id: 'tn1', capacity }] }] },
      }),
    );
    const started = await spawnScheduler(schedulerConfig);
    scheduler = started.child;
    daemon = new ControllerDaemon(
      parseControllerConfig({
        cloudletId: 'cT',
        scheduler: { url: started.url, token: controllerToken, reportIntervalMs: 500 },
        listen: { host: '127.0.0.1', port: 0 },
        tokens: [{ token: operatorToken, role: 'operator', name: 'noc-alice' }],
        nodes: [{ id: 'tn1', capacity }],
        stateDir: join(dir, 'controller'),
        onExit: 'stop',
        dataPlane: { bind: '127.0.0.1', port: 0, routers: ['127.0.0.1'], routerPort: router.address().port, vnis: [VNI], drainIntervalMs: 50 },
        programs: { spoofer: { command: [process.execPath, '--disable-warning=ExperimentalWarning', join(repoRoot, 'test/support/spoofingService.ts')] } },
        sandbox: { usageIntervalMs: 500 },
      }),
      { verifier, log: () => undefined },
    );
    const { url } = await daemon.start();
    controller = new RpcClient(controllerApi, { url, token: operatorToken, timeoutMs: 15_000 });
    await controller.connect();
    provider = new RpcClient(schedulerApi, { url: started.url, token: providerToken, timeoutMs: 30_000 });
    await provider.connect();
    await waitFor('the controller says where consoles reach it', async () => (await provider.call('topology.get', {})).cloudlets.find((c) => c.id === 'cT')?.controllerUrl ?? undefined, 20_000);
    host = await startHeadlessHost({ PCLOUD_SCHEDULER_TOKEN: operatorToken }, ['--scheduler', started.url]);
    browser = await launchChromium();
    // The system allows notifications (as a desktop would once asked); the console still asks its operator first.
    // Every `new Notification` the page makes is counted by a wrapper installed before the page's own scripts.
    const context = await browser.newContext({ viewport: { width: 1440, height: 900 }, acceptDownloads: true, permissions: ['notifications'] });
    await context.addInitScript(() => {
      const shown: string[] = [];
      Object.defineProperty(window, '__notificationsShown', { value: shown });
      const System = window.Notification;
      window.Notification = class extends System {
        constructor(title: string, options?: NotificationOptions) {
          shown.push(title);
          super(title, options);
        }
      };
    });
    page = await context.newPage();
    ({ showView, shown, captureVi, filter, exportView, confirmTerminate } = consoleSteps(page));
    await page.goto(host.url);
    await page.locator('[data-testid="connection-bar"]', { hasText: 'connected' }).waitFor({ timeout: 60_000 });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await host?.stop();
    controller?.close();
    provider?.close();
    await daemon?.stop();
    scheduler?.kill('SIGTERM');
    router?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('packets of a VI appear; a display filter narrows them; tree and bytes are shown; the exported view reads in tshark with the same count', async () => {
    const viId = await reserve('forward', '198.18.30.0/24');
    await showView('traffic');
    await captureVi('cT', viId);
    await send(ip(198, 18, 30, 7), 5001, 30);
    await send(ip(198, 18, 30, 8), 5002, 12);
    await expect.poll(() => page.locator('[data-testid="packet-row"]').count(), { timeout: 20_000 }).toBeGreaterThan(0);
    // Sampled 1-in-1, both directions of a forwarding VI: every frame to it, and back out.
    await expect.poll(shown, { timeout: 20_000 }).toBeGreaterThanOrEqual(42);

    // A filter that is wrong says why, in place, and leaves the list as it was.
    await page.locator('[data-testid="display-filter"]').fill('udp.dstport = 5001');
    await expect.poll(() => page.locator('[data-testid="filter-error"]').innerText()).toContain('"=" alone is not an operator: compare with "=="');
    await filter('dir == "to_vi" && udp.dstport == 5001 && ip.dst == 198.18.30.0/24');
    await expect.poll(shown, { timeout: 10_000 }).toBe(30);

    // One packet: its tree, and the bytes of the field picked in it.
    await page.locator('[data-testid="packet-row"]').first().click();
    const tree = page.locator('[data-testid="packet-tree"]');
    await expect.poll(() => tree.innerText()).toContain('Internet Protocol Version 4, Src: 198.19.1.1, Dst: 198.18.30.7');
    expect(await tree.innerText()).toContain('User Datagram Protocol, Src Port: 4000');
    await tree.locator('[data-field="ip.dst"]').click();
    expect(await page.locator('[data-testid="hex-pane"] .hex [data-lit]').allInnerTexts()).toEqual(['c6', '12', '1e', '07']);
    await page.screenshot({ path: join(resultsDir, 'view-traffic.png') });

    // The filtered view as pcapng: tshark reads as many packets as the view shows.
    const lines = await exportView(join(dir, 'view.pcapng'), ['frame.number', 'udp.dstport', 'frame.comment']);
    expect(lines).toHaveLength(30);
    expect(lines.every((l) => l.split('\t')[1] === '5001' && l.includes(`VI ${viId}`))).toBe(true);

    // Statistics: the per-VI chart and the top talkers with their estimates.
    await page.locator('[data-testid="tab-statistics"]').click();
    await expect.poll(() => page.locator('[data-testid="top-table"]').first().innerText(), { timeout: 10_000 }).toContain('198.19.1.1');
    await page.screenshot({ path: join(resultsDir, 'view-traffic-statistics.png') });
    await page.locator('[data-testid="tab-packets"]').click();

    // Restrict from the traffic view: current use beside each cap, then (sent at once from the undo toast) the new caps hold.
    await page.locator('[data-testid="act-restrict"]').click();
    const caps = page.locator('[data-testid="restrict-caps"]');
    await expect.poll(() => caps.innerText(), { timeout: 10_000 }).toContain('Packet rate (packets/s)');
    expect(await caps.innerText()).toMatch(/Bit rate \(Mbit\/s, each direction\)\s+[\d.]+ in, [\d.]+ out\s+none\s+100/);
    await page.locator('[data-testid="cap-ppsCap"]').fill('500');
    await page.locator('[data-testid="cap-mbpsCap"]').fill('20');
    await page.locator('[data-testid="confirm-reason"]').fill('bursts above the agreed rate');
    await page.screenshot({ path: join(resultsDir, 'dialog-restrict-vi.png') });
    await page.locator('[data-testid="confirm-ok"]').click();
    await page.locator('[data-testid="undo-toast"]', { hasText: `Restricting ${viId}` }).locator('.now').click();
    await page.locator('[data-testid="vi-action-notice"]', { hasText: `Restricted ${viId}` }).waitFor({ timeout: 20_000 });
    expect((await controller.call('vi.get', { viId })).limits).toMatchObject({ ppsCap: 500, mbpsCap: 20 });

    // Quarantine: the VI keeps running, its rules go (its traffic comes straight back as legacy); then release.
    await page.locator('[data-testid="act-quarantine"]').click();
    await expect.poll(() => page.locator('[data-testid="confirm-path"]').innerText(), { timeout: 10_000 }).toContain(`reservation ${viId.slice(3)}`);
    await page.locator('[data-testid="confirm-reason"]').fill('suspected scan, under investigation');
    await page.locator('[data-testid="confirm-ok"]').click();
    await page.locator('[data-testid="undo-toast"]', { hasText: `Quarantining ${viId}` }).locator('.now').click();
    await page.locator('[data-testid="vi-action-notice"]', { hasText: `Quarantined ${viId}` }).waitFor({ timeout: 20_000 });
    expect(await controller.call('vi.get', { viId })).toMatchObject({ state: 'running', quarantined: true });
    expect((await controller.call('rule.list', { viId })).rules).toEqual([]);
    const before = returned.length;
    await send(ip(198, 18, 30, 9), 5003, 5);
    await expect.poll(() => returned.slice(before).filter((m) => m.subarray(8 + 30, 8 + 34).join('.') === '198.18.30.9').length, { timeout: 10_000 }).toBe(5);
    // Asked again, the same button offers the release.
    await page.locator('[data-testid="act-quarantine"]').click();
    await page.locator('[data-testid="confirm-dialog"]', { hasText: `Release VI from quarantine ${viId}` }).waitFor({ timeout: 10_000 });
    await page.locator('[data-testid="confirm-reason"]').fill('cleared');
    await page.locator('[data-testid="confirm-ok"]').click();
    await page.locator('[data-testid="undo-toast"]', { hasText: `Releasing ${viId}` }).locator('.now').click();
    await page.locator('[data-testid="vi-action-notice"]', { hasText: `Released ${viId}` }).waitFor({ timeout: 20_000 });
    expect(await controller.call('vi.get', { viId })).toMatchObject({ state: 'running', quarantined: false });
    expect((await controller.call('rule.list', { viId })).rules).toHaveLength(1);
  });

  test("a critical alarm notifies nobody until the operator allows desktop notifications; it is acknowledged under the operator's name", async () => {
    await showView('alarms');
    await controller.call('node.setHealth', { nodeId: 'tn1', health: 'down', reason: 'e2e: a critical alarm while notifications are off' });
    await controller.call('node.setHealth', { nodeId: 'tn1', health: 'up', reason: 'e2e: back' });
    const row = page.locator('[data-testid="alarm-row"][data-kind="node_down"]', { hasText: 'tn1' });
    await row.waitFor({ timeout: 20_000 });
    expect(await notificationsShown()).toEqual([]);
    await row.locator('[data-testid="alarm-acknowledge"]').click();
    await page.locator('[data-testid="operator-name"]').fill('Dana Okafor');
    await page.locator('[data-testid="confirm-reason"]').fill('planned power work on tn1');
    await page.screenshot({ path: join(resultsDir, 'dialog-acknowledge-alarm.png') });
    await page.locator('[data-testid="confirm-ok"]').click();
    await page.locator('[data-testid="alarms-show-acknowledged"]').check();
    await expect.poll(() => row.locator('[data-testid="alarm-acknowledged-by"]').innerText(), { timeout: 10_000 }).toBe('Dana Okafor (token noc-alice)');
    const entry = (await controller.call('audit.list', { afterSeq: 0, limit: 100 })).entries.find((e) => e.action === 'alarm.acknowledge');
    expect(entry).toMatchObject({ actor: 'noc-alice', reason: 'operator Dana Okafor: planned power work on tn1' });
    await page.locator('[data-testid="alarms-show-acknowledged"]').uncheck();
    // The operator allows them: the next new critical alarm (the spoofing VI's, next test) notifies once.
    await page.locator('[data-testid="alarms-notify"]').check();
    await expect.poll(() => page.locator('[data-testid="alarms-notify"]').isChecked()).toBe(true);
  });

  test('a spoofing VI raises an alarm; the operator follows it to the VI and terminates it after the undo window; rules gone, traffic legacy, evidence hash audited', async () => {
    const viId = await reserve('spoofer', '198.18.31.0/24');
    await send(ip(198, 18, 31, 7), 6000, 10);
    await showView('alarms');
    const row = page.locator(`[data-testid="alarm-row"][data-kind="spoofing"]`, { hasText: viId });
    await row.waitFor({ timeout: 30_000 });
    expect(Number(await page.locator('[data-testid="nav-badge-alarms"]').innerText())).toBeGreaterThanOrEqual(1);
    // One desktop notification for it, however often the spoofing repeats.
    await send(ip(198, 18, 31, 7), 6000, 10);
    await expect.poll(notificationsShown, { timeout: 10_000 }).toEqual([`spoofing on cT: ${viId}`]);
    await page.screenshot({ path: join(resultsDir, 'view-alarms.png') });

    // From the alarm to its packets: the evidence ring holds the spoofed ones, pre-filtered.
    await row.locator('[data-testid="alarm-packets"]').click();
    await page.locator('[data-view="traffic"]').waitFor({ state: 'visible' });
    expect(await page.locator('[data-testid="display-filter"]').inputValue()).toBe('verdict == "spoofing"');
    await expect.poll(shown, { timeout: 15_000 }).toBeGreaterThanOrEqual(1);
    expect(await page.locator('[data-testid="packet-row"]').first().innerText()).toContain('198.19.66.66');
    await page.screenshot({ path: join(resultsDir, 'view-traffic-spoofing-evidence.png') });
    await showView('alarms');

    // From the alarm to the VI (its detail in the topology), and from there: terminate.
    await row.locator('[data-testid="alarm-vi"]').click();
    await page.locator('[data-view="topology"]').waitFor({ state: 'visible' });
    await page.locator('[data-testid="topology-detail"]', { hasText: viId }).waitFor({ timeout: 20_000 });
    await page.locator('[data-testid="vi-terminate"]').click();
    await expect.poll(() => page.locator('[data-testid="confirm-path"]').innerText(), { timeout: 10_000 }).toBe(`PoP A › cloudlet cT › node tn1 › VI ${viId} › provider p1 › reservation ${viId.slice(3)}`);
    const reason = 'spoofs 198.19.66.66 from a transparent service';
    await confirmTerminate(viId, reason, {
      screenshot: join(resultsDir, 'dialog-terminate-vi.png'),
      // Nothing is sent during the undo window.
      beforeSent: async () => expect((await controller.call('vi.get', { viId })).state).toBe('running'),
    });

    expect((await controller.call('vi.get', { viId })).state).toBe('terminated');
    expect((await controller.call('rule.list', { viId })).rules).toEqual([]);
    // Its traffic now goes legacy: straight back to the router, to its own destination.
    const before = returned.length;
    await send(ip(198, 18, 31, 7), 6000, 5);
    await expect.poll(() => returned.slice(before).filter((m) => m.subarray(8 + 30, 8 + 34).join('.') === '198.18.31.7').length, { timeout: 10_000 }).toBe(5);
    const entry = (await controller.call('audit.list', { afterSeq: 0, limit: 100 })).entries.find((e) => e.action === 'vi.terminate' && e.target.endsWith(viId));
    expect(entry?.reason).toContain(reason);
    expect(entry?.reason).toMatch(/sha256 [0-9a-f]{64}/);

    // The scheduler's audit view shows it, forwarded, with the hash.
    await showView('audit');
    await expect.poll(() => page.locator('[data-testid="audit-row"]', { hasText: viId }).allInnerTexts(), { timeout: 30_000, interval: 1000 }).toEqual(
      expect.arrayContaining([expect.stringMatching(/vi\.terminate/)]),
    );
    await page.locator('[data-testid="audit-row"]', { hasText: 'vi.terminate' }).first().hover();
    await page.screenshot({ path: join(resultsDir, 'view-audit-terminate.png') });
  });
});
