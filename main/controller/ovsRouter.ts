/**
 * The front-end router driver for Open vSwitch: the bridge's identity from its
 * database (ovs-vsctl), its flows through OpenFlow 1.3 (ovs-ofctl). Both tools
 * are run directly (argument arrays, no shell) with a time limit each, so a
 * hung switch costs one check, never the controller. Changes go in one
 * OpenFlow bundle: the switch applies all of it or none.
 *
 * Works with the userspace datapath (ovs-vswitchd --disable-system, bridges
 * with datapath_type=netdev) as with the kernel's; it does not care which.
 */
import { execFile } from 'node:child_process';
import { dirname } from 'node:path';
import type { RouterConfig } from './config.ts';
import { formatCookie, RouterError, type InstalledFlow, type RouterDriver, type RouterFlow, type RouterIdentity } from './frontRouter.ts';

/** ovs-ofctl's target when the config names none: the bridge's management socket beside the database's. */
export function defaultOpenflowTarget(config: Pick<RouterConfig, 'ovsdb' | 'bridge'>): string {
  if (!config.ovsdb.startsWith('unix:')) throw new RouterError(`router.openflow is needed: the management socket of bridge ${config.bridge} cannot be derived from a ${config.ovsdb.split(':')[0]} database remote`);
  return `unix:${dirname(config.ovsdb.slice('unix:'.length))}/${config.bridge}.mgmt`;
}

/** Counters and timers ovs-ofctl prints before a flow's match. */
const STAT_FIELD = /^\s*(cookie|duration|table|n_packets|n_bytes|idle_timeout|hard_timeout|idle_age|hard_age|importance|reset_counts|send_flow_rem|no_packet_counts|no_byte_counts|check_overlap)(?:=([^,\s]*))?,\s*/;
/** ovs-ofctl leaves out the priority when it is OpenFlow's default. */
const DEFAULT_PRIORITY = 32768;

/** One line of `ovs-ofctl dump-flows` as a flow; undefined for headers. */
export function parseFlowLine(line: string): InstalledFlow | undefined {
  let rest = line;
  const fields = new Map<string, string>();
  for (let m = STAT_FIELD.exec(rest); m; m = STAT_FIELD.exec(rest)) {
    fields.set(m[1] as string, m[2] ?? '');
    rest = rest.slice(m[0].length);
  }
  const cookie = fields.get('cookie');
  if (cookie === undefined) return undefined;
  rest = rest.trim();
  // The priority comes first when printed: "priority=10,ip,nw_dst=... actions=...".
  const priority = /^priority=(\d+),?/.exec(rest);
  return {
    cookie: BigInt(cookie),
    table: Number(fields.get('table') ?? 0),
    priority: priority ? Number(priority[1]) : DEFAULT_PRIORITY,
    text: (priority ? rest.slice(priority[0].length) : rest).trim(),
    packets: Number(fields.get('n_packets') ?? 0),
    bytes: Number(fields.get('n_bytes') ?? 0),
  };
}

export class OvsRouter implements RouterDriver {
  readonly name: string;
  private readonly config: RouterConfig;
  private readonly openflow: string;

  constructor(config: RouterConfig) {
    this.config = config;
    this.openflow = config.openflow ?? defaultOpenflowTarget(config);
    this.name = `ovs bridge ${config.bridge} at ${this.openflow}`;
  }

  async identity(): Promise<RouterIdentity> {
    const { bridge, vxlanPort } = this.config;
    const out = await this.vsctl(['get', 'Bridge', bridge, 'datapath_id', '--', 'get', 'Interface', vxlanPort, 'ofport', '--', 'get', 'Interface', vxlanPort, 'type']);
    const [dpid = '', ofport = '', type = ''] = out.trim().split('\n').map((l) => l.trim().replace(/^"|"$/g, ''));
    const port = Number(ofport);
    // An OVS tunnel port (type vxlan), or a system port that is a kernel vxlan device (its VNI fixed by the device).
    if (type !== 'vxlan' && type !== '' && type !== 'system') throw new RouterError(`${this.name}: port ${vxlanPort} is of type "${type}": expected an OVS vxlan port or a kernel vxlan device (a system port)`);
    if (!Number.isInteger(port) || port <= 0) throw new RouterError(`${this.name}: port ${vxlanPort} has no OpenFlow port number (ofport ${ofport || 'unset'}): OVS could not create it, see ovs-vsctl get Interface ${vxlanPort} error`);
    if (!/^[0-9a-f]{16}$/.test(dpid)) throw new RouterError(`${this.name}: bridge ${bridge} has no datapath id yet (${dpid || 'unset'}): is ovs-vswitchd running?`);
    return { datapathId: dpid, vxlanPort: port };
  }

  async flows(cookie: bigint, mask: bigint): Promise<InstalledFlow[]> {
    const out = await this.ofctl(['dump-flows', this.openflow, `cookie=${formatCookie(cookie)}/${formatCookie(mask)}`]);
    return out.split('\n').flatMap((line) => parseFlowLine(line) ?? []);
  }

  async apply(change: { remove: readonly bigint[]; add: readonly RouterFlow[] }): Promise<void> {
    const lines = [
      ...change.remove.map((c) => `delete cookie=${formatCookie(c)}/-1`),
      ...change.add.map((f) => `add table=${f.table},priority=${f.priority},cookie=${formatCookie(f.cookie)}${f.match ? `,${f.match}` : ''},actions=${f.actions}`),
    ];
    if (lines.length) await this.ofctl(['--bundle', 'add-flows', this.openflow, '-'], `${lines.join('\n')}\n`);
  }

  /** ovs-vsctl on this router's database, bounded in time (also for routerLinkLoad.ts). */
  vsctl(args: string[]): Promise<string> {
    const seconds = Math.max(1, Math.ceil(this.config.commandTimeoutMs / 1000));
    return this.run('ovs-vsctl', [`--db=${this.config.ovsdb}`, `--timeout=${seconds}`, ...args]);
  }

  /** ovs-ofctl (OpenFlow 1.3, ports by number), bounded in time (also for routerLinkLoad.ts). */
  ofctl(args: string[], input?: string): Promise<string> {
    const seconds = Math.max(1, Math.ceil(this.config.commandTimeoutMs / 1000));
    return this.run('ovs-ofctl', ['-O', 'OpenFlow13', '--no-names', `--timeout=${seconds}`, ...args], input);
  }

  private run(tool: string, args: string[], input?: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const child = execFile(tool, args, { timeout: this.config.commandTimeoutMs, killSignal: 'SIGKILL', maxBuffer: 64 * 2 ** 20, encoding: 'utf8' }, (error, stdout, stderr) => {
        if (!error) return resolve(stdout);
        const e = error as NodeJS.ErrnoException & { killed?: boolean };
        const command = `${tool} ${args.filter((a) => !a.startsWith('--timeout=')).join(' ')}`;
        if (e.code === 'ENOENT') return reject(new RouterError(`${tool} is not installed (not found on PATH): Open vSwitch is needed to program ${this.name}`));
        if (e.killed) return reject(new RouterError(`${command} took longer than ${this.config.commandTimeoutMs} ms: is ovs-vswitchd running and answering?`));
        reject(new RouterError(`${command} failed: ${stderr.trim() || e.message}`));
      });
      child.stdin?.on('error', () => undefined);
      child.stdin?.end(input ?? '');
    });
  }
}
