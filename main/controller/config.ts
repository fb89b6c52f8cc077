/**
 * The controller's configuration file (JSON): which cloudlet it runs, how it
 * reaches the scheduler, where consoles reach it, its node inventory, where it
 * keeps state, the trust anchors for prefix-ownership attestations, the ISP's
 * own demux rules, and optional Prometheus metrics. A bad file is refused with
 * the field and the reason, never half-loaded. Relative paths are relative to
 * the file.
 */
import { accessSync, chmodSync, constants, mkdirSync, readFileSync, statfsSync, statSync } from 'node:fs';
import { isIP } from 'node:net';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { z } from 'zod';
import { describeIssues } from '../protocol/dispatcher.ts';
import { isLoopbackHost } from '../protocol/listen.ts';
import { DemuxRuleSpecSchema, ResourcesSchema } from '../protocol/domain.ts';
import { IdSchema } from '../protocol/roles.ts';

const TokenSchema = z.discriminatedUnion('role', [
  z.strictObject({ token: z.string().min(16), role: z.literal('viewer'), name: z.string().max(128) }),
  z.strictObject({ token: z.string().min(16), role: z.literal('operator'), name: z.string().max(128) }),
]);

// ------------------------------------------------------------ sampled packets: evidence rings and sFlow export

/** "host:port", "[v6]:port": an sFlow collector. Hostnames are resolved once, when the exporter starts. */
const SflowCollectorSchema = z.string().transform((text, ctx) => {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text);
  const port = m ? Number(m[3]) : 0;
  if (!m || port < 1 || port > 65535) {
    ctx.addIssue({ code: 'custom', message: `collector "${text}" is not host:port with a port 1-65535 (e.g. 127.0.0.1:6343 or [::1]:6343)` });
    return z.NEVER;
  }
  const host = m[1] ?? m[2]!;
  if (m[1] !== undefined && isIP(host) !== 6) {
    ctx.addIssue({ code: 'custom', message: `collector "${text}": "${host}" in brackets is not an IPv6 address` });
    return z.NEVER;
  }
  return { host, port };
});

export const SflowConfigSchema = z.strictObject({
  collectors: z.array(SflowCollectorSchema).min(1, 'name at least one collector, or leave sflow out').max(8),
  /** The address collectors know this agent by (the controller's own, IPv4 or IPv6). */
  agentAddress: z.string().refine((a) => isIP(a) !== 0, { message: 'the agent address is an IPv4 or IPv6 address, e.g. 198.18.0.1' }),
  subAgentId: z.number().int().min(0).max(0xffff_ffff).default(0),
  /** sFlow's usual counter polling interval is 30 s. */
  counterIntervalMs: z.number().int().min(100).max(3_600_000).default(30_000),
  /** 1400 keeps a datagram unfragmented on any path with a 1500-byte MTU; 512 still fits one full sample. */
  maxDatagramBytes: z.number().int().min(512).max(1400).default(1400),
  /** Samples waiting to be sent; beyond this, new samples are dropped and counted (the data plane never waits). */
  queueSamples: z.number().int().min(16).max(1_000_000).default(8192),
});
export type SflowConfig = z.output<typeof SflowConfigSchema>;

const Ipv4Schema = z.string().refine((a) => isIP(a) === 4, { message: 'an IPv4 address, e.g. 198.18.0.1' });

export const DataPlaneConfigSchema = z.strictObject({
  /** Local address of the uplink (the routers send VXLAN here); loopback unless told otherwise. */
  bind: Ipv4Schema.default('127.0.0.1'),
  /** UDP port of the uplink (RFC 7348's 4789 by default; 0: any free port, for tests). */
  port: z.number().int().min(0).max(65535).default(4789),
  /** The routers' VTEP addresses: the only senders accepted, and where traffic goes back. */
  routers: z.array(Ipv4Schema).min(1, 'name at least one router VTEP address').max(64),
  routerPort: z.number().int().min(1).max(65535).default(4789),
  /**
   * The MAC address of the router's side of the VXLAN link: a VI on a single tap port (a web cache,
   * a load balancer) addresses the frames it sends itself to it (PCLOUD_VI_ROUTER_MAC). A kernel
   * router accepts only frames to its own MAC; an Open vSwitch router whose flows ignore the
   * destination MAC takes the default, a locally administered address.
   */
  routerMac: z.string().regex(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/, 'a MAC address in lower case, e.g. 02:00:5e:00:00:01').default('02:00:5e:00:00:01'),
  /** VNIs this cloudlet serves; empty: every VNI. */
  vnis: z.array(z.number().int().min(0).max(0xff_ffff)).max(1024).default([]),
  /** Data-plane threads (one uplink socket each). */
  threads: z.number().int().min(1).max(64).default(1),
  /** Never block in the data-plane threads: lowest delay, a core per thread. */
  busyPoll: z.boolean().default(false),
  /**
   * Empty polls of the uplink and the VI ports before a data-plane thread blocks. Each is a
   * recvmmsg plus a read per tap port: worth it when the thread has a core of its own and the next
   * packet is microseconds away; on a machine whose few cores every process shares (the embedded
   * lab) they are CPU taken from the router and the VI that would make that packet (issue 17).
   */
  idleSpins: z.number().int().min(0).max(1_000_000).default(64),
  /** Network namespace of the uplink sockets (/var/run/netns/NAME); default: the controller's. */
  netns: z.string().min(1).max(256).optional(),
  /** Slots per direction of each ring port (a power of two). */
  ringSlots: z.number().int().min(16).max(65_536).refine((n) => (n & (n - 1)) === 0, { message: 'a power of two, e.g. 1024' }).default(1024),
  /** How often samples, alarms and counters are read from the data plane. */
  drainIntervalMs: z.number().int().min(10).max(5000).default(100),
});
export type DataPlaneConfig = z.output<typeof DataPlaneConfigSchema>;

