// `npm run build`: the renderer, main and preload bundles, from the one vite.config.ts.
import { spawnSync } from 'node:child_process';

for (const mode of ['production', 'main', 'preload']) {
  const result = spawnSync('npx', ['vite', 'build', '--mode', mode, '--logLevel', 'warn'], { stdio: 'inherit' });
  if (result.status !== 0) {
    console.error(`build failed: vite build --mode ${mode} exited ${result.status ?? result.signal}`);
    process.exit(1);
  }
}
console.log('built dist/renderer, dist/main and dist/preload');
