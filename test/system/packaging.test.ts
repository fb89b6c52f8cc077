/**
 * Offline packaging check. The real Electron runtime cannot be downloaded on
 * the build machines, so electron-builder packs against a placeholder
 * "Electron distribution" this test makes (a stub executable). What we check
 * is ours: the targets declared, and what goes into app.asar and beside it.
 */
import { listPackage } from '@electron/asar';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { repoRoot } from './harness.ts';

const require = createRequire(join(repoRoot, 'node_modules', 'app-builder-lib', 'package.json'));
const yaml = require('js-yaml') as { load(text: string): unknown };

interface BuilderConfig {
  appId: string;
  productName: string;
  icon: string;
  asar: boolean;
  asarUnpack: string[];
  npmRebuild: boolean;
  extraResources: { from: string }[];
  linux: { target: string[] };
  mac: { target: { target: string; arch: string[] }[] };
}

const config = yaml.load(readFileSync(join(repoRoot, 'electron-builder.yml'), 'utf8')) as BuilderConfig;

describe('electron-builder.yml', () => {
  test('declares the real targets for Linux and macOS', () => {
    expect(config.linux.target).toEqual(['AppImage', 'deb', 'tar.gz']);
    expect(config.mac.target.map((t) => t.target).sort()).toEqual(['dmg', 'zip']);
    for (const t of config.mac.target) expect(t.arch.sort()).toEqual(['arm64', 'x64']);
  });

  test('names the app, uses our icon, unpacks native modules and does not rebuild them', () => {
    expect(config.appId).toMatch(/^[a-z]+(\.[a-z]+)+$/);
    expect(config.productName).toBe('PacketCloud Console');
    expect(existsSync(join(repoRoot, config.icon))).toBe(true);
    expect(config.asar).toBe(true);
    expect(config.asarUnpack).toContain('**/*.node');
    expect(config.npmRebuild).toBe(false);
    expect(config.extraResources.map((r) => r.from)).toContain('resources');
  });
});

describe('the bundles run on their own (as the packaged app runs them)', () => {
  test('the bundled pcctl finds the lab topologies, starts a lab whose controllers connect, and stops it', () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'pcloud-bundle-lab-'));
    const pcctl = (...args: string[]) =>
      spawnSync(process.execPath, [join(repoRoot, 'dist/main/pcctl.js'), ...args], { cwd: tmpdir(), encoding: 'utf8', timeout: 90_000, env: { ...process.env, PCLOUD_DATA_DIR: dataDir } });
    try {
      const up = pcctl('lab', 'up', '--topology', 'deterlab');
      expect(up.status, up.stderr).toBe(0);
      const status = pcctl('lab', 'status', '--topology', 'deterlab', '--json');
      expect(status.status, status.stderr).toBe(0);
      expect(JSON.parse(status.stdout)).toMatchObject({ up: true, scheduler: { cloudlets: [{ id: 'C1', connected: true }, { id: 'C2', connected: true }] } });
    } finally {
      expect(pcctl('lab', 'down').status).toBe(0);
    }
  });
});

describe('electron-builder --linux dir (placeholder Electron runtime)', () => {
  let work: string;
  let resources: string;
  let entries: string[];

  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'pcloud-pack-'));
    const electronDist = join(work, 'electron-placeholder');
    mkdirSync(electronDist);
    writeFileSync(join(electronDist, 'electron'), '#!/bin/sh\necho "placeholder Electron runtime for the packaging test"\n');
    chmodSync(join(electronDist, 'electron'), 0o755);
    const out = join(work, 'release');
    const result = spawnSync(
      process.execPath,
      [join(repoRoot, 'node_modules/electron-builder/cli.js'), '--linux', 'dir', `-c.electronDist=${electronDist}`, `-c.directories.output=${out}`],
      { cwd: repoRoot, encoding: 'utf8', timeout: 240_000, env: { ...process.env, ELECTRON_SKIP_BINARY_DOWNLOAD: '1' } },
    );
    if (result.status !== 0) throw new Error(`electron-builder failed (${result.status}):\n${result.stdout}\n${result.stderr}`);
    resources = join(out, 'linux-unpacked', 'resources');
    entries = listPackage(join(resources, 'app.asar'), { isPack: false }).map((e) => e.replaceAll('\\', '/'));
  });

  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  test('app.asar holds the built main, preload and renderer', () => {
    for (const file of ['/package.json', '/dist/main/shell.js', '/dist/main/headless.js', '/dist/main/pcctl.js', '/dist/preload/preload.cjs', '/dist/renderer/index.html']) {
      expect(entries).toContain(file);
    }
    expect(entries.some((e) => /^\/dist\/renderer\/assets\/index-.*\.js$/.test(e))).toBe(true);
  });

  test('app.asar holds no sources, tests or source maps of ours', () => {
    const ours = entries.filter((e) => !e.startsWith('/node_modules/'));
    expect(ours.filter((e) => /\.(ts|vue|cc|h|map)$/.test(e) || /\.test\./.test(e))).toEqual([]);
    expect(ours.filter((e) => /^\/(main|renderer|preload|test|bench|scripts)(\/|$)/.test(e))).toEqual([]);
    expect(entries.filter((e) => /\/node_modules\/better-sqlite3\/deps\//.test(e))).toEqual([]);
  });

  test("app.asar.unpacked holds node-pty's, better-sqlite3's and our .node files", () => {
    const unpacked = join(resources, 'app.asar.unpacked');
    const arch = `${process.platform}-${process.arch}`;
    expect(existsSync(join(unpacked, 'node_modules/node-pty/build/Release/pty.node'))).toBe(true);
    expect(existsSync(join(unpacked, `node_modules/better-sqlite3/prebuilds/${arch}.node`))).toBe(true);
    expect(existsSync(join(unpacked, 'native/build/Release/packetcloud_native.node'))).toBe(true);
  });

  test('resources/ ships beside the archive', () => {
    expect(existsSync(join(resources, 'resources', 'icons', 'icon.png'))).toBe(true);
  });
});
