/**
 * `pcctl experiment list | run` as an operator types them: the list says
 * what each experiment needs on this host and which remain runnable, a run
 * prints its table and writes results.json, the SVG and report.md where
 * --out says, and an experiment that cannot run here says what it needs.
 */
import { chownSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { pcctlWith } from './harness.ts';

const dataDir = mkdtempSync(join(tmpdir(), 'pcloud-experiment-cli-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

const pcctl = pcctlWith(dataDir);
// An operator without root: as root (CI), pcctl runs as nobody with a data folder of its own.
const nobody = { uid: 65534, gid: 65534 };
const unprivilegedDir = mkdtempSync(join(tmpdir(), 'pcloud-experiment-cli-nobody-'));
if (process.getuid?.() === 0) chownSync(unprivilegedDir, nobody.uid, nobody.gid);
afterAll(() => rmSync(unprivilegedDir, { recursive: true, force: true }));
const pcctlUnprivileged = pcctlWith(unprivilegedDir, process.getuid?.() === 0 ? nobody : undefined);

describe('pcctl experiment', () => {
  test('list without root: every experiment, what the others need, what is runnable here', async () => {
    const r = await pcctlUnprivileged('experiment', 'list');
    expect(r.code).toBe(0);
    for (const name of ['fig5a-delay', 'fig5b-mlffr', 'fig5c-mtu', 'ids-flood', 'cache', 'proximity']) expect(r.stdout).toContain(name);
    expect(r.stdout).toMatch(/ids-flood\s+needs: root/);
    expect(r.stdout).toMatch(/runnable here: .*proximity/);
  });

  test('run proximity --quick --out DIR: progress on stderr, the table on stdout, the files in DIR', async () => {
    const out = join(dataDir, 'chosen');
    const r = await pcctl('experiment', 'run', 'proximity', '--quick', '--out', out);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/\[\d+%\] placing 150 requests, policy \w+, about \d+ s left/);
    expect(r.stdout).toMatch(/mean RTT, closest\s+ms\s+[\d.]+/);
    for (const f of ['results.json', 'report.md', 'proximity-rtt-cdf.svg']) expect(existsSync(join(out, f))).toBe(true);
    expect(readFileSync(join(out, 'report.md'), 'utf8')).toContain('| quantity | unit | ours | paper | ours / paper |');
  });

  test('an experiment that cannot run here says what it needs (exit 1); an unknown one is named', async () => {
    const flood = await pcctlUnprivileged('experiment', 'run', 'ids-flood', '--quick');
    expect(flood.code).toBe(1);
    expect(flood.stderr).toMatch(/experiment "ids-flood" cannot run on this host: it needs root.*Runnable here: .*proximity/);
    const unknown = await pcctl('experiment', 'run', 'fig9');
    expect(unknown.stderr).toMatch(/no experiment "fig9" \(known: fig5a-delay, /);
  });
});
