// `npm run serve [-- --port N --host H --cert F --key F]`: build the renderer
// if its sources changed since the last build, then run the headless host
// (from source), which prints the URL (with its single-use token) to open.
import { spawnSync } from 'node:child_process';

const build = spawnSync('node', ['scripts/build.mjs', '--renderer-only', '--if-changed'], { stdio: 'inherit' });
if (build.status !== 0) process.exit(build.status ?? 1);
const host = spawnSync('node', ['--disable-warning=ExperimentalWarning', 'main/console/headlessMain.ts', ...process.argv.slice(2)], { stdio: 'inherit' });
process.exit(host.status ?? 1);
