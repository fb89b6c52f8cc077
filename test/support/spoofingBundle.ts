/**
 * The spoofing service packaged as a provider's bundle (uploads.ts): a tar
 * with manifest.json and spoofingBundle/spoof.py, made from the files here as
 * `tar` would. It runs as program "upload" on a tap port (single layout), on
 * the system's /usr/bin/python3 (its shebang: one the VI's unprivileged user
 * can run, unlike a per-user install).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tarArchive } from './tarBundle.ts';

export function spoofingBundle(): Buffer {
  return tarArchive([
    { name: 'manifest.json', data: JSON.stringify({ command: ['spoof.py'] }) },
    { name: 'spoof.py', mode: 0o755, data: readFileSync(join(import.meta.dirname, 'spoofingBundle', 'spoof.py')) },
  ]);
}
