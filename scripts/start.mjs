// `npm start`: build, then open the desktop app with the Electron runtime that
// `npm install` fetched. Where it could not be fetched (these build machines),
// say so and point at the headless host.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const build = spawnSync('node', ['scripts/build.mjs'], { stdio: 'inherit' });
if (build.status !== 0) process.exit(build.status ?? 1);

const require = createRequire(import.meta.url);
const electronDir = dirname(require.resolve('electron/package.json'));
const pathFile = join(electronDir, 'path.txt');
if (!existsSync(pathFile)) {
  console.error(
    'The Electron runtime is not installed (npm install ran with ELECTRON_SKIP_BINARY_DOWNLOAD=1 or could not download it).\n' +
      'On a desktop with network access: `npm rebuild electron` fetches it. Without it, `npm run serve` serves the same console to a browser.',
  );
  process.exit(1);
}
const electron = require('electron');
const app = spawnSync(electron, ['.', ...process.argv.slice(2)], { stdio: 'inherit' });
process.exit(app.status ?? 0);
