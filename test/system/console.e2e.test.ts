/**
 * The console end to end, as a newcomer meets it: the headless host starts the
 * embedded DeterLab lab (a real scheduler and two real controllers), Chromium
 * shows it, a provider files a request with pcctl, and the operator works it
 * in the UI. Everything is checked through the page (and the scheduler's own
 * answers), never through a screenshot; screenshots of each view are saved.
 * Last, the operator switches to the Global WAN lab: everything of DeterLab
 * must leave the screen and the new graph must be fitted in view, its labels
 * still legible.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { RpcClient } from '../../main/protocol/client.ts';
import { controllerApi } from '../../main/protocol/controllerApi.ts';
import { schedulerApi } from '../../main/protocol/schedulerApi.ts';
import { minLabelScreenPx } from '../../renderer/composables/topology/graphStyles.ts';
import { launchChromium, repoRoot, resultsDir, startHeadlessHost, type RunningHost } from './harness.ts';

const run = promisify(execFile);

interface LabState {
  schedulerUrl: string;
  tokens: { operator: string; provider: string; viewer: string };
}

describe('the console on the embedded DeterLab lab', () => {
  let host: RunningHost;
  let browser: Browser;
  let page: Page;
  let dataDir: string;
  let lab: LabState;

  /** `pcctl reserve` as the lab's demo provider; returns the new reservation's id. */
  async function reserve(cpu: number, extra: string[] = []): Promise<string> {
    const { stdout } = await run(
      process.execPath,
      ['--disable-warning=ExperimentalWarning', 'main/cli/pcctl.ts', 'reserve', '--pop', 'A', '--from', '+20s', '--to', '+10m', '--cpu', String(cpu), '--mem', '1024', '--disk', '5', '--net', '50', '--program', 'monitor', '--json', ...extra],
      { cwd: repoRoot, env: { ...process.env, PCLOUD_SCHEDULER_URL: lab.schedulerUrl, PCLOUD_TOKEN: lab.tokens.provider } },
    );
    return (JSON.parse(stdout) as { id: string }).id;
  }

  async function scheduler() {
    const client = new RpcClient(schedulerApi, { url: lab.schedulerUrl, token: lab.tokens.operator });
    await client.connect();
    return client;
  }

  /** Right edge of an element against the window's width: nothing may run off it. */
  async function rightEdge(selector: string): Promise<{ right: number; width: number }> {
    return page.locator(selector).first().evaluate((el) => ({ right: el.getBoundingClientRect().right, width: window.innerWidth }));
  }

  async function showView(id: string): Promise<void> {
    await page.locator(`[data-testid="nav-${id}"]`).click();
    await page.locator(`[data-view="${id}"]`).waitFor({ state: 'visible' });
  }

  /** The utilization overlay's reading for one node, as the detail panel shows it. */
  async function utilization(nodeId: string): Promise<string> {
    await showView('topology');
    const toggle = page.locator('[data-testid="overlay-utilization"]');
    if ((await toggle.getAttribute('aria-pressed')) !== 'true') await toggle.click();
    await page.locator(`[data-testid="topology-item-${nodeId}"] button.item`).first().click();
    return page.locator('[data-testid="section-utilization"]').innerText();
  }

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'pcloud-console-e2e-'));
    host = await startHeadlessHost({ PCLOUD_DATA_DIR: dataDir }, ['--lab', 'deterlab']);
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    await page.goto(host.url);
    // The lab comes up behind the page: the connection bar says when it is there.
    await page.locator('[data-testid="connection-bar"]', { hasText: 'lab deterlab: connected' }).waitFor({ timeout: 90_000 });
    lab = JSON.parse(readFileSync(join(dataDir, 'lab', 'deterlab', 'lab-state.json'), 'utf8')) as LabState;
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await host?.stop();
  });

  test('the topology shows the DeterLab PoPs, cloudlets and nodes', async () => {
    await showView('topology');
    const outline = page.locator('[data-testid="topology-outline"]');
    for (const id of ['A', 'R1', 'R2', 'B', 'C1', 'C2', 'C11', 'C12', 'C13', 'C21', 'C22', 'C23']) {
      await expect.poll(() => outline.locator(`[data-testid="topology-item-${id}"]`).count(), { timeout: 20_000 }).toBeGreaterThan(0);
    }
    await page.screenshot({ path: join(resultsDir, 'view-topology.png') });
  });

  test('a request filed with pcctl reserve is announced, counted on the navigation, and appears in the pending queue; approving it (after its undo time) makes it scheduled, then active', async () => {
    await showView('topology');
    const id = await reserve(2);
    // Filed while another view is open: a notice says so, and the navigation counts it.
    await page.locator('[data-testid="arrival-notice"]', { hasText: id }).waitFor({ timeout: 20_000 });
    expect(Number(await page.locator('[data-testid="nav-badge-reservations"]').innerText())).toBeGreaterThanOrEqual(1);
    await page.screenshot({ path: join(resultsDir, 'notice-new-request.png') });
    await page.locator('[data-testid="arrival-show"]').click();
    await page.locator('[data-view="reservations"]').waitFor({ state: 'visible' });
    await page.locator('[data-testid="tab-pending"]').click();
    const card = page.locator(`[data-testid="pending-request"][data-reservation="${id}"]`);
    await card.waitFor({ timeout: 20_000 });
    await expect.poll(() => card.locator('[data-testid="placement"]').innerText(), { timeout: 10_000 }).toMatch(/C[12] › C\d\d/);
    expect(await card.locator('[data-testid="pending-countdown"]').innerText()).toMatch(/^(▲ )?Expires in \d+ s unless approved \(start time \d{4}-\d\d-\d\d \d\d:\d\d\)$|has passed/);
    const nodeId = /› (C\d\d)/.exec(await card.locator('[data-testid="placement"]').innerText())?.[1] as string;
    await page.screenshot({ path: join(resultsDir, 'view-reservations-pending.png') });
    const before = await utilization(nodeId);
    await showView('reservations');
    await card.locator('[data-testid="approve"]').click();
    // Approve has the same grace period as decline, then says what happened.
    await page.locator('[data-testid="undo-toast"]', { hasText: `Approving ${id}` }).waitFor();
    // The start time is near: send it now rather than wait out the grace period.
    await page.locator('[data-testid="undo-toast"] .now').click();
    await page.locator('[data-testid="action-notice"]', { hasText: `Approved ${id}` }).waitFor({ timeout: 20_000 });
    const client = await scheduler();
    await expect.poll(async () => (await client.call('reservation.get', { id })).state, { timeout: 20_000 }).toMatch(/scheduled|active/);
    await expect.poll(async () => (await client.call('reservation.get', { id })).state, { timeout: 60_000, interval: 1000 }).toBe('active');
    await page.locator('[data-testid="tab-active"]').click();
    await expect.poll(() => page.locator(`[data-reservation="${id}"]`).first().innerText(), { timeout: 20_000 }).toContain('active');
    await page.screenshot({ path: join(resultsDir, 'view-reservations-active.png') });
    client.close();
    // The controller now reports the VI's capacity as used: the node's utilization overlay shows it.
    await expect.poll(() => utilization(nodeId), { timeout: 20_000, interval: 1000 }).not.toBe(before);
    await page.screenshot({ path: join(resultsDir, 'view-topology-utilization.png') });
  });

  test('declining a request with a reason records the reason', async () => {
    const id = await reserve(1);
    await showView('reservations');
    await page.locator('[data-testid="tab-pending"]').click();
    const card = page.locator(`[data-testid="pending-request"][data-reservation="${id}"]`);
    await card.waitFor({ timeout: 20_000 });
    await card.locator('[data-testid="decline"]').click();
    await page.locator('[data-testid="confirm-reason"]').fill('destination prefix not verified for this tenant');
    await page.screenshot({ path: join(resultsDir, 'dialog-decline.png') });
    await page.locator('[data-testid="confirm-ok"]').click();
    // The undo grace period runs out, then the decline is sent.
    const client = await scheduler();
    await expect.poll(async () => client.call('reservation.get', { id }), { timeout: 20_000 }).toMatchObject({
      state: 'declined',
      reason: 'destination prefix not verified for this tenant',
    });
    client.close();
  });

  test('the audit view lists the approval and the decline with a verified chain', async () => {
    await showView('audit');
    await expect.poll(() => page.locator('[data-testid="audit-chain"]').innerText(), { timeout: 20_000 }).toMatch(/chain verified/);
    await expect.poll(() => page.locator('[data-testid="audit-row"]').allInnerTexts(), { timeout: 20_000 }).toEqual(
      expect.arrayContaining([expect.stringContaining('reservation.decline')]),
    );
    // Newest first; the count in the toolbar is what the export writes.
    const seqs = (await page.locator('[data-testid="audit-row"]').evaluateAll((rows) => rows.map((r) => Number(r.getAttribute('data-seq')))));
    expect(seqs).toEqual([...seqs].sort((a, b) => b - a));
    const shown = Number(/^(\d+)/.exec(await page.locator('[data-testid="audit-count"]').innerText())?.[1]);
    expect(await page.locator('[data-testid="audit-export"]').innerText()).toBe(`Export CSV (${shown})`);
    // The toolbar stays on one line.
    const toolbar = await page.locator('.audit-view .toolbar').evaluate((el) => ({ height: el.getBoundingClientRect().height, button: el.querySelector('button')?.getBoundingClientRect().height ?? 0 }));
    expect(toolbar.height).toBeLessThan(toolbar.button * 2);
    await page.screenshot({ path: join(resultsDir, 'view-audit.png') });
  });

  test('a pcctl terminal on the lab lists the reservations', async () => {
    await showView('terminals');
    await page.locator('[data-testid="new-pcctl-terminal"]').click();
    await expect.poll(() => page.locator('.xterm-rows').last().innerText(), { timeout: 15_000 }).toMatch(/started pcctl: deterlab/);
    await page.locator('.xterm-helper-textarea').last().focus();
    await page.keyboard.type('pcctl list\n');
    await expect.poll(() => page.locator('.xterm-rows').last().innerText(), { timeout: 20_000 }).toMatch(/declined/);
    // Rows tall enough for underscores: xterm's row is the font size times the line height.
    await page.keyboard.type('echo PCLOUD_TOKEN_IS_SET\n');
    await expect.poll(() => page.locator('.xterm-rows').last().innerText(), { timeout: 10_000 }).toContain('PCLOUD_TOKEN_IS_SET');
    const rowHeight = await page.locator('.xterm-rows').last().evaluate((el) => (el.firstElementChild as HTMLElement).getBoundingClientRect().height);
    expect(rowHeight).toBeGreaterThanOrEqual(14 * 1.15);
    await page.screenshot({ path: join(resultsDir, 'view-terminal-pcctl.png') });
  });

  test('the Active and Past tabs keep the detail panel on screen; the calendar gives overlapping reservations their own lanes', async () => {
    await showView('reservations');
    for (const tab of ['active', 'past'] as const) {
      await page.locator(`[data-testid="tab-${tab}"]`).click();
      await page.locator('.reservation-table .row').first().click();
      await page.locator('[data-testid="reservation-detail"]').waitFor();
      const edge = await rightEdge('[data-testid="reservation-detail"]');
      expect(edge.right).toBeLessThanOrEqual(edge.width);
      await page.screenshot({ path: join(resultsDir, `view-reservations-${tab}.png`) });
      await page.locator('[data-testid="reservation-detail"] .close').click();
    }
    // Two more requests on top of what is there, so some node holds overlapping ones.
    await reserve(1);
    await reserve(1);
    await page.locator('[data-testid="tab-pending"]').click();
    await expect.poll(() => page.locator('[data-testid="pending-request"]').count(), { timeout: 20_000 }).toBeGreaterThanOrEqual(2);
    await page.screenshot({ path: join(resultsDir, 'view-reservations-pending-several.png') });
    await page.locator('[data-testid="tab-calendar"]').click();
    await page.locator('[data-testid="calendar-show-ended"]').check();
    await page.locator('label.window select').selectOption('1');
    await page.locator('[data-testid="reservation-timeline"] [data-reservation]').first().waitFor();
    // No two bars of one node overlap on screen: overlapping reservations take separate lanes.
    const overlaps = await page.locator('[data-testid="reservation-timeline"] .row').evaluateAll((rows) =>
      rows.flatMap((row) => {
        const boxes = [...row.querySelectorAll('[data-reservation]')].map((b) => b.getBoundingClientRect());
        return boxes.flatMap((a, i) => boxes.slice(i + 1).filter((b) => a.left < b.right - 1 && b.left < a.right - 1 && a.top < b.bottom - 1 && b.top < a.bottom - 1)).length;
      }),
    );
    expect(overlaps.reduce((a, b) => a + b, 0)).toBe(0);
    expect(await page.locator('[data-testid="reservation-timeline"] [data-lane="1"]').count()).toBeGreaterThan(0);
    await page.screenshot({ path: join(resultsDir, 'view-reservations-calendar.png') });
  });

  test('a reservation that fails after approval is announced by a toast wherever the operator is, with a way to it', async () => {
    const client = await scheduler();
    // On a cloudlet where nothing approved runs: the active reservation of the first test must outlive this one
    // (the lab switch below asks first because of it).
    const topology = await client.call('topology.get', {});
    const running = (await client.call('reservation.list', { states: ['approved', 'confirming', 'scheduled', 'active'], limit: 100 })).reservations;
    const busy = new Set(running.map((r) => r.cloudletId));
    const spare = topology.cloudlets.find((c) => !busy.has(c.id));
    expect(spare, `a cloudlet without approved reservations (busy: ${[...busy].join(', ')})`).toBeDefined();
    const id = await reserve(1, ['--cloudlet', spare?.id as string]);
    await client.call('reservation.approve', { id, reason: 'e2e: approved, then its node goes down before the start' });
    await expect.poll(async () => (await client.call('reservation.get', { id })).state, { timeout: 30_000 }).toBe('scheduled');
    const approved = await client.call('reservation.get', { id });
    expect(approved.cloudletId).toBe(spare?.id);
    const url = topology.cloudlets.find((c) => c.id === approved.cloudletId)?.controllerUrl as string;
    const controller = new RpcClient(controllerApi, { url, token: lab.tokens.operator });
    await controller.connect();
    const nodeId = approved.nodeId as string;
    // Its node goes down before the start time: the controller cannot start the VI.
    await controller.call('node.setHealth', { nodeId, health: 'down', reason: 'e2e: power lost before the start' });
    try {
      await showView('topology');
      const toast = page.locator('[data-testid="failure-notice"]');
      await expect.poll(() => toast.innerText().catch(() => ''), { timeout: 150_000, interval: 1000 }).toContain(`Reservation ${id} `);
      const text = await toast.innerText();
      expect(text).toContain('failed after approval');
      expect(text).toContain(`node ${nodeId} is down`);
      await page.screenshot({ path: join(resultsDir, 'notice-failed-after-approval.png') });
      await page.locator('[data-testid="failure-show"]').click();
      await page.locator('[data-view="reservations"]').waitFor({ state: 'visible' });
      expect(await toast.count()).toBe(0);
      expect((await client.call('reservation.get', { id })).state).toBe('failed');
      // Reservations on other cloudlets are untouched.
      for (const r of running) expect((await client.call('reservation.get', { id: r.id })).state).not.toBe('failed');
    } finally {
      await controller.call('node.setHealth', { nodeId, health: 'up', reason: 'e2e: power back' });
      controller.close();
      client.close();
    }
  });

  test('a node marked down reads "down" in the utilization overlay, not full', async () => {
    const client = await scheduler();
    const topology = await client.call('topology.get', {});
    client.close();
    const c1 = topology.cloudlets.find((c) => c.id === 'C1');
    const controller = new RpcClient(controllerApi, { url: c1?.controllerUrl as string, token: lab.tokens.operator });
    await controller.connect();
    await controller.call('node.setHealth', { nodeId: 'C13', health: 'down', reason: 'e2e: fan failure' });
    controller.close();
    await expect.poll(() => utilization('C13'), { timeout: 30_000, interval: 1000 }).toContain('node down');
    expect(await utilization('C13')).not.toContain('100%');
    await page.screenshot({ path: join(resultsDir, 'view-topology-node-down.png') });
  });

  test('switching to the Global WAN lab asks first, forgets DeterLab everywhere, ends its pcctl terminal, and fits the new graph', async () => {
    await page.locator('[data-testid="connection-toggle"]').click();
    await page.locator('[data-testid="use-lab-globalwan"]').click();
    // DeterLab still has pending and active reservations: the switch asks first.
    await page.locator('[data-testid="confirm-consequence"]', { hasText: 'end with it' }).waitFor();
    await page.screenshot({ path: join(resultsDir, 'dialog-stop-lab.png') });
    await page.locator('[data-testid="confirm-ok"]').click();
    await page.locator('[data-testid="connection-bar"]', { hasText: 'lab globalwan' }).waitFor({ timeout: 10_000 });
    await page.locator('[data-testid="connection-bar"]', { hasText: 'lab globalwan: connected' }).waitFor({ timeout: 120_000 });
    await showView('terminals');
    expect(await page.locator('[role="tab"]', { hasText: 'pcctl: deterlab' }).innerText()).toContain('ended: the console left lab deterlab');
    await showView('reservations');
    await page.locator('[data-testid="tab-pending"]').click();
    expect(await page.locator('[data-testid="pending-request"]').count()).toBe(0);
    await showView('topology');
    const outline = page.locator('[data-testid="topology-outline"]');
    for (const id of ['HKG', 'LAX', 'NYC', 'MIA', 'BCN']) await outline.locator(`[data-testid="topology-item-${id}"]`).first().waitFor({ timeout: 30_000 });
    expect(await outline.locator('[data-testid="topology-item-C11"]').count()).toBe(0);
    await expect.poll(() => page.locator('[data-testid="topology-canvas"]').getAttribute('data-offscreen'), { timeout: 10_000 }).toBe('0');
    // Fitted, the graph is small, but its node and link labels stay legible on screen.
    await expect.poll(async () => Number(await page.locator('[data-testid="topology-canvas"]').getAttribute('data-label-px')), { timeout: 10_000 })
      .toBeGreaterThanOrEqual(minLabelScreenPx);
    await page.screenshot({ path: join(resultsDir, 'view-topology-globalwan.png') });
  });
});
