/**
 * The config of one lab controller (format: main/controller/config.ts): its
 * cloudlet's nodes from the topology, the scheduler's URL and the cloudlet's
 * controller token, a loopback port for consoles that accept the lab's
 * operator and viewer tokens, and state beside the lab's other data. VIs are
 * stopped when the lab stops, since nothing would re-adopt them. The data
 * plane listens on the cloudlet's uplink (in its namespace beside the router,
 * or on loopback facing the userspace traffic source); with a router, its
 * Open vSwitch is named for the router driver (contracts.md 4).
 */
import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { ControllerConfigSchema, type ControllerConfigInput } from '../controller/config.ts';
import { writeJsonFile } from './jsonFile.ts';
import type { ControllerConfigWriter } from './labSupervisor.ts';

export const labControllerConfig: ControllerConfigWriter = (input) => {
  const stateDir = join(input.dir, `controller-${input.cloudlet.id}`);
  // Traversable: a VI (its own user) reaches its directory under vis/ (the ids service writes Suricata's there).
  mkdirSync(stateDir, { recursive: true, mode: 0o711 });
  chmodSync(stateDir, 0o711);
  const config: ControllerConfigInput = {
    cloudletId: input.cloudlet.id,
    scheduler: { url: input.schedulerUrl, token: input.controllerToken, reportIntervalMs: 2000 },
    listen: { host: '127.0.0.1', port: input.port },
    tokens: [
      { token: input.operatorToken, role: 'operator', name: 'lab-operator' },
      { token: input.viewerToken, role: 'viewer', name: 'lab-viewer' },
    ],
    nodes: input.cloudlet.nodes,
    trustAnchors: [input.trustAnchor],
    stateDir,
    onExit: 'stop',
    // Unique to this lab's folder: another lab on the host has a cloudlet of the same id, with VIs of the same ids.
    sandbox: { cgroupName: `packetcloud-lab-${createHash('sha256').update(input.dir).digest('hex').slice(0, 8)}-${input.cloudlet.id}` },
    dataPlane: {
      bind: input.uplink.bind,
      port: input.uplink.port,
      routers: [input.uplink.routerAddress],
      routerPort: input.uplink.routerPort,
      vnis: [input.uplink.vni],
      // Block at once when idle: the lab's routers, delay line, VIs and hosts share this machine's
      // cores with the data plane, and its empty polls took ~0.3 ms of CPU per wake-up from them.
      idleSpins: 0,
      ...(input.uplink.netns ? { netns: input.uplink.netns } : {}),
    },
    metrics: { host: '127.0.0.1', port: input.metricsPort },
  };
  // The router section comes with the router driver; a controller without it would refuse an unknown key.
  const withRouter = input.uplink.router && 'router' in ControllerConfigSchema.shape ? { ...config, router: input.uplink.router } : config;
  const file = join(input.dir, `controller-${input.cloudlet.id}.json`);
  writeJsonFile(file, withRouter, 0o600);
  return file;
};
