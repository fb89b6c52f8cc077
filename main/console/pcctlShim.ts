/**
 * A `pcctl` command for terminals opened on a connection. The console may be
 * running as Node (headless) or as Electron, and a packaged app has no
 * separate Node on PATH, so a small shell script in the data folder runs this
 * process's own runtime on pcctl's entry (Electron acting as Node).
 */
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pcctlEntry } from './processLauncher.ts';

function quote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

/** Writes (or refreshes) <dataDir>/bin/pcctl and returns the folder to put on PATH. */
export function ensurePcctlShim(dataDir: string): string {
  const dir = join(dataDir, 'bin');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const entry = pcctlEntry();
  const runAsNode = process.versions.electron ? 'ELECTRON_RUN_AS_NODE=1 ' : '';
  const script = `#!/bin/sh\n# Written by PacketCloud Console: pcctl on this console's runtime.\n${runAsNode}exec ${[process.execPath, ...entry.execArgv, entry.file].map(quote).join(' ')} "$@"\n`;
  const file = join(dir, 'pcctl');
  let current = '';
  try {
    current = readFileSync(file, 'utf8');
  } catch {
    // Not written yet.
  }
  if (current !== script) writeFileSync(file, script, { mode: 0o700 });
  chmodSync(file, 0o700);
  return dir;
}
