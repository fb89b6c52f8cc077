// strongswan as the comparison for our ipsec-tunnel (issue 13's benchmark):
// one charon per site, in the site's router namespace of a TunnelLab, with
// the userspace kernel-libipsec plugin (this kernel has no ESP: NETWORK-NOTES.md),
// which moves packets through a TUN device (ipsec0) and ESP-in-UDP on port
// 4500 over the wan. IKEv2 with a pre-shared key sets up one child SA pair
// for A's prefix to B's, AES-256-CBC with HMAC-SHA-256-128 like our tunnel.
//
// charon writes its pid file to a fixed /run path, so each one runs in a
// mount namespace of its own with a private tmpfs on /run; its vici socket and
// configuration live in the caller's scratch folder. stop() kills both and
// waits for them.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run } from '../main/console/dataplaneLab.ts';
import type { Site, TunnelLab } from '../test/support/tunnelLab.ts';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Gateway {
  site: Site;
  dir: string;
  vici: string;
  charon: ChildProcess;
  log: string;
}

export class StrongswanLibipsecPair {
  private readonly gateways: Gateway[] = [];
  private readonly lab: TunnelLab;
  private readonly dir: string;

  private constructor(lab: TunnelLab, dir: string) {
    this.lab = lab;
    this.dir = dir;
  }

  /** Starts charon at both routers, loads the connection and brings the child SA up from A; rejects with charon's log otherwise. */
  static async start(lab: TunnelLab, dir: string): Promise<StrongswanLibipsecPair> {
    const pair = new StrongswanLibipsecPair(lab, dir);
    try {
      const psk = randomBytes(24).toString('hex');
      const a = pair.gateway(lab.a, lab.b, '198.18.60.1', '198.18.60.2', psk);
      const b = pair.gateway(lab.b, lab.a, '198.18.60.2', '198.18.60.1', psk);
      for (const g of [a, b]) await pair.swanctl(g, ['--load-all', '--file', join(g.dir, 'swanctl.conf')]);
      await pair.swanctl(a, ['--initiate', '--child', 'net', '--timeout', '20']);
      return pair;
    } catch (e) {
      await pair.stop();
      throw e;
    }
  }

  private gateway(site: Site, far: Site, local: string, remote: string, psk: string): Gateway {
    const dir = join(this.dir, `charon-${site.router}`);
    mkdirSync(dir, { recursive: true });
    const vici = join(dir, 'charon.vici');
    const log = join(dir, 'charon.log');
    // kernel-libipsec before kernel-netlink: it takes the IPsec part, kernel-netlink keeps routes and addresses.
    // No openssl plugin in this Debian build: AES is strongswan's own aes plugin (no AES-NI), DH from gmp.
    // The TUN device's MTU is the hosts' (the plugin's default 1400 would make TCP segments smaller than ours).
    writeFileSync(join(dir, 'strongswan.conf'), `charon {
  load = random nonce aes sha1 sha2 hmac gmp pem pkcs1 x509 pubkey kdf kernel-libipsec kernel-netlink socket-default vici updown
  install_routes = yes
  plugins {
    vici { socket = unix://${vici} }
    kernel-libipsec { mtu = ${this.lab.hostMtu} }
  }
  filelog { bench { path = ${log}
    default = 1
  } }
}
`);
    writeFileSync(join(dir, 'swanctl.conf'), `connections {
  site {
    version = 2
    local_addrs = ${local}
    remote_addrs = ${remote}
    proposals = aes256-sha256-modp2048
    local { auth = psk
      id = ${local} }
    remote { auth = psk
      id = ${remote} }
    children {
      net {
        local_ts = ${site.prefix}
        remote_ts = ${far.prefix}
        esp_proposals = aes256-sha256
        mode = tunnel
      }
    }
  }
}
secrets {
  ike-site { id-a = ${local}
    id-b = ${remote}
    secret = ${psk} }
}
`);
    // Only charon crosses the router: the cloudlet's policy rules stay out of this comparison.
    for (const iif of ['rh', 'wan']) run(['ip', '-n', site.router, 'rule', 'del', 'iif', iif, 'lookup', '100']);
    const charon = spawn('ip', ['netns', 'exec', site.router, 'unshare', '-m', 'sh', '-c', 'mount -t tmpfs tmpfs /run && exec /usr/lib/ipsec/charon'], {
      env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', STRONGSWAN_CONF: join(dir, 'strongswan.conf') },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const g: Gateway = { site, dir, vici, charon, log };
    this.gateways.push(g);
    return g;
  }

  private async swanctl(g: Gateway, args: string[]): Promise<void> {
    let last = '';
    // charon takes a moment to open its vici socket.
    for (let attempt = 0; attempt < 40; attempt++) {
      if (g.charon.exitCode !== null) throw new Error(`charon in ${g.site.router} exited (${g.charon.exitCode}); see ${g.log}`);
      const r = await new Promise<{ code: number | null; out: string }>((resolve) => {
        const p = spawn('ip', ['netns', 'exec', g.site.router, 'swanctl', ...args, '--uri', `unix://${g.vici}`], { stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '';
        p.stdout.on('data', (d: Buffer) => (out += d.toString()));
        p.stderr.on('data', (d: Buffer) => (out += d.toString()));
        p.once('close', (code) => resolve({ code, out }));
      });
      if (r.code === 0) return;
      last = r.out;
      if (!/connecting to .* failed|No such file/i.test(r.out)) break;
      await sleep(250);
    }
    throw new Error(`swanctl ${args.join(' ')} in ${g.site.router} failed: ${last.trim().split('\n').slice(-5).join(' | ')} (charon log: ${g.log})`);
  }

  async stop(): Promise<void> {
    for (const g of this.gateways.splice(0)) {
      if (g.charon.exitCode === null && g.charon.signalCode === null) {
        const exited = new Promise((r) => g.charon.once('exit', r));
        g.charon.kill('SIGTERM');
        await Promise.race([exited, sleep(5000)]);
        if (g.charon.exitCode === null && g.charon.signalCode === null) g.charon.kill('SIGKILL');
      }
      // The router's path into its cloudlet, as TunnelLab made it.
      for (const iif of ['rh', 'wan']) run(['ip', '-n', g.site.router, 'rule', 'add', 'iif', iif, 'lookup', '100']);
    }
  }
}
