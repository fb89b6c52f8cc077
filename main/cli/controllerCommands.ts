/**
 * pcctl commands for cloudlet controllers:
 *   controller --config FILE        run the daemon in the foreground until SIGINT/SIGTERM
 *   cloudlet <action> --url --token talk to a running controller as a viewer or operator
 *   router flows <cloudlet> --url   its front-end router's flows beside the rules they come from
 *   attest keygen|sign              make a trust anchor and sign prefix-ownership attestations
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { RpcClient } from '../protocol/client.ts';
import { controllerApi, type ServiceOffer } from '../protocol/controllerApi.ts';
import { uploadBundleInChunks } from '../protocol/bundleUpload.ts';
import { BUNDLE_CHUNK_BYTES } from '../protocol/domain.ts';
import { defaultUploadLimits } from '../controller/uploads.ts';
import { ConfigError, loadControllerConfig } from '../controller/config.ts';
import { ControllerDaemon } from '../controller/daemon.ts';
import { hostIsolationSummary } from '../controller/sandbox.ts';
import { newAnchorKeys, signAttestation } from '../controller/ownership.ts';
import { UsageError, type Command } from './command.ts';
import { connectScheduler, defaultSchedulerUrl } from './reservationCommands.ts';

const controllerUsage = `usage: pcctl controller --config FILE

Runs a cloudlet controller. FILE is JSON:
  cloudletId, scheduler {url, token, reportIntervalMs?, backoffMs?, maxBackoffMs?},
  listen {host, port, tls?, advertiseUrl?}, tokens [{token, role: viewer|operator, name}],
  nodes [{id, capacity {cpu, memMiB, diskGiB, netMbps}}], stateDir,
  trustAnchors [{name, publicKey}], ispRules [demux rules], programs {id: {command}},
  sandbox {mode: auto|rlimits, graceMs, nofile, maxProcesses, viUids {first, count}},
  onExit: keep|stop, metrics {host, port}?,
  router {kind: ovs, bridge, vxlanPort, ovsdb, openflow?, vni, checkIntervalMs?, commandTimeoutMs?}?
`;

const routerUsage = `usage: pcctl router flows <cloudlet> --url URL [--token TOKEN] [--json]

Shows the flows the cloudlet's controller installed in its front-end router
(OpenFlow table 0, the flows carrying its cookie) as the router reports them,
each beside the rule it comes from, and the flows the rule book asks for that
the router does not have. The token may also come from $PCLOUD_TOKEN.
`;

const cloudletUsage = `usage: pcctl cloudlet <action> --url URL [--token TOKEN] [options]

Actions (viewer): info, services, nodes, vis, rules, alarms, audit
Actions (operator, each needs --reason TEXT):
  terminate --vi ID
  quarantine --vi ID | release --vi ID
  restrict --vi ID [--cpu CORES] [--mem-mib MIB] [--pps N] [--mbps MBIT]
  node-down --node ID | node-up --node ID
The token may also come from $PCLOUD_TOKEN. Output is JSON.
`;

const attestUsage = `usage: pcctl attest keygen --out FILE
       pcctl attest sign --key FILE --prefix PREFIX --provider ID [--days N]

keygen writes an Ed25519 private key (PEM) to FILE and prints the public key to
put in a controller's trustAnchors; sign prints an attestation for a demux
rule's ownershipProof.
`;

async function runController(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { config: { type: 'string' }, help: { type: 'boolean' } }, strict: true });
  if (values.help) {
    process.stdout.write(controllerUsage);
    return 0;
  }
  if (!values.config) throw new UsageError(`pcctl controller: --config FILE is required\n\n${controllerUsage}`);
  let config;
  try {
    config = loadControllerConfig(values.config);
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`pcctl controller: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
  const daemon = new ControllerDaemon(config);
  const started = await daemon.start();
  const iso = daemon.host;
  const isolation = `namespaces: ${hostIsolationSummary(iso).namespaces.join(' ') || 'none'}; cgroup: ${iso.cgroup?.version ?? 'none'}; rlimits${iso.notes.length ? ` (${iso.notes.join('; ')})` : ''}`;
  process.stdout.write(`controller ${config.cloudletId} listening on ${started.url}${started.metricsUrl ? `, metrics at ${started.metricsUrl}` : ''}\n`);
  process.stdout.write(`controller ${config.cloudletId} isolation: ${isolation}\n`);
  await new Promise<void>((resolve) => {
    const stop = (signal: string): void => {
      process.stdout.write(`controller ${config.cloudletId}: ${signal}, shutting down (VIs: ${config.onExit === 'keep' ? 'kept for re-adoption' : 'stopped'})\n`);
      void daemon.stop().then(resolve);
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
  return 0;
}

async function runCloudlet(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: {
      url: { type: 'string' },
      token: { type: 'string' },
      vi: { type: 'string' },
      node: { type: 'string' },
      reason: { type: 'string' },
      cpu: { type: 'string' },
      'mem-mib': { type: 'string' },
      pps: { type: 'string' },
      mbps: { type: 'string' },
      help: { type: 'boolean' },
    },
  });
  const action = positionals[0];
  if (values.help || !action) {
    process.stdout.write(cloudletUsage);
    return values.help ? 0 : 2;
  }
  const client = await connectController('pcctl cloudlet', values, cloudletUsage);
  const need = (v: string | undefined, flag: string): string => {
    if (!v) throw new UsageError(`pcctl cloudlet ${action}: ${flag} is required\n\n${cloudletUsage}`);
    return v;
  };
  const num = (v: string | undefined, flag: string): number | undefined => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new UsageError(`pcctl cloudlet ${action}: ${flag} must be a non-negative number, not "${v}"`);
    return n;
  };
  try {
    let result: unknown;
    switch (action) {
      case 'info': result = await client.call('cloudlet.info', {}); break;
      case 'services': result = await client.call('service.list', {}); break;
      case 'nodes': result = await client.call('node.list', {}); break;
      case 'vis': result = await client.call('vi.list', {}); break;
      case 'rules': result = await client.call('rule.list', {}); break;
      case 'alarms': result = await client.call('alarm.list', {}); break;
      case 'audit': result = await client.call('audit.list', {}); break;
      case 'terminate':
        result = await client.call('vi.terminate', { viId: need(values.vi, '--vi'), reason: need(values.reason, '--reason') });
        break;
      case 'quarantine':
      case 'release':
        result = await client.call(action === 'quarantine' ? 'vi.quarantine' : 'vi.release', { viId: need(values.vi, '--vi'), reason: need(values.reason, '--reason') });
        break;
      case 'restrict': {
        const cpu = num(values.cpu, '--cpu');
        const memMiB = num(values['mem-mib'], '--mem-mib');
        const ppsCap = num(values.pps, '--pps');
        const mbpsCap = num(values.mbps, '--mbps');
        result = await client.call('vi.restrict', {
          viId: need(values.vi, '--vi'),
          reason: need(values.reason, '--reason'),
          ...(cpu !== undefined ? { cpu } : {}),
          ...(memMiB !== undefined ? { memMiB } : {}),
          ...(ppsCap !== undefined ? { ppsCap: Math.round(ppsCap) } : {}),
          ...(mbpsCap !== undefined ? { mbpsCap } : {}),
        });
        break;
      }
      case 'node-down':
      case 'node-up':
        result = await client.call('node.setHealth', { nodeId: need(values.node, '--node'), health: action === 'node-down' ? 'down' : 'up', reason: need(values.reason, '--reason') });
        break;
      default:
        throw new UsageError(`pcctl cloudlet: unknown action "${action}"\n\n${cloudletUsage}`);
    }
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    return 0;
  } finally {
    client.close();
  }
}

const servicesUsage = `usage: pcctl services --url URL [--token TOKEN] [--json]

The service programs a cloudlet's controller offers: kind (visible or
transparent), port (ring or tap, one or two interfaces), the arguments each
takes (* = required), and whether this host can run it, with the reason when
not. The token (viewer or operator) may also come from $PCLOUD_TOKEN.
`;

/** The offers as a table a person reads; --json gives them as the controller sent them. */
export function formatServices(services: readonly ServiceOffer[]): string {
  const rows = services.map((s) => [
    s.program,
    s.mode ?? '-',
    s.port ? `${s.port.kind}/${s.port.layout}` : '-',
    s.args === null ? '(any)' : s.args.map((a) => `${a.name}${a.required ? '*' : ''}`).join(' ') || '(none)',
    s.available ? 'yes' : `no: ${s.reason ?? 'unavailable'}`,
  ]);
  const header = ['PROGRAM', 'MODE', 'PORT', 'ARGS', 'AVAILABLE'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ');
  const summaries = services.map((s) => `  ${s.program}: ${s.summary}`);
  return `${[line(header), ...rows.map(line)].join('\n')}\n\n${summaries.join('\n')}\n`;
}

async function runServices(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, strict: true, options: { url: { type: 'string' }, token: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean' } } });
  if (values.help) {
    process.stdout.write(servicesUsage);
    return 0;
  }
  const client = await connectController('pcctl services', values, servicesUsage);
  try {
    const { services } = await client.call('service.list', {});
    process.stdout.write(values.json ? `${JSON.stringify(services, null, 2)}\n` : formatServices(services));
    return 0;
  } finally {
    client.close();
  }
}

const uploadUsage = `usage: pcctl upload RESERVATION BUNDLE.tar [--url SCHEDULER] [--token TOKEN | --token-file F] [--reason TEXT]
       pcctl upload RESERVATION BUNDLE.tar --controller URL [--token TOKEN] [--reason TEXT]

Stores a program bundle for a reservation. The bundle is a tar archive with
manifest.json at its top naming the command to run, a file of the bundle:
{"command": ["./run.sh", "--verbose"]}. The reservation's service program
must be "upload"; its VI runs the command as its own unprivileged user.

By default the bundle goes to the scheduler (--url, PCLOUD_SCHEDULER_URL, default
${defaultSchedulerUrl}) with a provider token, for the provider's own
reservation: the scheduler forwards it to the controller of the cloudlet that
holds the reservation, in chunks of ${BUNDLE_CHUNK_BYTES / 1024} KiB with their offsets, the last with
the bundle's SHA-256, up to ${defaultUploadLimits.bundleBytes / 1024 / 1024} MiB. With --controller the bundle goes
straight to that controller in one message (an operator token; as much as
one message holds). Either way the controller refuses links out of the
bundle, "..", device files, set-uid files, oversized and corrupt bundles,
saying which member or what was wrong, and keeps nothing of a refused upload.
`;

async function runUpload(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: { url: { type: 'string' }, controller: { type: 'string' }, token: { type: 'string' }, 'token-file': { type: 'string' }, reason: { type: 'string' }, help: { type: 'boolean' } },
  });
  if (values.help) {
    process.stdout.write(uploadUsage);
    return 0;
  }
  const [reservationId, file] = positionals;
  if (!reservationId || !file || positionals.length > 2) throw new UsageError(`pcctl upload: give the reservation and the bundle file\n\n${uploadUsage}`);
  if (values.controller && values.url) throw new UsageError(`pcctl upload: --url (the scheduler) and --controller exclude each other\n\n${uploadUsage}`);
  const bundle = readFileSync(file);
  const reason = values.reason ?? `uploaded with pcctl from ${file}`;
  if (!values.controller) {
    if (bundle.length === 0) throw new UsageError('pcctl upload: the bundle file is empty');
    const client = await connectScheduler(values);
    try {
      const stored = await uploadBundleInChunks(client, reservationId, bundle, reason);
      process.stdout.write(`${JSON.stringify(stored, null, 2)}\n`);
      return 0;
    } finally {
      client.close();
    }
  }
  const client = await connectController('pcctl upload', { url: values.controller, token: values.token }, uploadUsage, 60_000);
  try {
    const stored = await client.call('bundle.upload', { reservationId, bundle: bundle.toString('base64'), reason });
    process.stdout.write(`${JSON.stringify(stored, null, 2)}\n`);
    return 0;
  } finally {
    client.close();
  }
}

