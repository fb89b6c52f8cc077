// Prints the addon's C++ sources for binding.gyp: every .cc under src/, in a
// stable order. Fuzz drivers live in fuzz/ and are built separately by clang.
import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));
const walk = (dir) =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(join(dir, e.name)) : e.name.endsWith('.cc') ? [join(dir, e.name)] : [],
  );
console.log(walk(join(here, 'src')).map((f) => relative(here, f)).sort().join(' '));
