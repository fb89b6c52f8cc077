/**
 * `npm run serve` lands here: the console backend and built renderer served to
 * a browser. Options: --host (127.0.0.1), --port (8765; 0 picks a free one),
 * --cert FILE --key FILE (required for a non-loopback host), --renderer DIR.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pkg from '../../package.json' with { type: 'json' };
import { createConsoleBackend } from './consoleBackend.ts';
import { defaultDataDir } from './dataDir.ts';
import { startHeadlessHost } from './headlessHost.ts';

function findRendererDir(explicit: string | undefined): string {
  const here = dirname(fileURLToPath(import.meta.url));
  // From sources (main/console/) or from the bundle (dist/main/).
  const candidates = explicit ? [explicit] : [join(here, '..', '..', 'dist', 'renderer'), join(here, '..', 'renderer')];
  const found = candidates.find((dir) => existsSync(join(dir, 'index.html')));
  if (!found) throw new Error(`no built renderer in ${candidates.join(' or ')}: run \`npm run build\` first`);
  return found;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: '8765' },
      cert: { type: 'string' },
      key: { type: 'string' },
      renderer: { type: 'string' },
    },
  });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port ${values.port}: expected an integer 0-65535`);
  if (Boolean(values.cert) !== Boolean(values.key)) throw new Error('--cert and --key go together');
  const dataDir = defaultDataDir();
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const backend = createConsoleBackend({ version: pkg.version, transport: 'headless', dataDir });
  const host = await startHeadlessHost({
    host: values.host,
    port,
    rendererDir: findRendererDir(values.renderer),
    backend,
    ...(values.cert && values.key ? { tls: { certFile: values.cert, keyFile: values.key } } : {}),
  });
  process.stdout.write(`PacketCloud Console (headless) serving ${host.origin}\nopen: ${host.url}\n`);
  let closing = false;
  const shutdown = (): void => {
    if (closing) return;
    closing = true;
    void host.close().then(() => process.exit(0));
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
}

main().catch((e: unknown) => {
  process.stderr.write(`headless host: ${(e as Error).message}\n`);
  process.exit(1);
});
