// `npm run build`: the renderer, main and preload bundles, from the one vite.config.ts.
//   --renderer-only  just the renderer (all the headless host serves; it runs main/ from source)
//   --if-changed     skip a bundle whose sources have not changed since it was last built
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { recordBuild, sourceStamp, upToDate } from './buildStamp.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const args = new Set(process.argv.slice(2));
const bundles = [
  { mode: 'production', what: 'renderer', output: 'dist/renderer/index.html' },
  { mode: 'main', what: 'main', output: 'dist/main/headless.js' },
  { mode: 'preload', what: 'preload', output: 'dist/preload/preload.cjs' },
].filter((b) => !args.has('--renderer-only') || b.what === 'renderer');

const built = [];
for (const { mode, what, output } of bundles) {
  if (args.has('--if-changed') && upToDate(root, what, output)) continue;
  // Stamped before building: a source edited during the build makes the next start build again.
  const stamp = sourceStamp(root);
  const result = spawnSync('npx', ['vite', 'build', '--mode', mode, '--logLevel', 'warn'], { stdio: 'inherit', cwd: root });
  if (result.status !== 0) {
    console.error(`build failed: vite build --mode ${mode} exited ${result.status ?? result.signal}`);
    process.exit(1);
  }
  recordBuild(root, what, stamp);
  built.push(`dist/${what}`);
}
console.log(built.length ? `built ${built.join(', ')}` : `dist/ is up to date (sources unchanged since the last build): nothing to build`);
