/**
 * `npm run serve` lands here: the console backend and built renderer served to
 * a browser. Options: --host (127.0.0.1), --port (8765; 0 picks a free one),
 * --cert FILE --key FILE (required for a non-loopback host), --renderer DIR,
 * --lab TOPOLOGY|none (the embedded lab to start when no connection was saved),
 * --scheduler URL (connect to that scheduler instead; token in the
 * PCLOUD_SCHEDULER_TOKEN environment variable, never on the command line).
 */
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pkg from '../../package.json' with { type: 'json' };
import { controllerApi } from '../protocol/controllerApi.ts';
import { createConsoleBackend } from './consoleBackend.ts';
import { defaultDataDir } from './dataDir.ts';
import { labControllerConfig } from './labControllerConfig.ts';
import { LabSupervisor } from './labSupervisor.ts';
import { childProcessLauncher } from './processLauncher.ts';
import { fileModeVault } from './profiles.ts';
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
      lab: { type: 'string' },
      scheduler: { type: 'string' },
    },
  });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port ${values.port}: expected an integer 0-65535`);
  if (Boolean(values.cert) !== Boolean(values.key)) throw new Error('--cert and --key go together');
  const dataDir = defaultDataDir();
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const schedulerToken = process.env.PCLOUD_SCHEDULER_TOKEN;
  if (values.scheduler && !schedulerToken) throw new Error('--scheduler needs the token in the PCLOUD_SCHEDULER_TOKEN environment variable');
  const lab = new LabSupervisor({ dataDir, launcher: childProcessLauncher, writeControllerConfig: labControllerConfig });
  const backend = createConsoleBackend({
    version: pkg.version,
    transport: 'headless',
    dataDir,
    vault: fileModeVault,
    controllerContract: controllerApi,
    lab,
  });
  const host = await startHeadlessHost({
    host: values.host,
    port,
    rendererDir: findRendererDir(values.renderer),
    backend,
    ...(values.cert && values.key ? { tls: { certFile: values.cert, keyFile: values.key } } : {}),
  });
  process.stdout.write(`PacketCloud Console (headless) serving ${host.origin}\nopen: ${host.url}\n`);
  // Connect after the URL is out, so a browser can watch the lab come up.
  if (values.scheduler && schedulerToken) {
    void backend.connections.useRemote(new URL(values.scheduler).host, values.scheduler, schedulerToken);
  } else if (values.lab !== 'none') {
    void (values.lab ? backend.connections.useLab(values.lab) : backend.connectDefault());
  }
  let closing = false;
  const shutdown = (): void => {
    if (closing) return;
    closing = true;
    // The lab too, also one still starting (Ctrl-C during start-up must not leave daemons behind).
    void Promise.all([host.close(), lab.shutdown()]).then(() => process.exit(0));
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
}

main().catch((e: unknown) => {
  process.stderr.write(`headless host: ${(e as Error).message}\n`);
  process.exit(1);
});