/** A connected client of the controller at --url, with --token or $PCLOUD_TOKEN. */
async function connectController(command: string, values: { url?: string | undefined; token?: string | undefined }, usage: string, timeoutMs = 30_000): Promise<RpcClient<typeof controllerApi>> {
  const token = values.token ?? process.env.PCLOUD_TOKEN;
  const missing = [!values.url && '--url (the controller\'s ws:// or wss:// address)', !token && '--token (or $PCLOUD_TOKEN)'].filter(Boolean);
  if (missing.length || !values.url || !token) throw new UsageError(`${command}: ${missing.join(' and ')} ${missing.length > 1 ? 'are' : 'is'} missing\n\n${usage}`);
  const client = new RpcClient(controllerApi, { url: values.url, token, client: 'pcctl', timeoutMs });
  await client.connect();
  return client;
}

async function runRouter(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: { url: { type: 'string' }, token: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean' } },
  });
  const [action, cloudletId] = positionals;
  if (values.help || !action) {
    process.stdout.write(routerUsage);
    return values.help ? 0 : 2;
  }
  if (action !== 'flows') throw new UsageError(`pcctl router: unknown action "${action}"\n\n${routerUsage}`);
  if (!cloudletId) throw new UsageError(`pcctl router flows: name the cloudlet\n\n${routerUsage}`);
  const client = await connectController('pcctl router flows', values, routerUsage);
  try {
    // The URL and the name must agree: flows shown under the wrong cloudlet's name would mislead.
    const info = await client.call('cloudlet.info', {});
    if (info.cloudletId !== cloudletId) {
      process.stderr.write(`pcctl router flows: ${values.url} is the controller of cloudlet ${info.cloudletId}, not ${cloudletId}\n`);
      return 1;
    }
    const table = await client.call('router.flows', {});
    if (values.json) {
      process.stdout.write(`${JSON.stringify(table, null, 2)}\n`);
      return table.ok ? 0 : 1;
    }
    const rows = [['PRIORITY', 'PACKETS', 'FLOW', 'RULE'], ...table.flows.map((f) => [String(f.priority), String(f.packets), f.flow, f.rule])];
    const widths = [0, 1, 2].map((i) => Math.max(...rows.map((r) => (r[i] as string).length)));
    const line = (r: string[]): string => `${r.map((c, i) => (i < 3 ? c.padEnd(widths[i] as number) : c)).join('  ')}\n`;
    process.stdout.write(`cloudlet ${cloudletId}, ${table.router}: ${table.ok ? 'programmed as the rule book says' : table.problem}\n`);
    process.stdout.write(rows.map(line).join(''));
    if (table.missing.length) {
      process.stdout.write(`\nmissing from the router (${table.missing.length}):\n`);
      for (const m of table.missing) process.stdout.write(`  priority ${m.priority}  ${m.flow}  <- ${m.rule}\n`);
    }
    return table.ok ? 0 : 1;
  } finally {
    client.close();
  }
}

