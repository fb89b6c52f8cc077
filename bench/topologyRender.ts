/**
 * How the topology view copes with a big ISP, measured through the real stack:
 * a generated topology of 1,000 PoPs and 5,000 nodes (topologyFixture.ts) is
 * given to a real scheduler daemon (`pcctl scheduler --config`), the headless
 * console host connects to it (`--scheduler URL`), and the built renderer runs
 * in Debian's Chromium. Recorded per render mode:
 *   - time to first render: navigation start to the first frame with the graph
 *     drawn (the canvas stamps data-first-render-ms), and to a usable page;
 *   - frame times while panning with the mouse (requestAnimationFrame deltas:
 *     median, p95, max) and while zooming with the wheel;
 *   - JS heap after a forced GC.
 * Modes: "auto" is what ships (large-graph options above 1,500 elements);
 * "plain" is cytoscape with its defaults and every cloudlet open, for
 * comparison; "open" has the large-graph render options but every cloudlet
 * open (what collapsing cloudlets buys); "webgl" adds cytoscape's
 * experimental WebGL renderer to the large-graph options.
 *
 * Run: npm run build, then npm run bench:topology. Prints a table and writes
 * bench/results/topology.json. Options: --pops N --nodes-per-cloudlet N --modes auto,plain
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { Page } from 'playwright-core';
import { launchChromium } from '../test/system/harness.ts';
import { generateTopology } from './topologyFixture.ts';

const repoRoot = fileURLToPath(new URL('../', import.meta.url));
const { values } = parseArgs({
  options: {
    pops: { type: 'string', default: '1000' },
    'nodes-per-cloudlet': { type: 'string', default: '5' },
    modes: { type: 'string', default: 'plain,open,auto' },
  },
});
const pops = Number(values.pops);
const nodesPerCloudlet = Number(values['nodes-per-cloudlet']);
const modes = (values.modes ?? 'auto').split(',').filter((m) => ['auto', 'plain', 'open', 'large', 'webgl'].includes(m));

interface Started {
  child: ChildProcess;
  match: RegExpExecArray;
}

/** Starts a repo script under this Node and waits for a line matching `ready`. */
function startProcess(args: string[], env: NodeJS.ProcessEnv, ready: RegExp, what: string): Promise<Started> {
  const child = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', ...args], { cwd: repoRoot, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} was not ready in 60 s:\n${out}`)), 60_000);
    const onData = (d: Buffer): void => {
      out += d.toString();
      const match = ready.exec(out);
      if (match) {
        clearTimeout(timer);
        resolve({ child, match });
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited (${code}) before it was ready:\n${out}`));
    });
  });
}

async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

function stats(deltas: number[]): { frames: number; medianMs: number; p95Ms: number; maxMs: number; fps: number } {
  const sorted = [...deltas].sort((a, b) => a - b);
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
  const total = deltas.reduce((s, d) => s + d, 0);
  const round = (n: number): number => Math.round(n * 10) / 10;
  return { frames: deltas.length, medianMs: round(at(0.5)), p95Ms: round(at(0.95)), maxMs: round(sorted.at(-1) ?? NaN), fps: round((deltas.length / total) * 1000) };
}

/** Collects requestAnimationFrame deltas while `act` runs. */
async function frameTimes(page: Page, act: () => Promise<void>): Promise<number[]> {
  await page.evaluate(() => {
    const w = window as unknown as { __frames: number[]; __recording: boolean };
    w.__frames = [];
    w.__recording = true;
    let last = performance.now();
    const tick = (now: number): void => {
      w.__frames.push(now - last);
      last = now;
      if (w.__recording) requestAnimationFrame(tick);
    };
    requestAnimationFrame((now) => {
      last = now;
      requestAnimationFrame(tick);
    });
  });
  await act();
  return page.evaluate(() => {
    const w = window as unknown as { __frames: number[]; __recording: boolean };
    w.__recording = false;
    return w.__frames;
  });
}

async function measure(url: string, mode: string): Promise<Record<string, unknown>> {
  const browser = await launchChromium();
  try {
    const context = await browser.newContext({ viewport: { width: 1600, height: 1000 }, colorScheme: 'dark' });
    if (mode !== 'auto') await context.addInitScript((m) => localStorage.setItem('pcloud.topology.renderMode', m), mode);
    const page = await context.newPage();
    const wallStart = Date.now();
    await page.goto(url);
    const canvas = page.locator('[data-testid=topology-canvas][data-first-render-ms]');
    await canvas.waitFor({ timeout: mode === 'webgl' ? 60_000 : 180_000 });
    const wallToRender = Date.now() - wallStart;
    const firstRenderMs = Number(await canvas.getAttribute('data-first-render-ms'));
    const elements = Number(await canvas.getAttribute('data-elements'));
    // Where the time went: marks set by the store and the graph (ms since navigation start).
    const marks = await page.evaluate(() =>
      Object.fromEntries(
        performance
          .getEntriesByType('mark')
          .filter((m) => m.name.startsWith('topology:'))
          .map((m) => [m.name.slice('topology:'.length), Math.round(m.startTime)]),
      ),
    );
    // Let the idle work after the first frame finish before timing interaction.
    await page.waitForTimeout(1500);
    const box = await canvas.boundingBox();
    if (!box) throw new Error('the canvas has no box');
    const cx = box.x + box.width / 2;
    const cy = box.y + box.height / 2;
    // Panning is measured at the fit view (the whole ISP) and zoomed in to a working level.
    const panAt = async (): Promise<number[]> =>
      frameTimes(page, async () => {
        await page.mouse.move(cx, cy);
        await page.mouse.down();
        for (let i = 0; i < 120; i++) await page.mouse.move(cx + Math.sin(i / 12) * 300, cy + Math.cos(i / 15) * 200, { steps: 1 });
        await page.mouse.up();
        await page.waitForTimeout(300);
      });
    const panFit = await panAt();
    const zoom = await frameTimes(page, async () => {
      await page.mouse.move(cx, cy);
      // About 70 notches take the fit view (zoom ~0.07) to ~0.6, where cloudlets in view open up.
      for (let i = 0; i < 70; i++) {
        await page.mouse.wheel(0, -240);
        await page.waitForTimeout(20);
      }
      await page.waitForTimeout(1000);
    });
    const panZoomed = await panAt();
    const elementsZoomed = Number(await canvas.getAttribute('data-elements'));
    const cdp = await context.newCDPSession(page);
    await cdp.send('HeapProfiler.collectGarbage');
    await cdp.send('Performance.enable');
    const metrics = (await cdp.send('Performance.getMetrics')).metrics;
    const metric = (name: string): number => metrics.find((m) => m.name === name)?.value ?? NaN;
    return {
      mode,
      elements,
      elementsZoomed,
      firstRenderMs: Math.round(firstRenderMs),
      wallToRenderMs: wallToRender,
      marks,
      panAtFit: stats(panFit),
      zoomWheel: stats(zoom),
      panZoomedIn: stats(panZoomed),
      heapUsedMiB: Math.round((metric('JSHeapUsedSize') / 2 ** 20) * 10) / 10,
      heapTotalMiB: Math.round((metric('JSHeapTotalSize') / 2 ** 20) * 10) / 10,
      domNodes: metric('Nodes'),
    };
  } finally {
    await browser.close();
  }
}

async function main(): Promise<void> {
  if (!existsSync(join(repoRoot, 'dist', 'renderer', 'index.html'))) throw new Error('dist/renderer is missing: run `npm run build` first');
  const work = mkdtempSync(join(tmpdir(), 'pcloud-topobench-'));
  const token = randomBytes(24).toString('base64url');
  const topology = generateTopology({ pops, nodesPerCloudlet });
  const nodes = topology.cloudlets.reduce((n, c) => n + c.nodes.length, 0);
  const config = {
    listen: { host: '127.0.0.1', port: 0 },
    database: 'scheduler.sqlite',
    tokens: [{ token, role: 'operator', name: 'bench' }],
    topology: {
      pops: topology.pops,
      links: topology.links,
      cloudlets: topology.cloudlets.map((c) => ({ id: c.id, popId: c.popId, nodes: c.nodes.map((n) => ({ id: n.id, capacity: n.capacity })) })),
    },
  };
  writeFileSync(join(work, 'scheduler.json'), JSON.stringify(config));
  console.log(`topology: ${topology.pops.length} PoPs, ${topology.links.length} links, ${topology.cloudlets.length} cloudlets, ${nodes} nodes`);
  const processes: ChildProcess[] = [];
  try {
    const scheduler = await startProcess(['main/cli/pcctl.ts', 'scheduler', '--config', join(work, 'scheduler.json')], {}, /listening on (\S+)/, 'the scheduler');
    processes.push(scheduler.child);
    const schedulerUrl = scheduler.match[1] as string;
    const results = [];
    for (const [i, mode] of modes.entries()) {
      // The launch URL's token is single-use: one host per page.
      const host = await startProcess(
        ['main/console/headlessMain.ts', '--port', '0', '--scheduler', schedulerUrl],
        { PCLOUD_SCHEDULER_TOKEN: token, PCLOUD_DATA_DIR: join(work, `console-${i}`) },
        /open: (\S+)/,
        'the headless host',
      );
      try {
        console.log(`measuring mode ${mode}…`);
        results.push(await measure(host.match[1] as string, mode).catch((e: unknown) => ({ mode, error: (e as Error).message.split('\n')[0] })));
      } finally {
        await stopProcess(host.child);
      }
    }
    const rows = results.map((r) => {
      if ('error' in r) return { mode: r.mode, error: r.error };
      const pan = r.panAtFit as ReturnType<typeof stats>;
      const panIn = r.panZoomedIn as ReturnType<typeof stats>;
      const zoom = r.zoomWheel as ReturnType<typeof stats>;
      return {
        mode: r.mode,
        elements: `${r.elements as number} → ${r.elementsZoomed as number}`,
        'first render ms': r.firstRenderMs,
        'pan (fit) med/p95/max ms': `${pan.medianMs} / ${pan.p95Ms} / ${pan.maxMs}`,
        'pan (zoomed) med/p95/max ms': `${panIn.medianMs} / ${panIn.p95Ms} / ${panIn.maxMs}`,
        'wheel zoom med/p95/max ms': `${zoom.medianMs} / ${zoom.p95Ms} / ${zoom.maxMs}`,
        'heap MiB': r.heapUsedMiB,
      };
    });
    console.table(rows);
    for (const r of results) if ('marks' in r) console.log(`${r.mode as string}: ms since navigation start`, JSON.stringify(r.marks));
    mkdirSync(join(repoRoot, 'bench', 'results'), { recursive: true });
    const file = join(repoRoot, 'bench', 'results', 'topology.json');
    writeFileSync(
      file,
      `${JSON.stringify({ at: new Date().toISOString(), chromium: '/usr/bin/chromium', viewport: '1600x1000', pops: topology.pops.length, links: topology.links.length, cloudlets: topology.cloudlets.length, nodes, results }, null, 2)}\n`,
    );
    console.log(`wrote ${file}`);
  } finally {
    for (const p of processes.reverse()) await stopProcess(p);
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(`bench:topology: ${(e as Error).message}`);
  process.exit(1);
});
