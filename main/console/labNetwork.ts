/**
 * The lab's network as root on Linux: one network namespace per host and per
 * router of the topology, links shaped like the topology's links (HTB for the
 * capacity, each way; the RTT and the loss by pcloud-delayline, a userspace
 * delay line in a wire namespace of the lab, because this kernel has no netem:
 * see labDelayLine.ts; a link without an RTT is a plain veth with an nftables
 * egress rule for its loss), an Open
 * vSwitch bridge (userspace datapath, its own ovsdb-server and ovs-vswitchd in
 * a run dir of the lab, started inside the router's namespace) as each router,
 * and each cloudlet's controller uplink in a namespace of its own beside its
 * router, reached through an OVS vxlan port (key=flow: the router driver sets
 * the VNI) over a second bridge that holds the router's VTEP address.
 *
 * Who calls: the lab supervisor (before it starts the controllers, whose
 * configs name the uplink namespace and the router) and `pcctl lab down`.
 * What it writes: <labDir>/network.json, the whole plan (every name this lab
 * will make, all carrying the lab's random tag, and the delay line's stats
 * file, which names its process) recorded before anything is made, so a lab
 * killed at any point is removed by the next up or down;
 * <labDir>/ovs-<router>/ for each router's OVS; /etc/netns/<namespace>/hosts
 * so that `ip netns exec` makes the topology's host names resolve.
 *
 * Addresses come only from 198.18.0.0/15 (RFC 2544 benchmarking): host k has
 * 198.18.(k+1).2/24 behind its router's virtual gateway .1; cloudlet j's
 * uplink is 198.19.j.2/24 and its router's VTEP 198.19.j.1. Routers route
 * with OpenFlow only: table 1 (ours) forwards by destination along the
 * lowest-RTT path; table 0 belongs to the controller's router driver, and
 * until it takes over holds only a priority-0 goto_table:1 (contracts.md 4).
 * Hosts know their gateway's MAC statically, so no ARP is needed on the routers.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { delimiter, join } from 'node:path';
import { z } from 'zod';
import { readJsonFile, writeJsonFile } from './jsonFile.ts';
import { DelayLineLinkSchema, DelayLineSpecSchema, delayLineLink, readDelayLineStats, startDelayLine, stopDelayLine, type DelayLineLink } from './labDelayLine.ts';
import { resolveLinks, type LabTopology } from './labTopology.ts';

/** VNI of the first cloudlet; the next ones count up. */
const firstVni = 1000;
/**
 * The hosts' MTU is 1500; links between routers have headroom above it, as an
 * ISP's core does, so that a provider's tunnel VI (ESP adds about 75 bytes to a
 * full-sized packet) carries full-sized packets whole; the uplinks add room for
 * the 50 bytes of VXLAN around a frame of the core's size.
 */
export const coreLinkMtu = 1600;
export const uplinkMtu = coreLinkMtu + 100;
/** The OpenFlow ports of the vxlan devices start here; link ports count from 1. */
const firstVxlanOfport = 1000;
/** Unix socket paths are limited to 108 bytes (sun_path); the longest we make is <runDir>/br0.snoop. */
const maxRunDirLength = 90;
const bridge = 'br0';

const MacSchema = z.string().regex(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);

export const LabNetworkPlanSchema = z.object({
  tag: z.string(),
  hosts: z.array(z.object({ id: z.string(), ns: z.string(), address: z.string(), gateway: z.string(), mac: MacSchema, gatewayMac: MacSchema, routerId: z.string() })),
  routers: z.array(z.object({ id: z.string(), ns: z.string(), runDir: z.string() })),
  links: z.array(
    z.object({
      a: z.object({ pop: z.string(), ns: z.string(), dev: z.string(), mac: MacSchema, ofport: z.number().int().nullable() }),
      b: z.object({ pop: z.string(), ns: z.string(), dev: z.string(), mac: MacSchema, ofport: z.number().int().nullable() }),
      rttMs: z.number(),
      capacityMbps: z.number(),
      lossPercent: z.number(),
      /** The delay applied: the link runs through the delay line (absent in plans recorded before it existed). */
      delay: DelayLineLinkSchema.optional(),
    }),
  ),
  /** The lab's delay line, when a link has an RTT. */
  delayLine: DelayLineSpecSchema.optional(),
  uplinks: z.array(
    z.object({
      cloudletId: z.string(),
      routerId: z.string(),
      ns: z.string(),
      routerDev: z.string(),
      routerAddress: z.string(),
      address: z.string(),
      vni: z.number().int(),
      vxlanPort: z.string(),
      ofport: z.number().int(),
    }),
  ),
  /** Table 1 of each router: [routerId, flows in ovs-ofctl syntax]. */
  forwarding: z.array(z.tuple([z.string(), z.array(z.string())])),
});
export type LabNetworkPlan = z.output<typeof LabNetworkPlanSchema>;