async function runAttest(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: { out: { type: 'string' }, key: { type: 'string' }, prefix: { type: 'string' }, provider: { type: 'string' }, days: { type: 'string', default: '365' }, help: { type: 'boolean' } },
  });
  const action = positionals[0];
  if (values.help || !action) {
    process.stdout.write(attestUsage);
    return values.help ? 0 : 2;
  }
  if (action === 'keygen') {
    if (!values.out) throw new UsageError(`pcctl attest keygen: --out FILE is required\n\n${attestUsage}`);
    const keys = newAnchorKeys();
    writeFileSync(values.out, keys.privateKeyPem, { mode: 0o600, flag: 'wx' });
    process.stdout.write(keys.publicKeyPem);
    return 0;
  }
  if (action === 'sign') {
    if (!values.key || !values.prefix || !values.provider) throw new UsageError(`pcctl attest sign: --key, --prefix and --provider are required\n\n${attestUsage}`);
    const days = Number(values.days);
    if (!Number.isFinite(days) || days <= 0) throw new UsageError(`pcctl attest sign: --days must be a positive number, not "${values.days}"`);
    const proof = signAttestation({ prefix: values.prefix, provider: values.provider, notAfter: Date.now() + Math.round(days * 86_400_000) }, readFileSync(values.key, 'utf8'));
    process.stdout.write(`${proof}\n`);
    return 0;
  }
  throw new UsageError(`pcctl attest: unknown action "${action}"\n\n${attestUsage}`);
}

export const controllerCommands: Record<string, Command> = {
  controller: { summary: 'run a cloudlet controller (--config FILE)', run: runController },
  cloudlet: { summary: "a running controller's nodes, VIs, rules, alarms; terminate, restrict, node down/up", run: runCloudlet },
  upload: { summary: "store a reservation's program bundle: through the scheduler in chunks (provider), or --controller URL", run: runUpload },
  services: { summary: 'the service programs a controller offers, their arguments and availability (--url)', run: runServices },
  router: { summary: "a cloudlet's front-end router: its flows beside the rules they come from", run: runRouter },
  attest: { summary: 'make a trust-anchor key and sign prefix-ownership attestations', run: runAttest },
};
