/**
 * Steps of the console's end-to-end tests that more than one test takes
 * through the page (the traffic e2e against its own controller, the lab e2e on
 * the embedded lab): showing a view, capturing a VI's packets, reading the
 * traffic view's counters, exporting the view and reading it with tshark, and
 * terminating a VI through the confirmation dialog and its undo window.
 */
import { execFileSync } from 'node:child_process';
import type { Page } from 'playwright-core';
import { expect } from 'vitest';

export interface ConsoleSteps {
  showView(id: string): Promise<void>;
  /** The "N shown" count of the traffic view's counters. */
  shown(): Promise<number>;
  /** Picks the cloudlet and the VI as the capture's scope, starts it and waits until it is live. */
  captureVi(cloudletId: string, viId: string): Promise<void>;
  /** Types a display filter and waits until the view accepts it. */
  filter(text: string): Promise<void>;
  /** Exports the filtered view as pcapng to `file`; tshark's fields of each packet, one line each. */
  exportView(file: string, fields: string[]): Promise<string[]>;
  /** In the open terminate dialog: the reason and the VI's name, confirmed; waits out the undo window (nothing sent before) until done. */
  confirmTerminate(viId: string, reason: string, options: { screenshot: string; beforeSent: () => Promise<void> }): Promise<void>;
}

export function consoleSteps(page: Page): ConsoleSteps {
  const shown = async (): Promise<number> => Number(/(\d+) shown/.exec(await page.locator('[data-testid="capture-counters"]').innerText())?.[1] ?? -1);
  return {
    async showView(id) {
      await page.locator(`[data-testid="nav-${id}"]`).click();
      await page.locator(`[data-view="${id}"]`).waitFor({ state: 'visible' });
    },
    shown,
    async captureVi(cloudletId, viId) {
      await page.locator('[data-testid="scope-cloudlet"]').selectOption(cloudletId);
      await expect.poll(() => page.locator(`[data-testid="scope-vi"] option[value="${viId}"]`).count(), { timeout: 30_000 }).toBe(1);
      await page.locator('[data-testid="scope-vi"]').selectOption(viId);
      await page.locator('[data-testid="capture-start"]').click();
      await page.locator('[data-testid="capture-state"]', { hasText: 'live' }).waitFor({ timeout: 15_000 });
    },
    async filter(text) {
      await page.locator('[data-testid="display-filter"]').fill(text);
      await expect.poll(() => page.locator('[data-testid="filter-error"]').count()).toBe(0);
    },
    async exportView(file, fields) {
      const [download] = await Promise.all([page.waitForEvent('download'), page.locator('[data-testid="export-view"]').click()]);
      await download.saveAs(file);
      const out = execFileSync('tshark', ['-r', file, '-T', 'fields', ...fields.flatMap((f) => ['-e', f])], { encoding: 'utf8' }).trim();
      return out ? out.split('\n') : [];
    },
    async confirmTerminate(viId, reason, options) {
      await page.locator('[data-testid="confirm-dialog"]').waitFor();
      await page.locator('[data-testid="confirm-reason"]').fill(reason);
      // Terminate needs the VI's name typed.
      expect(await page.locator('[data-testid="confirm-ok"]').isDisabled()).toBe(true);
      await page.locator('[data-testid="confirm-typed"]').fill(viId);
      await page.screenshot({ path: options.screenshot });
      await page.locator('[data-testid="confirm-ok"]').click();
      await page.locator('[data-testid="undo-toast"]', { hasText: `Terminating ${viId}` }).waitFor();
      await options.beforeSent();
      await page.locator('[data-testid="vi-action-notice"]', { hasText: `Terminated ${viId}` }).waitFor({ timeout: 30_000 });
    },
  };
}
