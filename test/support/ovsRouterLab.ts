// Test lab with Open vSwitch as the front-end router (needs root): its own
// ovsdb-server and ovs-vswitchd (userspace datapath, --disable-system) in a
// private run directory, inside the router's network namespace.
//
//   a (198.18.60.1) ─ pa ┐
//                        brr (OpenFlow 1.3) ── vx: VXLAN, key=flow, remote 198.18.61.2
//   b (198.18.60.2) ─ pb ┘
//                        brup (198.18.61.1, the VTEP) ── rup ── c (198.18.61.2): the data plane's uplink
//
// The userspace datapath encapsulates itself: the tunnel's local address must
// sit on an OVS bridge (brup), which OVS finds through the namespace's routes.
// Table 1 of brr is the lab's (forwarding by destination, ARP included); table
// 0 is left to the controller under test, except one foreign flow that must
// survive it. Every name carries a per-lab tag; close() removes everything,
// processes first.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../../main/console/dataplaneLab.ts';

export const HOST_A = '198.18.60.1';
export const HOST_B = '198.18.60.2';
export const ROUTER_VTEP = '198.18.61.1';
export const CLOUDLET = '198.18.61.2';
export const VNI = 100;
export const BRIDGE = 'brr';
export const VXLAN_PORT = 'vx';
/** A flow the controller did not install: it must be left alone. */
export const FOREIGN_FLOW = { cookie: '0xf00d', text: 'priority=5,udp,tp_dst=9 actions=drop' };

export class OvsRouterLab {
  readonly tag = `ov${randomBytes(3).toString('hex')}`;
  readonly ns = { a: `${this.tag}a`, b: `${this.tag}b`, r: `${this.tag}r`, c: `${this.tag}c` };
  readonly runDir = mkdtempSync(join(tmpdir(), 'pcloud-ovs-'));
  private ovsdb: ChildProcess | undefined;
  private vswitchd: ChildProcess | undefined;

  get dbRemote(): string {
    return `unix:${join(this.runDir, 'db.sock')}`;
  }

  get openflow(): string {
    return `unix:${join(this.runDir, `${BRIDGE}.mgmt`)}`;
  }

  nsPath(name: string): string {
    return `/var/run/netns/${name}`;
  }

  exec(ns: string, ...args: string[]): string {
    return run(['ip', 'netns', 'exec', ns, ...args]);
  }

  vsctl(...args: string[]): string {
    return run(['ovs-vsctl', `--db=${this.dbRemote}`, '--timeout=10', ...args]);
  }

  ofctl(...args: string[]): string {
    return run(['ovs-ofctl', '-O', 'OpenFlow13', '--no-names', ...args]);
  }

  /** Table 0 as ovs-ofctl prints it (asynchronously: a controller under test may run in this process). */
  table0(): Promise<string> {
    return new Promise((resolve, reject) => {
      execFile('ovs-ofctl', ['-O', 'OpenFlow13', '--no-names', 'dump-flows', this.openflow, 'table=0'], { encoding: 'utf8', timeout: 10_000 }, (error, stdout, stderr) =>
        error ? reject(new Error(`ovs-ofctl dump-flows ${this.openflow} failed: ${stderr.trim() || error.message}`)) : resolve(stdout),
      );
    });
  }

