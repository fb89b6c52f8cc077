// A real controller daemon, in this process, whose data plane listens in the cloudlet namespace of a
// DataPlaneLab (the kernel as the front-end router), with an operator client connected to it: what
// the data-plane, service and IDS system tests share. The caller owns the lab; close() stops the
// controller and removes its state directory.
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseControllerConfig } from '../../main/controller/config.ts';
import { ControllerDaemon } from '../../main/controller/daemon.ts';
import type { OwnershipVerifier } from '../../main/controller/ownership.ts';
import { RpcClient } from '../../main/protocol/client.ts';
import { controllerApi } from '../../main/protocol/controllerApi.ts';
import { CLOUDLET, ROUTER_RETURN_PORT, ROUTER_VTEP, VNI, type DataPlaneLab } from '../../main/console/dataplaneLab.ts';

export const labOperatorToken = 'operator-token-lab-controller-0123456789';

/** Accepts `owns:<provider>` as the proof that a provider owns a rule's prefixes. */
export const ownerVerifier: OwnershipVerifier = {
  verify: (proof, c) => (proof === `owns:${c.providerId}` ? { ok: true, anchor: 'test', notAfter: 0 } : { ok: false, reason: 'not the owner' }),
};

export interface LabController {
  dir: string;
  daemon: ControllerDaemon;
  client: RpcClient<typeof controllerApi>;
  close(): Promise<void>;
}

export async function startLabController(
  lab: DataPlaneLab,
  o: { cloudletId: string; programs?: Record<string, { command: string[] }> },
): Promise<LabController> {
  const dir = mkdtempSync(join(tmpdir(), `pcloud-${o.cloudletId}-`));
  // VIs run as users of their own and must reach their directories under the state directory.
  chmodSync(dir, 0o711);
  const config = parseControllerConfig({
    cloudletId: o.cloudletId,
    scheduler: { url: 'ws://127.0.0.1:1', token: 'controller-token-0123456789', backoffMs: 1000, maxBackoffMs: 1000 },
    listen: { host: '127.0.0.1', port: 0 },
    tokens: [{ token: labOperatorToken, role: 'operator', name: 'noc-alice' }],
    nodes: [{ id: 'n1', capacity: { cpu: 2, memMiB: 2048, diskGiB: 10, netMbps: 1000 } }],
    stateDir: join(dir, 'state'),
    onExit: 'stop',
    dataPlane: { netns: lab.nsPath(lab.ns.c), bind: CLOUDLET, port: 4789, routerPort: ROUTER_RETURN_PORT, routers: [ROUTER_VTEP], vnis: [VNI], drainIntervalMs: 50 },
    ...(o.programs ? { programs: o.programs } : {}),
    sandbox: { usageIntervalMs: 200 },
  });
  const daemon = new ControllerDaemon(config, { verifier: ownerVerifier, log: () => undefined });
  const { url } = await daemon.start();
  const client = new RpcClient(controllerApi, { url, token: labOperatorToken, timeoutMs: 10_000 });
  await client.connect();
  return {
    dir,
    daemon,
    client,
    close: async () => {
      client.close();
      await daemon.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
