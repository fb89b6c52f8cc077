// Builds native/ (our Node-API addon) with node-gyp at `npm install` time.
// node-gyp comes with npm; the headers come from npm_config_nodedir (set by
// scripts/node.sh to the fetched Node's headers, or by the machine's npmrc), so
// nothing is downloaded.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const nativeDir = join(root, 'native');
if (!existsSync(join(nativeDir, 'binding.gyp'))) process.exit(0);

const gyp = process.env.npm_config_node_gyp;
const [cmd, args] = gyp ? [process.execPath, [gyp]] : ['node-gyp', []];
const jobs = String(Math.max(1, (await import('node:os')).availableParallelism()));
const result = spawnSync(cmd, [...args, 'rebuild', `--jobs=${jobs}`], { cwd: nativeDir, stdio: 'inherit' });
if (result.status !== 0) {
  console.error(`native addon build failed in ${nativeDir} (exit ${result.status ?? result.signal})`);
  process.exit(1);
}