/** A port's name in the OVS database (a Linux interface name). */
const OvsPortNameSchema = z.string().regex(/^[A-Za-z0-9_.-]{1,15}$/, 'a port name of 1-15 letters, digits, "_", "." or "-"');

/**
 * The front-end router this controller programs (contracts.md point 4): an Open vSwitch bridge
 * reached through its database and its OpenFlow management socket. The controller owns the table-0
 * flows carrying its cookie; table 1 (forwarding by destination) belongs to whoever built the router.
 */
export const RouterConfigSchema = z.strictObject({
  kind: z.literal('ovs'),
  bridge: z.string().regex(/^[A-Za-z0-9_.-]{1,15}$/, 'a bridge name of 1-15 letters, digits, "_", "." or "-"'),
  /**
   * The bridge's VXLAN port towards this cloudlet (its name in the OVS database): an OVS vxlan
   * port with options:key=flow (the flows set the VNI), or a kernel vxlan device added as a
   * system port (the device's own VNI applies).
   */
  vxlanPort: OvsPortNameSchema,
  /** The OVS database, e.g. unix:/run/openvswitch/db.sock. */
  ovsdb: z.string().regex(/^(unix|tcp|ssl):./, 'an OVS database remote: unix:/path/db.sock, tcp:host:port or ssl:host:port'),
  /** ovs-ofctl's target; default unix:<the database socket's directory>/<bridge>.mgmt. */
  openflow: z.string().regex(/^(unix|tcp|ssl):./, 'an OpenFlow target: unix:/path/br.mgmt, tcp:host:port or ssl:host:port').optional(),
  /** The VNI of this cloudlet on the VXLAN port. */
  vni: z.number().int().min(0).max(0xff_ffff),
  /** How often the installed flows are compared with the rule book (a router restart is noticed within this). */
  checkIntervalMs: z.number().int().min(100).max(600_000).default(2000),
  /** Longest an ovs-vsctl or ovs-ofctl call may take. */
  commandTimeoutMs: z.number().int().min(100).max(60_000).default(5000),
  /**
   * The bridge's ports that are links of the topology: the port's name, this router's PoP (from)
   * and the PoP at the link's other end (to). Their byte counters give the links' loads in the
   * reports (routerLinkLoad.ts); none named, none reported.
   */
  links: z
    .array(z.strictObject({ port: OvsPortNameSchema, from: IdSchema, to: IdSchema }))
    .max(256)
    .optional(),
});
export type RouterConfig = z.output<typeof RouterConfigSchema>;

export const EvidenceConfigSchema = z.strictObject({
  /** Each sample takes a 512-byte slot on disk: 16 MiB hold 32767 samples, so the default count bound is the tighter. */
  maxBytesPerVi: z.number().int().min(4096, 'at least 4096 bytes per VI').max(2 ** 32).default(16 * 2 ** 20),
  maxSamplesPerVi: z.number().int().min(1).max(8_000_000).default(20_000),
});
export type EvidenceConfig = z.output<typeof EvidenceConfigSchema>;

