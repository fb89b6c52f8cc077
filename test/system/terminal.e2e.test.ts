import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { launchChromium, resultsDir, startHeadlessHost, type RunningHost } from './harness.ts';

/** The visible text of the active xterm, read from its buffer through the DOM rows. */
async function terminalText(page: Page): Promise<string> {
  return page.locator('.xterm-rows').first().innerText();
}

/** Pids whose parent is `ppid`, read from /proc (Linux). */
function childrenOf(ppid: number): number[] {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .filter((d) => {
      try {
        // Field 4 of /proc/PID/stat is the parent pid; the command name (field 2) may hold spaces.
        const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
        return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === ppid;
      } catch {
        return false;
      }
    })
    .map(Number);
}

describe('the console in a real browser, served by the headless host', () => {
  let host: RunningHost;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    host = await startHeadlessHost();
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  });

  afterAll(async () => {
    await browser?.close();
    await host?.stop();
  });

  test('the app shell renders and reports the headless transport', async () => {
    await page.goto(host.url);
    await expect.poll(() => page.locator('[data-testid="backend-status"]').innerText()).toContain('headless');
    await expect(page.locator('h1').innerText()).resolves.toBe('PacketCloud Console');
    // The single-use token left the address bar once spent.
    expect(page.url()).not.toContain('token=');
  });

  test('typing echo in a terminal tab shows the value in the xterm buffer', async () => {
    const marker = `hello-${randomBytes(6).toString('hex')}`;
    await page.locator('[data-testid="nav-terminals"]').click();
    await page.locator('[data-testid="new-terminal"]').click();
    await expect.poll(() => terminalText(page), { timeout: 15_000 }).toMatch(/started local/);
    await page.locator('.xterm-helper-textarea').first().focus();
    await page.keyboard.type(`echo ${marker}\n`);
    // The command line shows "echo hello-…"; the output line is the value alone.
    await expect
      .poll(async () => (await terminalText(page)).split('\n').some((line) => line.trim() === marker), { timeout: 15_000 })
      .toBe(true);
    await page.screenshot({ path: join(resultsDir, 'terminal.png') });
  });

  test('a reused launch URL is refused: its token was single-use', async () => {
    const second = await browser.newPage();
    await second.goto(host.url);
    await expect.poll(() => second.locator('[role="alert"]').innerText()).toMatch(/token not accepted/);
    await second.close();
  });

  test('stopping the host ends the shells it started', async () => {
    const shells = childrenOf(host.process.pid as number);
    expect(shells.length).toBeGreaterThan(0);
    await host.stop();
    await expect.poll(() => shells.filter((pid) => existsSync(`/proc/${pid}`)), { timeout: 10_000 }).toEqual([]);
  });
});

describe('a shell that cannot start', () => {
  test('is reported inside the terminal itself', async () => {
    const host = await startHeadlessHost({ SHELL: '/nonexistent/shell' });
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      await page.goto(host.url);
      await page.locator('[data-testid="nav-terminals"]').click();
      await page.locator('[data-testid="new-terminal"]').click();
      await expect.poll(() => terminalText(page), { timeout: 15_000 }).toMatch(/cannot start \/nonexistent\/shell/);
      await expect.poll(() => page.locator('[data-view="terminals"] [role="tab"]').first().innerText()).toMatch(/process did not start/);
      await page.screenshot({ path: join(resultsDir, 'terminal-spawn-error.png') });
    } finally {
      await browser.close();
      await host.stop();
    }
  });
});
