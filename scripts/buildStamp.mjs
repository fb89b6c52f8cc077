// What a build was made from: one hash over the path, size and modification
// time of every source file that goes into dist/. `npm run serve` compares it
// with the stamp the last build left in dist/ and builds only when it differs.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';

/** Folders and files whose change means dist/ is out of date. */
export const buildSources = ['renderer', 'main', 'preload', 'vite.config.ts', 'package.json', 'package-lock.json', 'tsconfig.json'];

function walk(root, path, out) {
  const full = join(root, path);
  if (!existsSync(full)) return;
  const st = statSync(full);
  if (st.isDirectory()) {
    for (const name of readdirSync(full).sort()) if (name !== 'node_modules') walk(root, join(path, name), out);
  } else if (!/\.test\.ts$/.test(path)) {
    out.push(`${relative(root, full)}\0${st.size}\0${Math.round(st.mtimeMs)}`);
  }
}

export function sourceStamp(root, sources = buildSources) {
  const lines = [];
  for (const s of sources) walk(root, s, lines);
  return createHash('sha256').update(lines.join('\n')).digest('hex');
}

const stampFile = (root, what) => join(root, 'dist', `.built-from-${what}`);

/** True when `what` was last built from exactly these sources and its output is still there. */
export function upToDate(root, what, output) {
  const file = stampFile(root, what);
  return existsSync(file) && existsSync(join(root, output)) && readFileSync(file, 'utf8').trim() === sourceStamp(root);
}

export function recordBuild(root, what, stamp) {
  writeFileSync(stampFile(root, what), `${stamp}\n`);
}
