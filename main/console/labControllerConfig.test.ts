// The lab's controller config as the controller reads it back: its data
// plane blocks at once when idle (issue 17: the default 64 empty polls per
// wake-up took the CPU that the lab's routers, delay line and VIs, sharing
// the same cores, needed to make the next packet), while a controller
// configured without the key keeps the default for a machine of its own.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { loadControllerConfig, parseControllerConfig } from '../controller/config.ts';
import { labControllerConfig } from './labControllerConfig.ts';
import { loadLabTopology } from './labTopology.ts';

const dir = mkdtempSync(join(tmpdir(), 'labcfg-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("a lab controller's data plane does not spin when idle; the controller's default still does", () => {
  const topology = loadLabTopology('deterlab');
  const cloudlet = topology.cloudlets[0];
  if (!cloudlet) throw new Error('the deterlab topology has no cloudlet');
  const file = labControllerConfig({
    topology,
    cloudlet,
    dir,
    schedulerUrl: 'ws://127.0.0.1:1',
    controllerToken: 'c'.repeat(32),
    operatorToken: 'o'.repeat(32),
    viewerToken: 'v'.repeat(32),
    port: 0,
    uplink: { bind: '127.0.0.1', port: 0, routerAddress: '127.0.0.1', routerPort: 4789, vni: 1000 },
    metricsPort: 0,
    trustAnchor: { name: 'lab', publicKey: 'a public key the test never checks a proof with' },
  });
  const lab = loadControllerConfig(file);
  expect(lab.dataPlane?.idleSpins).toBe(0);
  const { idleSpins: _omitted, ...withoutSpins } = lab.dataPlane ?? {};
  const defaulted = parseControllerConfig({ ...JSON.parse(JSON.stringify(lab)), dataPlane: withoutSpins });
  expect(defaulted.dataPlane?.idleSpins).toBe(64);
});
