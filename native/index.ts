// Typed loader for the packetcloud_native addon. The rest of the repository
// imports from here and never touches the raw binding.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

/** Where node-gyp leaves the addon; inside an asar archive it is unpacked beside it. */
export function addonPath(): string {
  const candidates = [
    join(here, 'build', 'Release', 'packetcloud_native.node'),
    join(here, '..', 'native', 'build', 'Release', 'packetcloud_native.node'),
  ].map((p) => p.replace(`app.asar${'/'}`, 'app.asar.unpacked/'));
  const found = candidates.find((p) => existsSync(p));
  if (!found) {
    throw new Error(`native addon not built: looked in ${candidates.join(', ')}; run \`npm install\` (it builds native/ with node-gyp)`);
  }
  return found;
}

let binding: unknown;

/** The raw binding, loaded once. Typed wrappers in this folder narrow it. */
export function loadBinding<T>(): T {
  binding ??= createRequire(import.meta.url)(addonPath());
  return binding as T;
}
export * from './demux.ts';
export * from './crypto.ts';
