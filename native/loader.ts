// Loads the packetcloud_native addon once. The typed wrappers of this folder
// (demux.ts, crypto.ts, dataplane.ts) import it from here, not from index.ts,
// so that index.ts can re-export them without an import cycle.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

/**
 * Where node-gyp leaves what it builds (the addon, the pcloud-delayline
 * program): beside this file in a source checkout, or, from a bundle
 * (dist/main/, dist/main/chunks/), in native/build/ of the app folder above
 * it. Inside an asar archive it is unpacked beside the archive.
 */
export function nativeBuildPath(name: string): string {
  const file = join('build', 'Release', name);
  const candidates = [join(here, file)];
  for (let dir = here, up = 0; up < 4; up++, dir = dirname(dir)) candidates.push(join(dirname(dir), 'native', file));
  const unpacked = candidates.map((p) => p.replace(`app.asar${'/'}`, 'app.asar.unpacked/'));
  const found = unpacked.find((p) => existsSync(p));
  if (!found) {
    throw new Error(`native ${name} not built: looked in ${unpacked.join(', ')}; run \`npm install\` (it builds native/ with node-gyp)`);
  }
  return found;
}

export function addonPath(): string {
  return nativeBuildPath('packetcloud_native.node');
}

let binding: unknown;

/** The raw binding, loaded once. Typed wrappers in this folder narrow it. */
export function loadBinding<T>(): T {
  binding ??= createRequire(import.meta.url)(addonPath());
  return binding as T;
}
