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
import type { ControllerCommand, ServiceSpec } from '../../main/protocol/domain.ts';
import { CLOUDLET, ROUTER_RETURN_PORT, ROUTER_VTEP, VNI, type DataPlaneLab } from '../../main/console/dataplaneLab.ts';

export const labOperatorToken = 'operator-token-lab-controller-0123456789';

/** Accepts `owns:<provider>` as the proof that a provider owns a rule's prefixes. */
export const ownerVerifier: OwnershipVerifier = {
  verify: (proof, c) => (proof === `owns:${c.providerId}` ? { ok: true, anchor: 'test', notAfter: 0 } : { ok: false, reason: 'not the owner' }),
};

/**
 * Starts a VI for `reservationId` as the scheduler would have the controller do it (prepare,
 * commit, start, on node n1, for ten minutes from now), for provider p1; the start's answer.
 */
export async function startViByScheduler(daemon: ControllerDaemon, reservationId: string, service: ServiceSpec): Promise<{ ok: boolean; reason?: string }> {
  const now = Date.now();
  const t1 = now + 600_000;
  const profile = [{ from: now - 1000, to: t1, capacity: { cpu: 1, memMiB: 1024, diskGiB: 1, netMbps: 100 } }];
  const send = (c: ControllerCommand) => daemon.cloudlet.agent.command(c);
  const prepared = await send({ reservationId, commandId: `${reservationId}-p`, kind: 'prepare', providerId: 'p1', nodeId: 'n1', t0: now - 1000, t1, profile, service, holdMs: 5000 });
  if (!prepared.ok) return prepared;
  const committed = await send({ reservationId, commandId: `${reservationId}-c`, kind: 'commit' });
  if (!committed.ok) return committed;
  return send({ reservationId, commandId: `${reservationId}-s`, kind: 'start', nodeId: 'n1', profile, service, t1 });
}

export interface LabController {
  dir: string;
  /** The controller's API address, for further clients of a test. */
  url: string;
  daemon: ControllerDaemon;
  client: RpcClient<typeof controllerApi>;
  close(): Promise<void>;
}

export async function startLabController(
  lab: DataPlaneLab,
  o: {
    cloudletId: string;
    programs?: Record<string, { command: string[] }>;
    /** VNIs the data plane takes (default the lab's VNI; add REPLAY_VNI for captures replayed into vx2) */
    vnis?: number[];
    /** The router's MAC for VIs on a single tap port (the lab's routerMac: its vx1 accepts only frames to it) */
    routerMac?: string;
    /** Where the data plane returns frames (the kernel router's vx1 by default; the benchmark's load generator instead). */
    routerPort?: number;
  },
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
    dataPlane: { netns: lab.nsPath(lab.ns.c), bind: CLOUDLET, port: 4789, routerPort: o.routerPort ?? ROUTER_RETURN_PORT, routers: [ROUTER_VTEP], vnis: o.vnis ?? [VNI], drainIntervalMs: 50, ...(o.routerMac ? { routerMac: o.routerMac } : {}) },
    ...(o.programs ? { programs: o.programs } : {}),
    sandbox: { usageIntervalMs: 200 },
  });
  const daemon = new ControllerDaemon(config, { verifier: ownerVerifier, log: () => undefined });
  const { url } = await daemon.start();
  const client = new RpcClient(controllerApi, { url, token: labOperatorToken, timeoutMs: 10_000 });
  await client.connect();
  return {
    dir,
    url,
    daemon,
    client,
    close: async () => {
      client.close();
      await daemon.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