export const ControllerConfigSchema = z
  .strictObject({
    cloudletId: IdSchema,
    scheduler: z.strictObject({
      url: z.string().regex(/^wss?:\/\//, 'the scheduler URL starts with ws:// or wss://'),
      token: z.string().min(16),
      /** CA bundle (file) for a wss:// scheduler with a private certificate. */
      caFile: z.string().optional(),
      /** First reconnect delay; doubles up to maxBackoffMs, with +-30% jitter. */
      backoffMs: z.number().int().min(10).max(60_000).default(500),
      maxBackoffMs: z.number().int().min(100).max(600_000).default(15_000),
      reportIntervalMs: z.number().int().min(100).max(60_000).default(2000),
    }),
    listen: z
      .strictObject({
        host: z.string().default('127.0.0.1'),
        port: z.number().int().min(0).max(65535).default(7500),
        tls: z.strictObject({ cert: z.string(), key: z.string() }).optional(),
        /** The URL consoles should use, sent to the scheduler in hello (default: ws://host:port). */
        advertiseUrl: z.string().max(512).optional(),
      })
      .default({ host: '127.0.0.1', port: 7500 }),
    tokens: z.array(TokenSchema).default([]),
    nodes: z.array(z.strictObject({ id: IdSchema, capacity: ResourcesSchema })).min(1, 'a cloudlet has at least one node'),
    stateDir: z.string().min(1),
    /** Ed25519 public keys (PEM, or base64 of the 32 raw bytes) whose attestations prove prefix ownership. */
    trustAnchors: z.array(z.strictObject({ name: z.string().min(1).max(128), publicKey: z.string().min(32).max(4096) })).default([]),
    /** The ISP's own rules: tenants may not shadow them. */
    ispRules: z.array(DemuxRuleSpecSchema).max(1024).default([]),
    /** Service programs by id; "monitor" is built in. */
    programs: z.record(IdSchema, z.strictObject({ command: z.array(z.string().min(1)).min(1) })).default({}),
    sandbox: z
      .strictObject({
        /** "auto": namespaces and cgroups when root and available; "rlimits": neither (a root controller still gives each VI a user of its own). */
        mode: z.enum(['auto', 'rlimits']).default('auto'),
        graceMs: z.number().int().min(0).max(60_000).default(3000),
        nofile: z.number().int().min(16).max(1_048_576).default(4096),
        usageIntervalMs: z.number().int().min(100).max(60_000).default(1000),
        /**
         * The most tasks a VI may have: processes and threads (a Node program alone has about 7),
         * enforced by its pids cgroup, else by RLIMIT_NPROC on its own user.
         */
        maxProcesses: z.number().int().min(8).max(65_536).default(128),
        /** The uids VIs get one each of (a root controller only); nothing else on the host may use them. */
        viUids: z.strictObject({ first: z.number().int().min(1000).max(2 ** 31 - 2), count: z.number().int().min(1).max(2 ** 30) }).default({ first: 1_500_000_000, count: 100_000_000 }),
        /**
         * The controller's cgroup, parent of its VIs' (default packetcloud-<cloudletId>). Two
         * controllers of the same cloudlet id on one host (two labs) need different names: a VI's
         * cgroup is named by its id, and a controller ending its VI kills whatever is in that cgroup.
         */
        cgroupName: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, 'a cgroup name of letters, digits, ".", "_" or "-"').optional(),
      })
      .default({ mode: 'auto', graceMs: 3000, nofile: 4096, usageIntervalMs: 1000, maxProcesses: 128, viUids: { first: 1_500_000_000, count: 100_000_000 } }),
    /** What a graceful shutdown does with running VIs: keep them (re-adopted on restart) or stop them. */
    onExit: z.enum(['keep', 'stop']).default('keep'),
    metrics: z.strictObject({ host: z.string().default('127.0.0.1'), port: z.number().int().min(0).max(65535) }).optional(),
    /**
     * The data plane (DESIGN.md section 6): VXLAN from the front-end routers on UDP, classified by
     * the installed rules, to VI ports or back as legacy traffic. Off without it (rules are then
     * only kept, as a control plane without packets).
     */
    dataPlane: DataPlaneConfigSchema.optional(),
    /** The front-end router whose flow table follows the rule book; none without it. */
    router: RouterConfigSchema.optional(),
    /** sFlow v5 export of sampled packets and VI port counters; off without it. */
    sflow: SflowConfigSchema.optional(),
    /** Bounds of each VI's evidence ring (stateDir/evidence). */
    evidence: EvidenceConfigSchema.default({ maxBytesPerVi: 16 * 2 ** 20, maxSamplesPerVi: 20_000 }),
  })
  .superRefine((c, ctx) => {
    const seen = new Set<string>();
    c.nodes.forEach((n, i) => {
      if (seen.has(n.id)) ctx.addIssue({ code: 'custom', path: ['nodes', i, 'id'], message: `node "${n.id}" is listed twice` });
      seen.add(n.id);
    });
    // Checked here, before the daemon makes anything (cgroups, state), so a refused config leaves nothing behind.
    if (!isLoopbackHost(c.listen.host) && !c.listen.tls) {
      ctx.addIssue({ code: 'custom', path: ['listen', 'host'], message: `refusing to listen on ${c.listen.host} without TLS; use 127.0.0.1 (and an SSH tunnel) or give listen.tls a certificate and key` });
    }
    if (c.sandbox.viUids.first + c.sandbox.viUids.count > 2 ** 31 - 1) {
      ctx.addIssue({ code: 'custom', path: ['sandbox', 'viUids', 'count'], message: `the range ends past uid ${2 ** 31 - 2}` });
    }
    if (c.router && !c.router.openflow && !c.router.ovsdb.startsWith('unix:')) {
      ctx.addIssue({ code: 'custom', path: ['router', 'openflow'], message: `name the OpenFlow target of bridge ${c.router.bridge}: it is derived only from a unix: database socket` });
    }
    if (c.scheduler.maxBackoffMs < c.scheduler.backoffMs) {
      ctx.addIssue({ code: 'custom', path: ['scheduler', 'maxBackoffMs'], message: `must be at least backoffMs (${c.scheduler.backoffMs})` });
    }
  });

