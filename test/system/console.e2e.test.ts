/**
 * The console end to end, as a newcomer meets it: the headless host starts the
 * embedded DeterLab lab (a real scheduler and two real controllers), Chromium
 * shows it, a provider files a request with pcctl, and the operator works it
 * in the UI. Everything is checked through the page (and the scheduler's own
 * answers), never through a screenshot; screenshots of each view are saved.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { RpcClient } from '../../main/protocol/client.ts';
import { schedulerApi } from '../../main/protocol/schedulerApi.ts';
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
  async function reserve(cpu: number): Promise<string> {
    const { stdout } = await run(
      process.execPath,
      ['--disable-warning=ExperimentalWarning', 'main/cli/pcctl.ts', 'reserve', '--pop', 'A', '--from', '+20s', '--to', '+10m', '--cpu', String(cpu), '--mem', '1024', '--disk', '5', '--net', '50', '--program', 'monitor', '--json'],
      { cwd: repoRoot, env: { ...process.env, PCLOUD_SCHEDULER_URL: lab.schedulerUrl, PCLOUD_TOKEN: lab.tokens.provider } },
    );
    return (JSON.parse(stdout) as { id: string }).id;
  }

  async function scheduler() {
    const client = new RpcClient(schedulerApi, { url: lab.schedulerUrl, token: lab.tokens.operator });
    await client.connect();
    return client;
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

  test('a request filed with pcctl reserve appears in the pending queue; approving it makes it scheduled, then active', async () => {
    const id = await reserve(2);
    await showView('reservations');
    await page.locator('[data-testid="tab-pending"]').click();
    const card = page.locator(`[data-testid="pending-request"][data-reservation="${id}"]`);
    await card.waitFor({ timeout: 20_000 });
    await expect.poll(() => card.locator('[data-testid="placement"]').innerText(), { timeout: 10_000 }).toMatch(/C[12] › C\d\d/);
    const nodeId = /› (C\d\d)/.exec(await card.locator('[data-testid="placement"]').innerText())?.[1] as string;
    await page.screenshot({ path: join(resultsDir, 'view-reservations-pending.png') });
    const before = await utilization(nodeId);
    await showView('reservations');
    await card.locator('[data-testid="approve"]').click();
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
    await page.screenshot({ path: join(resultsDir, 'view-audit.png') });
  });

  test('a pcctl terminal on the lab lists the reservations', async () => {
    await showView('terminals');
    await page.locator('[data-testid="new-pcctl-terminal"]').click();
    await expect.poll(() => page.locator('.xterm-rows').last().innerText(), { timeout: 15_000 }).toMatch(/started pcctl: deterlab/);
    await page.locator('.xterm-helper-textarea').last().focus();
    await page.keyboard.type('pcctl list\n');
    await expect.poll(() => page.locator('.xterm-rows').last().innerText(), { timeout: 20_000 }).toMatch(/declined/);
    await page.screenshot({ path: join(resultsDir, 'view-terminal-pcctl.png') });
  });
});
