/**
 * Shared pieces of the system tests: the headless host as a real child
 * process, Debian's Chromium driven by playwright-core, and pcctl as a child.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { DOMParser } from '@xmldom/xmldom';
import { chromium, type Browser } from 'playwright-core';
import { expect } from 'vitest';

export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
export const resultsDir = join(repoRoot, 'test-results');
export const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export interface RunningHost {
  url: string;
  origin: string;
  process: ChildProcess;
  output: () => string;
  stop(): Promise<void>;
}

/** Starts `main/console/headlessMain.ts` on a free port and waits for its URL (no lab unless `args` ask). */
export async function startHeadlessHost(env: NodeJS.ProcessEnv = {}, args: string[] = ['--lab', 'none']): Promise<RunningHost> {
  if (!existsSync(join(repoRoot, 'dist', 'renderer', 'index.html'))) {
    throw new Error('dist/renderer is missing: `npm test` builds it before the system tests; run `npm run build` when running them alone');
  }
  const dataDir = mkdtempSync(join(tmpdir(), 'pcloud-headless-'));
  const child = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', 'main/console/headlessMain.ts', '--port', '0', ...args], {
    cwd: repoRoot,
    env: { ...process.env, PCLOUD_DATA_DIR: dataDir, SHELL: '/bin/bash', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    // Generous: on a loaded CI machine (a lab's daemons starting beside it) loading the backend's modules alone took over 20 s.
    const timer = setTimeout(() => reject(new Error(`headless host printed no URL in 60 s:\n${out}`)), 60_000);
    const check = (): void => {
      const match = /open: (\S+)/.exec(out);
      if (match?.[1]) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    };
    child.stdout?.on('data', check);
    child.once('exit', (code) => reject(new Error(`headless host exited (${code}) before printing its URL:\n${out}`)));
  });
  return {
    url,
    origin: new URL(url).origin,
    process: child,
    output: () => out,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
    },
  };
}

export async function launchChromium(): Promise<Browser> {
  if (!existsSync(chromiumPath)) throw new Error(`no Chromium at ${chromiumPath}: install Debian's chromium (apt-get install chromium) or set CHROMIUM_PATH`);
  mkdirSync(resultsDir, { recursive: true });
  return chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: [
      // Root cannot use Chromium's sandbox; the page is our own, on loopback.
      ...(process.getuid?.() === 0 ? ['--no-sandbox'] : []),
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-dev-shm-usage',
    ],
  });
}

export interface PcctlResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs pcctl from the source checkout, as a child process, with `dataDir` as its data folder. */
export function pcctlWith(dataDir: string, as?: { uid: number; gid: number }): (...args: string[]) => Promise<PcctlResult> {
  const run = promisify(execFile);
  return async (...args) => {
    try {
      const { stdout, stderr } = await run(process.execPath, ['--disable-warning=ExperimentalWarning', 'main/cli/pcctl.ts', ...args], {
        cwd: repoRoot,
        env: { ...process.env, PCLOUD_DATA_DIR: dataDir },
        timeout: 120_000,
        ...as,
      });
      return { code: 0, stdout, stderr };
    } catch (e) {
      const err = e as PcctlResult;
      return { code: err.code, stdout: err.stdout, stderr: err.stderr };
    }
  };
}

/** The network namespaces whose names carry a lab's tag (what a lab test made and must remove). */
export function namespacesTagged(tag: string): string[] {
  return execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((n) => n.startsWith(`${tag}-`));
}

/** OVS daemons started from a run dir under `dir` (a lab test's data folder) that still run. */
export function ovsDaemonsUnder(dir: string): string[] {
  return execFileSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' })
    .split('\n')
    .filter((l) => /ovs-vswitchd|ovsdb-server/.test(l) && l.includes(dir) && !l.includes('<defunct>'));
}

/** An experiment's figure parses as SVG with no warning or error. */
/**
 * An experiment's figures as the issue asks: each file well-formed SVG (a
 * strict XML parse, every warning reported) and drawn by Chromium, through an
 * <img> so that Chromium's own strict SVG decoder has to accept it, at the
 * width the file declares and with data drawn in it; each is saved
 * as a screenshot, test-results/experiment-<file name>.png.
 */
export async function expectSvgsDrawn(files: string[]): Promise<void> {
  for (const file of files) {
    const problems: string[] = [];
    const doc = new DOMParser({ errorHandler: { warning: (m) => problems.push(m), error: (m) => problems.push(m), fatalError: (m) => problems.push(m) } }).parseFromString(readFileSync(file, 'utf8'), 'image/svg+xml');
    expect(problems, file).toEqual([]);
    expect(doc.documentElement?.nodeName, file).toBe('svg');
  }
  const browser = await launchChromium();
  try {
    const page = await browser.newPage({ viewport: { width: 700, height: 500 } });
    for (const file of files) {
      const svg = readFileSync(file, 'utf8');
      await page.setContent(`<!doctype html><body style="margin:0"><img alt="${basename(file)}" src="data:image/svg+xml;base64,${Buffer.from(svg).toString('base64')}"></body>`);
      const drawn = await page.locator('img').evaluate(async (img: HTMLImageElement) => {
        // decode() rejects when Chromium cannot draw the image (an SVG it will not parse).
        const decoded = await img.decode().then(() => true, () => false);
        // The page's own parser: this function runs in Chromium, where the xmldom import above does not exist.
        const doc = new window.DOMParser().parseFromString(atob(img.src.slice(img.src.indexOf(',') + 1)), 'image/svg+xml');
        return {
          decoded,
          width: img.naturalWidth,
          declaredWidth: Number(doc.documentElement.getAttribute('width')),
          // Data: a series' line, our points (circles), the paper's (squares beyond the background and the frame).
          marks: doc.getElementsByTagName('polyline').length + doc.getElementsByTagName('circle').length + doc.getElementsByTagName('rect').length - 2,
        };
      });
      expect(drawn.decoded, `${file} drawn by Chromium`).toBe(true);
      expect(drawn.width, file).toBe(drawn.declaredWidth);
      expect(drawn.marks, `${file}: its data`).toBeGreaterThan(0);
      await page.locator('img').screenshot({ path: join(resultsDir, `experiment-${basename(file, '.svg')}.png`) });
    }
  } finally {
    await browser.close();
  }
}