/** What the controller of a cloudlet is told about its uplink and its router. */
export interface CloudletUplink {
  netns: string;
  bind: string;
  routerAddress: string;
  vni: number;
  router: { kind: 'ovs'; bridge: string; vxlanPort: string; ovsdb: string; openflow: string; vni: number; links: { port: string; from: string; to: string }[] };
}

function macOf(kind: number, index: number, end: number): string {
  return `02:50:43:${kind.toString(16).padStart(2, '0')}:${index.toString(16).padStart(2, '0')}:${end.toString(16).padStart(2, '0')}`;
}

/** Every name, address and flow of the lab's network; pure, so it can be checked without root. */
export function planLabNetwork(topology: LabTopology, dir: string, tag = `pl${randomBytes(3).toString('hex')}`): LabNetworkPlan {
  const pops = new Map(topology.pops.map((p) => [p.id, p]));
  const nsOf = (id: string): string => `${tag}-${id}`;
  const links = resolveLinks(topology);
  const lossOf = (i: number): number => topology.links[i]?.lossPercent ?? 0;
  const hostPops = topology.pops.filter((p) => p.kind === 'host');
  const wireNs = nsOf('wire');
  if ([...topology.pops, ...topology.cloudlets].some((x) => nsOf(x.id) === wireNs)) throw new Error(`topology ${topology.name} has a PoP or cloudlet named "wire", the name of the lab's delay-line namespace: rename it`);
  const routerPops = topology.pops.filter((p) => p.kind === 'router');
  if (hostPops.length > 250 || topology.cloudlets.length > 250 || links.length > 250) throw new Error(`topology ${topology.name} is too large for a lab (at most 250 hosts, links and cloudlets)`);

  const planLinks: LabNetworkPlan['links'] = links.map((l, i) => {
    const end = (pop: string, peer: string, side: number) => {
      const kind = pops.get(pop)?.kind;
      return { pop, ns: nsOf(pop), dev: kind === 'host' ? `eth-${peer}`.slice(0, 15) : `l${i}`, mac: macOf(1, i, side), ofport: kind === 'router' ? i + 1 : null };
    };
    if (pops.get(l.a)?.kind === 'host' && pops.get(l.b)?.kind === 'host') throw new Error(`link ${l.a}-${l.b} joins two hosts: a lab host connects to a router`);
    const link = { a: end(l.a, l.b, 0), b: end(l.b, l.a, 1), rttMs: l.rttMs, capacityMbps: l.capacityMbps, lossPercent: lossOf(i) };
    return l.rttMs > 0 ? { ...link, delay: delayLineLink(`d${i}a`, `d${i}b`, link) } : link;
  });
  const delayLine = planLinks.some((l) => l.delay)
    ? { ns: wireNs, stats: join(dir, `delayline-${tag}.json`), log: join(dir, `delayline-${tag}.log`), seed: createHash('sha256').update(tag).digest().readUInt32BE(0) }
    : undefined;

  const hosts = hostPops.map((p, k) => {
    const attached = planLinks.filter((l) => l.a.pop === p.id || l.b.pop === p.id);
    if (attached.length !== 1) throw new Error(`host ${p.id} of topology ${topology.name} has ${attached.length} links: a lab host has exactly one, to its router`);
    const link = attached[0] as LabNetworkPlan['links'][number];
    const [own, router] = link.a.pop === p.id ? [link.a, link.b] : [link.b, link.a];
    own.dev = 'eth0';
    return { id: p.id, ns: own.ns, address: `198.18.${k + 1}.2`, gateway: `198.18.${k + 1}.1`, mac: own.mac, gatewayMac: router.mac, routerId: router.pop };
  });

  const routers = routerPops.map((p) => {
    const runDir = join(dir, `ovs-${p.id}`);
    if (runDir.length > maxRunDirLength) throw new Error(`the lab's folder ${dir} is too long for Open vSwitch's sockets (${runDir}: at most ${maxRunDirLength} characters); set PCLOUD_DATA_DIR to a shorter path`);
    return { id: p.id, ns: nsOf(p.id), runDir };
  });

  const uplinks = topology.cloudlets.map((c, j) => {
    if (pops.get(c.popId)?.kind !== 'router') throw new Error(`cloudlet ${c.id} sits at ${c.popId}, which is not a router`);
    return {
      cloudletId: c.id,
      routerId: c.popId,
      ns: nsOf(c.id),
      routerDev: `up${j}`,
      routerAddress: `198.19.${j}.1`,
      address: `198.19.${j}.2`,
      vni: firstVni + j,
      vxlanPort: `vx${j}`,
      ofport: firstVxlanOfport + j,
    };
  });

  // Lowest-RTT next hop from every router towards every other router (Dijkstra over router-router links).
  const adjacency = new Map<string, { peer: string; ofport: number; rttMs: number }[]>(routers.map((r) => [r.id, []]));
  for (const l of planLinks) {
    if (l.a.ofport !== null && l.b.ofport !== null) {
      adjacency.get(l.a.pop)?.push({ peer: l.b.pop, ofport: l.a.ofport, rttMs: l.rttMs });
      adjacency.get(l.b.pop)?.push({ peer: l.a.pop, ofport: l.b.ofport, rttMs: l.rttMs });
    }
  }
  const firstHops = (from: string): Map<string, number> => {
    const dist = new Map<string, number>([[from, 0]]);
    const via = new Map<string, number>();
    const done = new Set<string>();
    for (;;) {
      const next = [...dist].filter(([id]) => !done.has(id)).sort((x, y) => x[1] - y[1] || x[0].localeCompare(y[0]))[0];
      if (!next) return via;
      const [at, d] = next;
      done.add(at);
      for (const e of adjacency.get(at) ?? []) {
        if (done.has(e.peer) || (dist.get(e.peer) ?? Infinity) <= d + e.rttMs) continue;
        dist.set(e.peer, d + e.rttMs);
        via.set(e.peer, at === from ? e.ofport : (via.get(at) as number));
      }
    }
  };
  const forwarding: LabNetworkPlan['forwarding'] = routers.map((r) => {
    const hops = firstHops(r.id);
    const flows: string[] = [];
    for (const h of hosts) {
      const subnet = hostSubnet(h);
      if (h.routerId === r.id) {
        const port = planLinks.find((l) => (l.a.pop === h.id && l.b.pop === r.id) || (l.b.pop === h.id && l.a.pop === r.id));
        const ofport = port?.a.pop === r.id ? port.a.ofport : port?.b.ofport;
        flows.push(`table=1,priority=100,ip,nw_dst=${subnet},actions=mod_dl_src:${h.gatewayMac},mod_dl_dst:${h.mac},dec_ttl,output:${ofport}`);
      } else if (hops.has(h.routerId)) {
        flows.push(`table=1,priority=100,ip,nw_dst=${subnet},actions=dec_ttl,output:${hops.get(h.routerId)}`);
      }
    }
    return [r.id, flows];
  });
  return { tag, hosts, routers, links: planLinks, uplinks, forwarding, ...(delayLine ? { delayLine } : {}) };
}

