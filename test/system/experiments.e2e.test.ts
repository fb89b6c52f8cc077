/**
 * The Experiments view end to end: the headless host (no lab needed), Chromium
 * shows which experiments this host can run, the operator starts proximity in
 * quick mode, the progress bar moves, and the run's figure and table appear.
 * The figure must parse as SVG in Chromium and be drawn (a screenshot is saved).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { launchChromium, resultsDir, startHeadlessHost, type RunningHost } from './harness.ts';

describe('the Experiments view', () => {
  let host: RunningHost;
  let browser: Browser;
  let page: Page;
  let dataDir: string;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'pcloud-experiments-e2e-'));
    host = await startHeadlessHost({ PCLOUD_DATA_DIR: dataDir });
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1440, height: 1000 } });
    await page.goto(host.url);
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await host?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('proximity runs from the console: progress, then its figure (valid SVG, drawn) and table', async () => {
    await page.locator('[data-testid="nav-experiments"]').click();
    await page.locator('[data-view="experiments"]').waitFor({ state: 'visible' });
    const row = page.locator('[data-experiment="proximity"]');
    await expect(row.innerText()).resolves.toContain('runnable');
    // Every experiment is listed, each either runnable here or saying what it needs.
    for (const name of ['fig5a-delay', 'fig5b-mlffr', 'fig5c-mtu', 'ids-flood', 'cache']) await expect(page.locator(`[data-experiment="${name}"]`).innerText()).resolves.toMatch(/runnable|needs:/);
    await row.getByRole('button', { name: 'Run quick' }).click();
    // The bar is there while it runs or once it is done (a quick proximity run takes seconds).
    await page.locator('[data-testid="experiment-progress"]').waitFor({ state: 'visible', timeout: 10_000 });
    await page.locator('[data-testid="experiment-progress"][data-state="done"]').waitFor({ timeout: 90_000 });
    const figure = page.locator('[data-figure="proximity-rtt-cdf"] img');
    await figure.waitFor({ state: 'visible', timeout: 10_000 });
    const drawn = await figure.evaluate(async (img: HTMLImageElement) => {
      await img.decode();
      const svg = decodeURIComponent(img.src.slice(img.src.indexOf(',') + 1));
      const doc = new DOMParser().parseFromString(svg, 'image/svg+xml');
      return { width: img.naturalWidth, parseErrors: doc.getElementsByTagName('parsererror').length, lines: doc.getElementsByTagName('polyline').length };
    });
    expect(drawn).toMatchObject({ width: 640, parseErrors: 0, lines: 3 });
    const table = await page.locator('[data-testid="experiment-table"]').innerText();
    expect(table).toContain('mean RTT, closest');
    expect(table).toContain('mean RTT farthest / closest');
    await page.screenshot({ path: join(resultsDir, 'view-experiments.png'), fullPage: true });
  });
});
