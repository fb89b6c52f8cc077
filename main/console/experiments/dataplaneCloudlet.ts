/**
 * A cloudlet on the data-plane lab for the experiments of Fig. 5a and 5b, as
 * root: the lab's namespaces with the kernel as the router
 * (main/console/dataplaneLab.ts), and per computation node a data plane of
 * its own (one thread, its own uplink port and router port, as the paper
 * scales a cloudlet by adding nodes) whose ring VI runs the service program
 * as a child process, exactly as a controller starts a built-in (the
 * program's file from main/services/, PCLOUD_VI_RING naming its port). The
 * load generator plays the front-end router (native/dataplaneMeasure.ts); its
 * frames carry the send time in IPv4 options, where aes-encrypt, which
 * encrypts the transport payload, does not touch it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LoadResult } from '../../../native/index.ts';
import { CLOUDLET, DataPlaneLab, ROUTER_VTEP, VNI } from '../dataplaneLab.ts';
import { GENERATOR_PORT, LoadGeneratorProcess, frameOf } from '../../../native/dataplaneMeasure.ts';

const servicesDir = fileURLToPath(new URL('../../services/', import.meta.url));

/** The service the paper measures, when this build has it; else forward (the data plane and a VI hop, no work). */
export function measuredProgram(): { program: string; script: string } {
  for (const program of ['aes-encrypt', 'forward']) {
    for (const script of [join(servicesDir, `${program}.ts`), join(servicesDir, program, 'index.ts')]) {
      if (existsSync(script)) return { program, script };
    }
  }
  throw new Error(`neither aes-encrypt nor forward found in ${servicesDir}`);
}

export interface CloudletNode {
  /** The generator's port (the node's data plane sends back there) and the node's uplink port. */
  target: { port: number; targetPort: number };
  vi: ChildProcess;
  /** The router's generator for this node, kept for every run. */
  generator: LoadGeneratorProcess;
}

export class ExperimentCloudlet {
  readonly lab: DataPlaneLab;
  readonly nodes: CloudletNode[] = [];
  readonly program: { program: string; script: string };
  private readonly closers: (() => void)[] = [];

  private constructor(lab: DataPlaneLab) {
    this.lab = lab;
    this.program = measuredProgram();
  }

  static create(): ExperimentCloudlet {
    return new ExperimentCloudlet(new DataPlaneLab().create());
  }

  /** Adds `count` nodes, each a data plane with one thread and a ring VI running the program, and waits until each forwards. */
  async addNodes(count: number, tmpDir: string): Promise<void> {
    const { DataPlane, FlowTable } = await import('../../../native/index.ts');
    for (let k = this.nodes.length; k < count; k++) {
      // Ports apart from the lab's own (4789 serves node 0, 4790 is the router's vx1).
      const target = { port: GENERATOR_PORT + 2 * k, targetPort: k === 0 ? 4789 : 4801 + 2 * k };
      const table = new FlowTable();
      const plane = new DataPlane({ table, netns: this.lab.nsPath(this.lab.ns.c), bind: CLOUDLET, port: target.targetPort, routerPort: target.port, routers: [ROUTER_VTEP], vnis: [VNI], threads: 1 });
      this.closers.push(() => plane.close());
      const socketPath = join(tmpDir, `node${k}-vi.sock`);
      plane.addRingPort(1, { socketPath });
      const vi = spawn(process.execPath, [this.program.script], {
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', PCLOUD_VI_RING: socketPath, PCLOUD_VI_ID: `experiment-${k}` },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      vi.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
      this.closers.push(() => {
        if (vi.exitCode === null && vi.signalCode === null) vi.kill('SIGKILL');
      });
      table.add([{ priority: 1, match: {}, action: 'to_vi', viId: 1 }]);
      const generator = new LoadGeneratorProcess();
      this.closers.push(() => generator.close());
      this.nodes.push({ target, vi, generator });
      // Forwarding once the VI has connected to its ring: a few probes, bounded.
      let ready = false;
      for (let attempt = 0; attempt < 20 && !ready; attempt++) {
        if (vi.exitCode !== null) throw new Error(`service ${this.program.program} on node ${k} exited (${vi.exitCode}): ${stderr.trim()}`);
        const r = await generator.run(this.lab, frameOf(this.lab, 100, { stampInIpOptions: true }), 20, 0.25, target);
        ready = r.received > 0;
      }
      if (!ready) throw new Error(`node ${k}: nothing came back through ${this.program.program} after 20 probes (${stderr.trim() || 'no output from the service'})`);
    }
  }

  /** Every node offered `ppsPerNode` of `bytes`-byte frames at once for `seconds`; the sum of what came back. */
  async offer(bytes: number, ppsPerNode: number, seconds: number): Promise<{ sent: number; received: number; seconds: number; perNode: LoadResult[] }> {
    const frame = frameOf(this.lab, bytes, { stampInIpOptions: true });
    const perNode = await Promise.all(this.nodes.map((n) => n.generator.run(this.lab, frame, ppsPerNode, seconds, n.target)));
    return { sent: perNode.reduce((s, r) => s + r.sent, 0), received: perNode.reduce((s, r) => s + r.received, 0), seconds: Math.max(...perNode.map((r) => r.seconds)), perNode };
  }

  /** Stops the VIs and data planes of every node (the lab stays). */
  closeNodes(): void {
    for (const close of this.closers.splice(0).reverse()) close();
    this.nodes.length = 0;
  }

  close(): void {
    this.closeNodes();
    this.lab.close();
  }
}