/** A host's network (its /24), as routers route to it and as the lab's provider owns it. */
export function hostSubnet(host: Pick<LabNetworkPlan['hosts'][number], 'address'>): string {
  return `${host.address.replace(/\.\d+$/, '.0')}/24`;
}

/** What the controller of `cloudletId` needs to find its uplink and program its router. */
export function cloudletUplink(plan: LabNetworkPlan, cloudletId: string): CloudletUplink | undefined {
  const u = plan.uplinks.find((x) => x.cloudletId === cloudletId);
  const r = plan.routers.find((x) => x.id === u?.routerId);
  if (!u || !r) return undefined;
  return {
    netns: `/var/run/netns/${u.ns}`,
    bind: u.address,
    routerAddress: u.routerAddress,
    vni: u.vni,
    router: { kind: 'ovs', bridge, vxlanPort: u.vxlanPort, ovsdb: `unix:${join(r.runDir, 'db.sock')}`, openflow: `unix:${join(r.runDir, `${bridge}.mgmt`)}`, vni: u.vni, links: routerLinkPorts(plan, r.id) },
  };
}

/** The ports of router `routerId` that are links of the topology, for the controller's link loads: each from this router to the other end. */
export function routerLinkPorts(plan: LabNetworkPlan, routerId: string): { port: string; from: string; to: string }[] {
  return plan.links.flatMap((l) => {
    if (l.a.pop === routerId) return [{ port: l.a.dev, from: routerId, to: l.b.pop }];
    if (l.b.pop === routerId) return [{ port: l.b.dev, from: routerId, to: l.a.pop }];
    return [];
  });
}

