import { mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { WebSocket } from 'ws';
import { RpcClient } from '../protocol/client.ts';
import { controllerApi } from '../protocol/controllerApi.ts';
import { ErrorCode } from '../protocol/errors.ts';
import { ConfigError, loadControllerConfig, makeStateDir, parseControllerConfig } from './config.ts';
import { ControllerDaemon } from './daemon.ts';
import { Ed25519AttestationVerifier } from './ownership.ts';

const tokens = { operator: 'operator-token-0123456789abcdef', viewer: 'viewer-token-0123456789abcdef' };
const dir = mkdtempSync(join(tmpdir(), 'pcloud-ctl-unit-'));
const config = parseControllerConfig({
  cloudletId: 'unit1',
  // Nothing listens there: the console API must work while the scheduler is away.
  scheduler: { url: 'ws://127.0.0.1:1', token: 'controller-token-0123456789', backoffMs: 1000, maxBackoffMs: 1000 },
  listen: { host: '127.0.0.1', port: 0 },
  tokens: [
    { token: tokens.operator, role: 'operator', name: 'noc-alice' },
    { token: tokens.viewer, role: 'viewer', name: 'noc-bob' },
  ],
  nodes: [{ id: 'n1', capacity: { cpu: 4, memMiB: 4096, diskGiB: 20, netMbps: 1000 } }],
  stateDir: join(dir, 'state'),
  ispRules: [{ priority: 1000, match: { dstPrefix: '192.0.2.0/24' }, action: 'drop' }],
  metrics: { port: 0 },
});

let daemon: ControllerDaemon;
const clients: RpcClient<typeof controllerApi>[] = [];

async function as(token: string): Promise<RpcClient<typeof controllerApi>> {
  const c = new RpcClient(controllerApi, { url: daemon.url, token, timeoutMs: 5000 });
  clients.push(c);
  await c.connect();
  return c;
}

beforeAll(async () => {
  daemon = new ControllerDaemon(config, { log: () => undefined });
  await daemon.start();
});

afterAll(async () => {
  for (const c of clients) c.close();
  await daemon.stop();
});

describe('controller console API, per role', () => {
  test('every method and topic is for viewers and operators only; actions for operators only', () => {
    for (const [name, spec] of Object.entries({ ...controllerApi.methods, ...controllerApi.topics })) {
      expect(spec.roles, name).not.toContain('provider');
      expect(spec.roles, name).not.toContain('controller');
    }
    const actions = ['node.setHealth', 'vi.restrict', 'vi.terminate', 'alarm.acknowledge'] as const;
    for (const a of actions) expect(controllerApi.methods[a].roles).toEqual(['operator']);
  });

  test('a viewer reads nodes, VIs, rules, alarms and audit', async () => {
    const viewer = await as(tokens.viewer);
    const info = await viewer.call('cloudlet.info', {});
    expect(info).toMatchObject({ cloudletId: 'unit1', schedulerConnected: false });
    expect(info.isolation.rlimits.length).toBeGreaterThan(0);
    expect((await viewer.call('node.list', {})).nodes).toEqual([
      { id: 'n1', capacity: config.nodes[0]?.capacity, allocated: { cpu: 0, memMiB: 0, diskGiB: 0, netMbps: 0 }, available: config.nodes[0]?.capacity, health: 'up', reason: '', vis: 0 },
    ]);
    expect((await viewer.call('vi.list', {})).vis).toEqual([]);
    expect((await viewer.call('rule.list', {})).rules).toEqual([expect.objectContaining({ id: 'isp#0', owner: 'isp', action: 'drop' })]);
    expect((await viewer.call('alarm.list', {})).alarms).toEqual([]);
    expect((await viewer.call('audit.list', {})).entries).toEqual([]);
  });

  test('a viewer may not act', async () => {
    const viewer = await as(tokens.viewer);
    await expect(viewer.call('vi.terminate', { viId: 'vi-x', reason: 'x' })).rejects.toMatchObject({ code: ErrorCode.Forbidden, message: 'role "viewer" may not call vi.terminate (allowed: operator)' });
    await expect(viewer.call('node.setHealth', { nodeId: 'n1', health: 'down', reason: 'x' })).rejects.toMatchObject({ code: ErrorCode.Forbidden });
    await expect(viewer.call('vi.restrict', { viId: 'vi-x', cpu: 1, reason: 'x' })).rejects.toMatchObject({ code: ErrorCode.Forbidden });
  });

  test('an operator must say why, and is told what does not exist', async () => {
    const op = await as(tokens.operator);
    await expect(op.call('vi.terminate', { viId: 'vi-x', reason: '' })).rejects.toMatchObject({ code: ErrorCode.InvalidParams, message: 'params.reason: say why' });
    await expect(op.call('vi.terminate', { viId: 'vi-x', reason: 'suspect' })).rejects.toMatchObject({ code: ErrorCode.NotFound, message: 'no VI "vi-x" in cloudlet unit1' });
    await expect(op.call('node.setHealth', { nodeId: 'n9', health: 'down', reason: 'x' })).rejects.toMatchObject({ code: ErrorCode.NotFound, message: 'node "n9" is not in cloudlet unit1 (nodes: n1)' });
    await expect(op.call('alarm.acknowledge', { alarmId: 99, reason: 'seen' })).rejects.toMatchObject({ code: ErrorCode.NotFound });
  });

  test('an operator marks a node down and up; both are audited; the alarm can be acknowledged', async () => {
    const op = await as(tokens.operator);
    const alarms: string[] = [];
    await op.subscribe('alarms', {}, (a) => alarms.push(`${a.kind}:${a.subject}`));
    expect(await op.call('node.setHealth', { nodeId: 'n1', health: 'down', reason: 'fan failure' })).toMatchObject({ health: 'down', reason: 'fan failure', available: { cpu: 0 } });
    expect(await op.call('node.setHealth', { nodeId: 'n1', health: 'up', reason: 'fan replaced' })).toMatchObject({ health: 'up' });
    const alarm = (await op.call('alarm.list', {})).alarms[0];
    expect(alarm).toMatchObject({ kind: 'node_down', subject: 'n1', severity: 'critical', acknowledgedBy: null });
    expect(alarms).toEqual(['node_down:n1']);
    // The console sends the operator's own name; a name that is not one line is refused before anything is recorded.
    await expect(op.call('alarm.acknowledge', { alarmId: alarm?.id ?? 0, reason: 'seen', operatorName: 'Dana\nAdmin' })).rejects.toMatchObject({
      code: ErrorCode.InvalidParams,
      message: 'params.operatorName: one line, no control characters',
    });
    expect(await op.call('alarm.acknowledge', { alarmId: alarm?.id ?? 0, reason: 'hardware ticket 42', operatorName: ' Dana Okafor ' })).toMatchObject({
      acknowledgedBy: 'Dana Okafor',
      acknowledgedPrincipal: 'noc-alice',
    });
    // Without a name, the token's principal is who acknowledged.
    await op.call('node.setHealth', { nodeId: 'n1', health: 'down', reason: 'fan failure again' });
    await op.call('node.setHealth', { nodeId: 'n1', health: 'up', reason: 'fan replaced again' });
    const second = (await op.call('alarm.list', { includeAcknowledged: false })).alarms[0];
    expect(await op.call('alarm.acknowledge', { alarmId: second?.id ?? 0, reason: 'same fan' })).toMatchObject({ acknowledgedBy: 'noc-alice', acknowledgedPrincipal: 'noc-alice' });
    const audit = (await op.call('audit.list', {})).entries;
    // The audit's actor is always what the token proved; the operator's name is in the entry beside the reason.
    expect(audit.map((e) => [e.action, e.actor, e.role, e.target, e.reason, e.forwarded])).toEqual([
      ['node.down', 'noc-alice', 'operator', 'unit1/n1', 'fan failure', false],
      ['node.up', 'noc-alice', 'operator', 'unit1/n1', 'fan replaced', false],
      ['alarm.acknowledge', 'noc-alice', 'operator', `unit1/alarm/${alarm?.id}`, 'operator Dana Okafor: hardware ticket 42', false],
      ['node.down', 'noc-alice', 'operator', 'unit1/n1', 'fan failure again', false],
      ['node.up', 'noc-alice', 'operator', 'unit1/n1', 'fan replaced again', false],
      ['alarm.acknowledge', 'noc-alice', 'operator', `unit1/alarm/${second?.id}`, 'same fan', false],
    ]);
  });

  test('unknown tokens and unauthenticated calls are refused', async () => {
    const stranger = new RpcClient(controllerApi, { url: daemon.url, token: 'provider-token-0123456789abcdef', timeoutMs: 5000 });
    await expect(stranger.connect()).rejects.toMatchObject({ code: ErrorCode.Unauthenticated });
    const ws = new WebSocket(daemon.url);
    await new Promise((r) => ws.once('open', r));
    const reply = new Promise<string>((r) => ws.once('message', (d) => r(d.toString())));
    ws.send(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'vi.list', params: {} }));
    expect(JSON.parse(await reply)).toMatchObject({ error: { code: ErrorCode.Unauthenticated } });
    ws.close();
  });

  test('the opt-in metrics endpoint serves VI, report and rule metrics', async () => {
    const text = await (await fetch(daemon.metricsUrl as string)).text();
    expect(text).toMatch(/pcloud_controller_reports_sent_total\{cloudlet="unit1"\} 0/);
    expect(text).toMatch(/pcloud_controller_rules\{cloudlet="unit1"\} 0/);
    expect(text).toContain('# TYPE pcloud_controller_vis gauge');
  });
});