  async create(): Promise<this> {
    const { a, b, r, c } = this.ns;
    try {
      for (const n of [a, b, r, c]) run(['ip', 'netns', 'add', n]);
      for (const n of [a, b, r, c]) this.exec(n, 'ip', 'link', 'set', 'lo', 'up');
      run(['ip', '-n', r, 'link', 'add', 'pa', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', a]);
      run(['ip', '-n', r, 'link', 'add', 'pb', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', b]);
      run(['ip', '-n', r, 'link', 'add', 'rup', 'type', 'veth', 'peer', 'name', 'uplink', 'netns', c]);
      for (const [n, addr] of [[a, HOST_A], [b, HOST_B]] as const) {
        this.exec(n, 'ip', 'addr', 'add', `${addr}/24`, 'dev', 'eth0');
        this.exec(n, 'ip', 'link', 'set', 'eth0', 'up');
        // No IPv6 chatter (router solicitations, MLD) in the router's counters.
        this.exec(n, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1');
      }
      this.exec(c, 'ip', 'addr', 'add', `${CLOUDLET}/24`, 'dev', 'uplink');
      this.exec(c, 'ip', 'link', 'set', 'uplink', 'mtu', '1600');
      this.exec(c, 'ip', 'link', 'set', 'uplink', 'up');
      for (const d of ['pa', 'pb', 'rup']) this.exec(r, 'ip', 'link', 'set', d, 'up');
      this.exec(r, 'ip', 'link', 'set', 'rup', 'mtu', '1600');
      // A userspace hop copies frames: checksums must be complete on the wire (NETWORK-NOTES pitfall 1).
      for (const [n, d] of [[a, 'eth0'], [b, 'eth0'], [c, 'uplink'], [r, 'pa'], [r, 'pb'], [r, 'rup']] as const) this.exec(n, 'ethtool', '-K', d, 'tx', 'off');
      run(['ovsdb-tool', 'create', join(this.runDir, 'conf.db'), '/usr/share/openvswitch/vswitch.ovsschema']);
      this.ovsdb = this.daemon('ovsdb-server', [join(this.runDir, 'conf.db'), `--remote=punix:${join(this.runDir, 'db.sock')}`]);
      await this.until(() => existsSync(join(this.runDir, 'db.sock')), 'ovsdb-server to listen');
      this.vsctl('--no-wait', 'init');
      await this.startSwitch();
      this.vsctl('add-br', 'brup', '--', 'set', 'bridge', 'brup', 'datapath_type=netdev', '--', 'add-port', 'brup', 'rup');
      this.vsctl(
        'add-br', BRIDGE, '--', 'set', 'bridge', BRIDGE, 'datapath_type=netdev', 'protocols=OpenFlow13',
        '--', 'add-port', BRIDGE, 'pa', '--', 'add-port', BRIDGE, 'pb',
        '--', 'add-port', BRIDGE, VXLAN_PORT, '--', 'set', 'interface', VXLAN_PORT, 'type=vxlan', `options:remote_ip=${CLOUDLET}`, 'options:key=flow',
      );
      this.configureRouter();
      return this;
    } catch (e) {
      await this.close();
      throw e;
    }
  }

  /**
   * What the router's owner sets up after every start of ovs-vswitchd: the
   * VTEP address on brup (the userspace datapath's internal ports are taps
   * that die with the process), table 1, and the foreign flow. Table 0 starts
   * empty, the controller's to fill.
   */
  configureRouter(): void {
    const { r } = this.ns;
    this.exec(r, 'ip', 'addr', 'replace', `${ROUTER_VTEP}/24`, 'dev', 'brup');
    this.exec(r, 'ip', 'link', 'set', 'brup', 'up');
    // Only what the lab owns: the controller's table-0 flows may already be back.
    this.ofctl('del-flows', this.openflow, 'table=1');
    this.ofctl('del-flows', this.openflow, `cookie=${FOREIGN_FLOW.cookie}/-1`);
    for (const [host, port] of [[HOST_A, 'pa'], [HOST_B, 'pb']] as const) {
      const ofport = this.vsctl('get', 'Interface', port, 'ofport').trim();
      this.ofctl('add-flow', this.openflow, `table=1,ip,nw_dst=${host},actions=output:${ofport}`);
      this.ofctl('add-flow', this.openflow, `table=1,arp,arp_tpa=${host},actions=output:${ofport}`);
    }
    this.ofctl('add-flow', this.openflow, `table=0,cookie=${FOREIGN_FLOW.cookie},${FOREIGN_FLOW.text.replace(' actions=', ',actions=')}`);
  }

  /** Starts ovs-vswitchd (again) and waits for its management socket to answer. */
  async startSwitch(): Promise<void> {
    this.vswitchd = this.daemon('ovs-vswitchd', [this.dbRemote, '--disable-system']);
    await this.until(() => {
      try {
        run(['ovs-appctl', '-t', join(this.runDir, 'ovs-vswitchd.ctl'), 'version']);
        return true;
      } catch {
        return false;
      }
    }, 'ovs-vswitchd to answer');
    if (existsSync(join(this.runDir, `${BRIDGE}.mgmt`))) {
      await this.until(() => {
        try {
          this.ofctl('show', this.openflow);
          return true;
        } catch {
          return false;
        }
      }, `bridge ${BRIDGE} to answer OpenFlow`);
    }
  }

  /** Kills ovs-vswitchd as a crash would (SIGKILL): every flow is gone with it. */
  async killSwitch(): Promise<void> {
    await this.stop(this.vswitchd);
    this.vswitchd = undefined;
  }

  private daemon(program: string, args: string[]): ChildProcess {
    const name = program;
    const child = spawn('ip', ['netns', 'exec', this.ns.r, program, ...args, '--no-chdir', `--pidfile=${join(this.runDir, `${name}.pid`)}`, `--unixctl=${join(this.runDir, `${name}.ctl`)}`, `--log-file=${join(this.runDir, `${name}.log`)}`], {
      // The bridges' management sockets land beside the database's (contracts.md point 4).
      env: { ...process.env, OVS_RUNDIR: this.runDir, OVS_DBDIR: this.runDir, OVS_LOGDIR: this.runDir },
      stdio: 'ignore',
    });
    child.on('error', () => undefined);
    return child;
  }

  private async until(ok: () => boolean, what: string): Promise<void> {
    const deadline = Date.now() + 15_000;
    while (!ok()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (logs in ${this.runDir})`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  private async stop(child: ChildProcess | undefined): Promise<void> {
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await gone;
  }

  async close(): Promise<void> {
    await this.stop(this.vswitchd);
    await this.stop(this.ovsdb);
    for (const n of Object.values(this.ns)) {
      try {
        run(['ip', 'netns', 'del', n]);
      } catch {
        // not created, or already gone
      }
    }
    rmSync(this.runDir, { recursive: true, force: true });
  }
}