export type ControllerConfig = z.output<typeof ControllerConfigSchema>;
export type ControllerConfigInput = z.input<typeof ControllerConfigSchema>;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export function parseControllerConfig(raw: unknown, where = 'config'): ControllerConfig {
  const parsed = ControllerConfigSchema.safeParse(raw);
  if (!parsed.success) throw new ConfigError(`${where} refused: ${describeIssues(parsed.error, 'config')}`);
  return parsed.data;
}

/** Reads a JSON config file; file paths in it become absolute, relative to the file. */
export function loadControllerConfig(file: string): ControllerConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new ConfigError(`cannot load config ${file}: ${(e as Error).message}`);
  }
  const config = parseControllerConfig(raw, `config ${file}`);
  const base = dirname(resolve(file));
  const abs = (p: string): string => (isAbsolute(p) ? p : resolve(base, p));
  return {
    ...config,
    stateDir: abs(config.stateDir),
    scheduler: { ...config.scheduler, ...(config.scheduler.caFile ? { caFile: abs(config.scheduler.caFile) } : {}) },
    listen: { ...config.listen, ...(config.listen.tls ? { tls: { cert: abs(config.listen.tls.cert), key: abs(config.listen.tls.key) } } : {}) },
  };
}

/** Kernel filesystems (statfs f_type) that cannot hold a state directory. */
const SPECIAL_FILESYSTEMS = new Map<number, string>([
  [0x9fa0, 'proc'],
  [0x62656572, 'sysfs'],
  [0x27e0eb, 'cgroup'],
  [0x63677270, 'cgroup2'],
  [0x1cd1, 'devpts'],
  [0x64626720, 'debugfs'],
  [0x74726163, 'tracefs'],
  [0x73636673, 'securityfs'],
  [0xcafe4a11, 'bpf'],
]);

/**
 * Makes the state directory (and `sub` in it), or says exactly why not. One
 * level at a time, never `mkdir -p`: Node's recursive mkdir loops forever on
 * a path the kernel answers ENOENT for however often it is asked (anything
 * under /proc), which hung start-up.
 */
/**
 * VIs run as users of their own: stateDir and stateDir/vis are made
 * searchable (0711, never listable) so that a VI can reach its own directory
 * when the directories above stateDir allow it too; the controller's own
 * files inside are 0600. Their data-plane sockets do not depend on it (they
 * live in the controller's runtime directory).
 */
export function openStateDirToVis(stateDir: string): void {
  chmodSync(stateDir, 0o711);
  chmodSync(join(stateDir, 'vis'), 0o711);
}

export function makeStateDir(stateDir: string, sub: string, mode = 0o700): void {
  const refuse = (why: string): never => {
    throw new ConfigError(`stateDir ${stateDir} cannot be used: ${why}`);
  };
  if (!isAbsolute(stateDir)) refuse('it is not an absolute path');
  let existing = resolve(stateDir);
  const missing: string[] = [];
  for (;;) {
    try {
      if (!statSync(existing).isDirectory()) refuse(`${existing} is not a directory`);
      break;
    } catch (e) {
      if (e instanceof ConfigError) throw e;
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') refuse(`${existing}: ${(e as Error).message}`);
      missing.unshift(existing);
      existing = dirname(existing);
    }
  }
  const fsType = SPECIAL_FILESYSTEMS.get(Number(statfsSync(existing).type));
  if (fsType) refuse(`${existing} is on the kernel's ${fsType} filesystem, which cannot hold files`);
  for (const dir of [...missing, resolve(stateDir, sub)]) {
    try {
      mkdirSync(dir, { mode });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') refuse(`cannot create ${dir}: ${(e as Error).message}`);
    }
  }
  try {
    accessSync(stateDir, constants.W_OK | constants.X_OK);
  } catch (e) {
    refuse(`it is not writable: ${(e as Error).message}`);
  }
}