/** The namespace a `pcctl lab exec` target runs in: a host, a router or a cloudlet's uplink. */
export function namespaceOf(plan: LabNetworkPlan, id: string): string | undefined {
  return [...plan.hosts, ...plan.routers, ...plan.uplinks.map((u) => ({ id: u.cloudletId, ns: u.ns }))].find((x) => x.id === id)?.ns;
}

export function allNamespaces(plan: LabNetworkPlan): string[] {
  return [...plan.hosts.map((h) => h.ns), ...plan.routers.map((r) => r.ns), ...plan.uplinks.map((u) => u.ns), ...(plan.delayLine ? [plan.delayLine.ns] : [])];
}

// ---- Which mode the lab can run in -------------------------------------------------------

const requiredTools = ['ip', 'tc', 'nft', 'ethtool', 'ovsdb-tool', 'ovsdb-server', 'ovs-vswitchd', 'ovs-vsctl', 'ovs-ofctl', 'ovs-appctl'];

/** A program's full path: PATH, then the sbin folders a non-login shell often lacks. */
export function findTool(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/local/sbin', '/usr/sbin', '/sbin'];
  return dirs.filter(Boolean).map((d) => join(d, name)).find((f) => existsSync(f));
}

export type LabMode = { kind: 'namespaces'; reason: string } | { kind: 'userspace'; reason: string };

/** Namespaces when this host can build them (Linux, root, Open vSwitch and iproute2 installed), else the userspace traffic source. */
export function chooseLabMode(wanted: 'auto' | 'namespaces' | 'userspace' = 'auto'): LabMode {
  if (wanted === 'userspace') return { kind: 'userspace', reason: 'asked for the userspace traffic source' };
  let lacking: string | null = null;
  if (process.platform !== 'linux') lacking = `network namespaces need Linux (this is ${process.platform})`;
  else if (process.getuid?.() !== 0) lacking = 'building namespaces, links and routers needs root';
  else {
    const missing = requiredTools.filter((t) => !findTool(t));
    if (missing.length) lacking = `${missing.join(', ')} not installed (Open vSwitch: openvswitch-switch; iproute2; ethtool)`;
    else if (!existsSync('/usr/share/openvswitch/vswitch.ovsschema')) lacking = 'the Open vSwitch database schema /usr/share/openvswitch/vswitch.ovsschema is missing';
  }
  if (lacking && wanted === 'namespaces') throw new Error(`cannot build the lab's network: ${lacking}`);
  if (lacking) return { kind: 'userspace', reason: lacking };
  return { kind: 'namespaces', reason: 'root, with Open vSwitch and iproute2' };
}

// ---- Building and removing ------------------------------------------------------------