describe('controller config', () => {
  test('a bad file is refused naming the field and what would be right', () => {
    expect(() => parseControllerConfig({ ...config, scheduler: { url: 'http://x', token: 'controller-token-0123456789' } })).toThrow(
      'config refused: config.scheduler.url: the scheduler URL starts with ws:// or wss://',
    );
    expect(() => parseControllerConfig({ ...config, nodes: [config.nodes[0], config.nodes[0]] })).toThrow('config.nodes[1].id: node "n1" is listed twice');
    expect(() => loadControllerConfig(join(dir, 'missing.json'))).toThrow(ConfigError);
    expect(() => parseControllerConfig({ ...config, listen: { host: '0.0.0.0', port: 0 } })).toThrow(
      'config.listen.host: refusing to listen on 0.0.0.0 without TLS; use 127.0.0.1 (and an SSH tunnel) or give listen.tls a certificate and key',
    );
    expect(parseControllerConfig({ ...config, listen: { host: '0.0.0.0', port: 0, tls: { cert: 'c.pem', key: 'k.pem' } } }).listen.host).toBe('0.0.0.0');
    expect(config.sandbox).toMatchObject({ maxProcesses: 128, viUids: { first: 1_500_000_000, count: 100_000_000 } });
    expect(() => parseControllerConfig({ ...config, sandbox: { viUids: { first: 2_100_000_000, count: 100_000_000 } } })).toThrow('config.sandbox.viUids.count: the range ends past uid 2147483646');
  });

  test('a stateDir that cannot hold files is refused at once, naming it and why (never a hang)', () => {
    expect(() => makeStateDir('/proc/pcloud-unit/state', 'vis')).toThrow("stateDir /proc/pcloud-unit/state cannot be used: /proc is on the kernel's proc filesystem, which cannot hold files");
    expect(() => makeStateDir('/sys/fs/pcloud-unit', 'vis')).toThrow(/stateDir \/sys\/fs\/pcloud-unit cannot be used: \/sys\/fs is on the kernel's sysfs filesystem/);
    const file = join(dir, 'a-file');
    writeFileSync(file, '');
    expect(() => makeStateDir(join(file, 'state'), 'vis')).toThrow(`stateDir ${join(file, 'state')} cannot be used: ${join(file, 'state')}: ENOTDIR`);
    expect(() => makeStateDir(file, 'vis')).toThrow(`stateDir ${file} cannot be used: ${file} is not a directory`);
    expect(() => makeStateDir('relative/state', 'vis')).toThrow('stateDir relative/state cannot be used: it is not an absolute path');
    const made = join(dir, 'deep', 'er', 'state');
    makeStateDir(made, 'vis');
    expect(statSync(join(made, 'vis')).isDirectory()).toBe(true);
    expect(statSync(made).mode & 0o777).toBe(0o700);
    makeStateDir(made, 'vis');
  });

  test('the example in resources/ is a valid config, with paths made absolute', () => {
    const example = loadControllerConfig(fileURLToPath(new URL('../../resources/controller.example.json', import.meta.url)));
    expect(example).toMatchObject({ cloudletId: 'ams-1', onExit: 'keep', sandbox: { mode: 'auto' } });
    expect(example.stateDir).toMatch(/resources\/controller-ams-1$/);
    expect(() => new Ed25519AttestationVerifier(example.trustAnchors)).not.toThrow();
  });
});