function run(args: string[], options: { input?: string; env?: Record<string, string> } = {}): Promise<string> {
  const [cmd, ...rest] = args;
  return new Promise((resolve, reject) => {
    const child = execFile(findTool(cmd as string) ?? (cmd as string), rest, { timeout: 30_000, env: { ...process.env, ...options.env } }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${args.join(' ')} failed: ${stderr.trim() || err.message}`));
      else resolve(stdout);
    });
    if (options.input !== undefined) child.stdin?.end(options.input);
  });
}

/** A shell script run inside a namespace, stopping at the first command that fails and naming it. */
function inNamespace(ns: string, commands: string[]): Promise<string> {
  const script = commands.map((c) => `${c} || { echo "in ${ns}: $? from: ${c.replace(/["$`\\]/g, '\\$&')}" >&2; exit 1; }`).join('\n');
  return run(['ip', 'netns', 'exec', ns, 'sh', '-c', script]);
}

/**
 * Capacity with HTB; the loss with an nftables egress rule when the link does not run through the
 * delay line (which drops it itself, with its own counters).
 */
function shaping(dev: string, link: LabNetworkPlan['links'][number], withTc: boolean): string[] {
  // A bridge port's qdisc is Open vSwitch's (it deletes any other on each reconfiguration): see routerQos.
  const commands = withTc
    ? [
        `tc qdisc replace dev ${dev} root handle 1: htb default 1`,
        // An explicit quantum: the default (rate / r2q) is far above what HTB accepts quietly at 1 Gb/s.
        `tc class add dev ${dev} parent 1: classid 1:1 htb rate ${link.capacityMbps}mbit ceil ${link.capacityMbps}mbit quantum 60000`,
      ]
    : [];
  if (link.lossPercent > 0 && !link.delay) {
    const perTenThousand = Math.round(link.lossPercent * 100);
    commands.push(
      `nft 'add table netdev lab; add chain netdev lab loss-${dev} { type filter hook egress device "${dev}" priority 0 ; }; add rule netdev lab loss-${dev} numgen random mod 10000 < ${perTenThousand} counter drop'`,
    );
  }
  return commands;
}

const networkFile = (dir: string): string => join(dir, 'network.json');

/**
 * The plan of the lab as it runs, in either mode (<labDir>/plan.json): the userspace traffic source
 * takes its hosts' addresses and the cloudlets' VNIs from it; network.json is only the record of
 * what was made.
 */
export function writeLabPlan(dir: string, plan: LabNetworkPlan): void {
  writeJsonFile(join(dir, 'plan.json'), plan, 0o600);
}

export function readLabPlan(dir: string): LabNetworkPlan | undefined {
  return readJsonFile(join(dir, 'plan.json'), LabNetworkPlanSchema.nullable(), null) ?? undefined;
}

export function readLabNetwork(dir: string): LabNetworkPlan | undefined {
  return readJsonFile(networkFile(dir), LabNetworkPlanSchema.nullable(), null) ?? undefined;
}

/** Builds the planned network; the plan is recorded first, and on failure everything made so far is removed. */
export async function buildLabNetwork(plan: LabNetworkPlan, dir: string, onStep: (what: string) => void = () => undefined): Promise<void> {
  writeJsonFile(networkFile(dir), plan, 0o600);
  try {
    onStep('namespaces and links');
    const batch = [
      ...allNamespaces(plan).map((ns) => `netns add ${ns}`),
      ...plan.links.flatMap((l) =>
        l.delay && plan.delayLine
          ? [
              `link add ${l.a.dev} netns ${l.a.ns} address ${l.a.mac} type veth peer name ${l.delay.wireA} netns ${plan.delayLine.ns}`,
              `link add ${l.b.dev} netns ${l.b.ns} address ${l.b.mac} type veth peer name ${l.delay.wireB} netns ${plan.delayLine.ns}`,
            ]
          : [`link add ${l.a.dev} netns ${l.a.ns} address ${l.a.mac} type veth peer name ${l.b.dev} address ${l.b.mac} netns ${l.b.ns}`],
      ),
      ...plan.uplinks.map((u) => `link add ${u.routerDev} netns ${plan.routers.find((r) => r.id === u.routerId)?.ns} type veth peer name uplink netns ${u.ns}`),
    ];
    await run(['ip', '-batch', '-'], { input: `${batch.join('\n')}\n` });

    const scripts = new Map<string, string[]>(allNamespaces(plan).map((ns) => [ns, ['ip link set lo up', 'sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1']]));
    const add = (ns: string, ...c: string[]): void => void scripts.get(ns)?.push(...c);
    for (const l of plan.links) {
      const mtu = l.a.ofport !== null && l.b.ofport !== null ? coreLinkMtu : 1500;
      for (const end of [l.a, l.b]) {
        // Pitfall 1 of NETWORK-NOTES: OVS's userspace datapath copies frames, so no checksum offload.
        // Through the delay line, frames must also arrive unsegmented: it copies them one by one.
        const offloads = l.delay ? 'tx off tso off gso off' : 'tx off';
        add(end.ns, `sysctl -qw net.ipv6.conf.${end.dev}.disable_ipv6=1`, `ethtool -K ${end.dev} ${offloads} >/dev/null`, `ip link set ${end.dev} mtu ${mtu} up`, ...shaping(end.dev, l, end.ofport === null));
      }
      if (l.delay && plan.delayLine) {
        // A veth refuses frames above its peer's MTU: the wire's ends carry what the link's ends do.
        for (const dev of [l.delay.wireA, l.delay.wireB]) add(plan.delayLine.ns, `ethtool -K ${dev} tx off tso off gso off gro off >/dev/null`, `ip link set ${dev} mtu ${mtu} up`);
      }
    }
    for (const h of plan.hosts) {
      add(h.ns, `ip addr add ${h.address}/24 dev eth0`, `ip neigh replace ${h.gateway} lladdr ${h.gatewayMac} dev eth0 nud permanent`, `ip route add default via ${h.gateway}`);
    }
    for (const u of plan.uplinks) {
      const r = plan.routers.find((x) => x.id === u.routerId) as LabNetworkPlan['routers'][number];
      add(r.ns, `ip link set ${u.routerDev} mtu ${uplinkMtu} up`, `ethtool -K ${u.routerDev} tx off >/dev/null`);
      add(u.ns, `ip addr add ${u.address}/24 dev uplink`, `ip link set uplink mtu ${uplinkMtu} up`, `ethtool -K uplink tx off >/dev/null`);
    }
    await Promise.all([...scripts].map(([ns, commands]) => inNamespace(ns, commands)));

    onStep('host names');
    const hostsFile = ['127.0.0.1 localhost', ...plan.hosts.map((h) => `${h.address} ${h.id}`), ...plan.uplinks.map((u) => `${u.address} ${u.cloudletId}`)].join('\n');
    for (const ns of allNamespaces(plan)) {
      mkdirSync(join('/etc/netns', ns), { recursive: true });
      writeFileSync(join('/etc/netns', ns, 'hosts'), `${hostsFile}\n`);
    }

    if (plan.delayLine) {
      onStep('delay line');
      await startDelayLine(plan.delayLine, delayedLinks(plan), { ip: findTool('ip') });
    }

    onStep('routers');
    await Promise.all(plan.routers.map((r) => startRouter(plan, r)));
  } catch (e) {
    await removeLabNetwork(dir);
    throw e;
  }
}

/** Each link of a running lab as `pcctl lab status` shows it: the delay applied and what the delay line counted. */
export interface LabLinkDelay {
  link: string;
  rttMs: number;
  /** Applied each way by the delay line; null on a plain veth (nothing delays it). */
  oneWayMs: number | null;
  lossPercent: number;
  /** Frames forwarded and dropped (loss, queue, device), both ways together; null without counters. */
  counted: { forwarded: number; lossDrops: number; queueDrops: number; sendErrors: number } | null;
}

export function labLinkDelays(plan: LabNetworkPlan): LabLinkDelay[] {
  const stats = plan.delayLine ? readDelayLineStats(plan.delayLine) : undefined;
  return plan.links.map((l) => {
    const s = stats?.links.find((x) => x.a === l.delay?.wireA && x.b === l.delay?.wireB);
    const both = (k: 'forwarded' | 'lossDrops' | 'queueDrops' | 'sendErrors'): number => (s ? s.aToB[k] + s.bToA[k] : 0);
    return {
      link: `${l.a.pop}-${l.b.pop}`,
      rttMs: l.rttMs,
      oneWayMs: l.delay ? l.delay.oneWayUs / 1000 : null,
      lossPercent: l.lossPercent,
      counted: s ? { forwarded: both('forwarded'), lossDrops: both('lossDrops'), queueDrops: both('queueDrops'), sendErrors: both('sendErrors') } : null,
    };
  });
}

function delayedLinks(plan: LabNetworkPlan): DelayLineLink[] {
  return plan.links.flatMap((l) => (l.delay ? [l.delay] : []));
}

async function startRouter(plan: LabNetworkPlan, r: LabNetworkPlan['routers'][number]): Promise<void> {
  rmSync(r.runDir, { recursive: true, force: true });
  mkdirSync(r.runDir, { recursive: true, mode: 0o700 });
  const db = join(r.runDir, 'conf.db');
  const sock = `unix:${join(r.runDir, 'db.sock')}`;
  // OVS_RUNDIR puts the bridges' management sockets (br0.mgmt) in the lab's run dir, not /var/run/openvswitch.
  const env = { OVS_RUNDIR: r.runDir, OVS_LOGDIR: r.runDir, OVS_DBDIR: r.runDir };
  const daemon = (name: string): string[] => [`--pidfile=${join(r.runDir, `${name}.pid`)}`, `--unixctl=${join(r.runDir, `${name}.ctl`)}`, `--log-file=${join(r.runDir, `${name}.log`)}`, '--detach', '--no-chdir'];
  await run(['ovsdb-tool', 'create', db, '/usr/share/openvswitch/vswitch.ovsschema'], { env });
  await run(['ip', 'netns', 'exec', r.ns, findTool('ovsdb-server') as string, db, `--remote=p${sock}`, ...daemon('ovsdb-server')], { env });
  await run(['ip', 'netns', 'exec', r.ns, findTool('ovs-vswitchd') as string, sock, '--disable-system', ...daemon('ovs-vswitchd')], { env });
  const ports = plan.links.flatMap((l) => [l.a, l.b]).filter((end) => end.pop === r.id && end.ofport !== null).map((end) => [end.dev, end.ofport as number] as const);
  const uplinks = plan.uplinks.filter((u) => u.routerId === r.id);
  // The userspace datapath encapsulates by itself: the tunnel's local address sits on a bridge of
  // its own (uplinkBridge, with the veth to the cloudlet), which OVS finds through the namespace's routes.
  const tunnels = uplinks.flatMap((u) => [
    '--', 'add-br', uplinkBridge(u), '--', 'set', 'bridge', uplinkBridge(u), 'datapath_type=netdev', '--', 'set', 'interface', uplinkBridge(u), `mtu_request=${uplinkMtu}`,
    '--', 'add-port', uplinkBridge(u), u.routerDev,
    '--', 'add-port', bridge, u.vxlanPort, '--', 'set', 'interface', u.vxlanPort, 'type=vxlan', `options:remote_ip=${u.address}`, 'options:key=flow', `ofport_request=${u.ofport}`,
  ]);
  const capacity = new Map(plan.links.flatMap((l) => [l.a, l.b].filter((end) => end.pop === r.id).map((end) => [end.dev, l.capacityMbps] as const)));
  await run([
    'ovs-vsctl', `--db=${sock}`, '--timeout=20', '--', 'add-br', bridge, '--', 'set', 'bridge', bridge, 'datapath_type=netdev', 'protocols=OpenFlow13', 'fail_mode=secure',
    ...ports.flatMap(([dev, ofport]) => ['--', 'add-port', bridge, dev, '--', 'set', 'interface', dev, `ofport_request=${ofport}`, ...routerQos(dev, capacity.get(dev))]),
    ...tunnels,
  ], { env });
  if (uplinks.length) await inNamespace(r.ns, uplinks.flatMap((u) => [`ip addr add ${u.routerAddress}/24 dev ${uplinkBridge(u)}`, `ip link set ${uplinkBridge(u)} up`]));
  // One ping from each cloudlet to its VTEP: both sides learn the other's MAC (OVS snoops the ARP),
  // so the first packets steered to the cloudlet are not lost to address resolution.
  for (const u of uplinks) await inNamespace(u.ns, [`ping -c 1 -W 5 ${u.routerAddress} >/dev/null`]);
  const flows = ['table=0,priority=0,actions=goto_table:1', ...(plan.forwarding.find(([id]) => id === r.id)?.[1] ?? [])];
  await run(['ovs-ofctl', '-O', 'OpenFlow13', 'add-flows', `unix:${join(r.runDir, `${bridge}.mgmt`)}`, '-'], { input: `${flows.join('\n')}\n`, env });
}

/** The bridge that holds a cloudlet's VTEP address and its veth (the tunnel's underlay). */
function uplinkBridge(u: LabNetworkPlan['uplinks'][number]): string {
  return `bu${u.vxlanPort.slice(2)}`;
}

/** A link's capacity on a bridge port, as Open vSwitch's own HTB (linux-htb QoS with one queue). */
function routerQos(dev: string, capacityMbps: number | undefined): string[] {
  if (capacityMbps === undefined) return [];
  const bps = String(Math.round(capacityMbps * 1e6));
  return ['--', 'set', 'port', dev, `qos=@qos_${dev}`, '--', `--id=@qos_${dev}`, 'create', 'qos', 'type=linux-htb', `other-config:max-rate=${bps}`, `queues:0=@queue_${dev}`,
    '--', `--id=@queue_${dev}`, 'create', 'queue', `other-config:max-rate=${bps}`];
}

/** A pid from an OVS pidfile, if that process still runs from this run dir (never a reused pid). */
function ovsDaemonPid(runDir: string, name: string): number | undefined {
  try {
    const pid = Number(readFileSync(join(runDir, `${name}.pid`), 'utf8').trim());
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return cmdline.includes(runDir) ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** The OVS daemons of the lab recorded in `dir` that still run. */
export function labOvsPids(dir: string): number[] {
  const plan = readLabNetwork(dir);
  return (plan?.routers ?? []).flatMap((r) => ['ovs-vswitchd', 'ovsdb-server'].flatMap((n) => ovsDaemonPid(r.runDir, n) ?? []));
}

/**
 * Removes everything the recorded plan names that exists: the OVS daemons
 * (stopped, then killed if they linger), the namespaces (their veths,
 * vxlan devices, qdiscs and the bridges' taps go with them), the hosts files
 * and the run dirs. Returns what it removed, for the operator.
 */
export async function removeLabNetwork(dir: string): Promise<string[]> {
  const plan = readLabNetwork(dir);
  if (!plan) return [];
  const removed: string[] = [];
  if (plan.delayLine) {
    const pids = await stopDelayLine(plan.delayLine);
    if (pids.length) removed.push(`delay line (pid ${pids.join(', ')})`);
  }
  for (const r of plan.routers) {
    for (const name of ['ovs-vswitchd', 'ovsdb-server']) {
      const pid = ovsDaemonPid(r.runDir, name);
      if (pid === undefined) continue;
      process.kill(pid, 'SIGTERM');
      const deadline = Date.now() + 3000;
      while (Date.now() < deadline && ovsDaemonPid(r.runDir, name) !== undefined) await new Promise((res) => setTimeout(res, 20));
      if (ovsDaemonPid(r.runDir, name) !== undefined) process.kill(pid, 'SIGKILL');
      removed.push(`${name} of ${r.id} (pid ${pid})`);
    }
  }
  const existing = new Set((await run(['ip', 'netns', 'list'])).split('\n').map((l) => l.split(' ')[0]));
  const namespaces = allNamespaces(plan).filter((ns) => existing.has(ns));
  if (namespaces.length) {
    // -force: carry on past a namespace removed meanwhile.
    await run(['ip', '-force', '-batch', '-'], { input: `${namespaces.map((ns) => `netns del ${ns}`).join('\n')}\n` });
    removed.push(`namespaces ${namespaces.join(', ')}`);
  }
  for (const ns of allNamespaces(plan)) rmSync(join('/etc/netns', ns), { recursive: true, force: true });
  for (const r of plan.routers) rmSync(r.runDir, { recursive: true, force: true });
  if (plan.delayLine) for (const f of [plan.delayLine.stats, plan.delayLine.log]) rmSync(f, { force: true });
  writeJsonFile(networkFile(dir), null, 0o600);
  return removed;
}
