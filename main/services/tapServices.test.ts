// The parts of the tap services that read what their daemons and users write:
// arguments (refused with the offending part named), Suricata's eve lines,
// squid's access log, haproxy's statistics, and the log follower the
// controller also uses on a VI's (untrusted) events file.
import { execFileSync } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { serviceProblem } from './catalog.ts';
import { HomeNet } from './ids/homeNet.ts';
import { floodRuleSids, ownRuleFiles, ownRuleFilesWith, parseEveAlert, parseFloodLimit, suricataConfig } from './ids/suricata.ts';
import { haproxyConfig, parseBackends, parseStats } from './load-balancer/haproxy.ts';
import { findExecutable } from './sdk/daemonService.ts';
import { LogFollower } from './sdk/logFollower.ts';
import { icmpEcho, ipv4Frame, writePcapFrames } from '../console/labTrafficSource.ts';
import { cacheResult } from './web-cache/squid.ts';

const dir = mkdtempSync(join(tmpdir(), 'pcloud-tap-services-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('arguments of the tap services', () => {
  const root = { root: true };
  test('bad values are refused at admission, naming the argument and the part that is wrong', () => {
    expect(serviceProblem({ program: 'load-balancer', args: { address: '198.18.62.2', backends: '198.18.63.2:8080,nope' } }, root)).toBe('service "load-balancer": argument "backends": backend "nope": write an IP address and a port, e.g. 198.18.63.2:8080');
    expect(serviceProblem({ program: 'load-balancer', args: { address: '198.18.62.2' } }, root)).toMatch(/^service "load-balancer": argument "backends": /);
    // A visible service without its address could send nothing (the data plane lets it send from that address alone).
    expect(serviceProblem({ program: 'load-balancer', args: { backends: '198.18.63.2:8080' } }, root)).toMatch(/^service "load-balancer": argument "address": /);
    expect(serviceProblem({ program: 'web-cache', args: { address: '198.18.62.300' } }, root)).toBe('service "web-cache": argument "address": each part of an IPv4 address is 0 to 255');
    expect(serviceProblem({ program: 'ids', args: { 'home-net': '[10.0.0.0/8,!10.1.0.0/16]' } }, root)).toBe('service "ids": argument "home-net": home-net "[10.0.0.0/8,!10.1.0.0/16]": "!10.1.0.0/16" is not supported (write any, an address, a prefix, or a [list] of them)');
    expect(serviceProblem({ program: 'ids', args: { rules: 'rules' } }, root)).toBe('service "ids": argument "rules": an absolute directory path');
    expect(serviceProblem({ program: 'ids', args: { 'echo-limit': '0.5/1' } }, root)).toBe('service "ids": argument "echo-limit": "0.5/1" is not a limit of the form count/seconds (e.g. 100/1)');
    expect(serviceProblem({ program: 'ids', args: { 'syn-limit': '200/0' } }, root)).toBe('service "ids": argument "syn-limit": "200/0": the seconds must be 1 to 3600');
    expect(serviceProblem({ program: 'ids', args: { 'echo-limit': '5/10', 'syn-limit': '1/3600' } }, root)).toBeNull();
    expect(serviceProblem({ program: 'web-cache', args: { 'cache-mib': '1' } }, root)).toBe('service "web-cache": argument "cache-mib": from 4 to 4096');
    expect(serviceProblem({ program: 'web-cache', args: {} }, { root: false })).toBe('service "web-cache" cannot run on this cloudlet: tap ports need a root controller');
    expect(serviceProblem({ program: 'ids', args: {}, port: { kind: 'ring', layout: 'single' } }, root)).toBe('service "ids" runs on a tap port, not a ring port (leave port out to get its own)');
  });

  test('home-net decides whether an address is on the protected side', () => {
    const home = new HomeNet('[198.18.60.0/24,2001:db8::/32,10.0.0.1]');
    expect(['198.18.60.9', '2001:db8::5', '10.0.0.1'].map((a) => home.contains(a))).toEqual([true, true, true]);
    expect(['198.18.61.1', '10.0.0.2', 'not-an-address'].map((a) => home.contains(a))).toEqual([false, false, false]);
    expect(new HomeNet('any').contains('192.0.2.1')).toBe(true);
  });

  test('backends get names in the order given, and the haproxy configuration checks each', () => {
    const backends = parseBackends('198.18.63.2:8080, [2001:db8::2]:80');
    expect(backends).toEqual([{ name: 'b1', host: '198.18.63.2', port: 8080 }, { name: 'b2', host: '2001:db8::2', port: 80 }]);
    const config = haproxyConfig({ dir: '/vi', port: 80, backends, balance: 'roundrobin', checkMs: 500 });
    expect(config).toContain('  server b1 198.18.63.2:8080 check\n  server b2 [2001:db8::2]:80 check\n');
    expect(config).toContain('default-server inter 500 fall 2 rise 2');
    expect(() => parseBackends(Array.from({ length: 17 }, (_, i) => `198.18.63.${i + 1}:80`).join(','))).toThrow('17 backends: at most 16');
  });
});

// Real Suricata reading a capture offline, with the rule files the ids VI would get.
describe.skipIf(!findExecutable('suricata') && !process.env.CI)('the ids flood rules with limits given', () => {
  const target = { address: '198.18.20.2', mac: '02:00:00:00:00:02' };
  const attacker = { address: '198.19.30.3', mac: '02:00:00:00:00:03' };
  const capture = join(dir, 'echo-30.pcap');
  // 30 echo requests towards one address, all within the first second.
  writePcapFrames(capture, Array.from({ length: 30 }, (_, n) => ipv4Frame(attacker, target, 1, icmpEcho(7, n, 56), 2)));
  const alerts = (limits: Parameters<typeof ownRuleFilesWith>[0]): number[] => {
    const run = mkdtempSync(join(dir, 'suricata-'));
    const ruleFiles = ownRuleFilesWith(limits, run);
    writeFileSync(join(run, 'suricata.yaml'), suricataConfig({ logDir: run, homeNet: target.address, inline: null, ruleFiles }));
    execFileSync('suricata', ['-c', join(run, 'suricata.yaml'), '-r', capture, '-l', run, '-k', 'none'], { stdio: 'ignore', timeout: 60_000 });
    return readFileSync(join(run, 'eve.json'), 'utf8').split('\n').map(parseEveAlert).filter((a) => a !== null).map((a) => a.sid);
  };

  test('the default lets 30 echo requests a second through; 5 per 10 s drops the 25 after the fifth; the shipped file is not changed', () => {
    const shipped = ownRuleFiles().map((f) => readFileSync(f, 'utf8'));
    expect(alerts({})).toEqual([]);
    expect(alerts({ echo: { count: 5, seconds: 10 } })).toEqual(Array(25).fill(floodRuleSids.echo));
    // The SYN rule's limit is its own.
    expect(alerts({ syn: { count: 1, seconds: 1 } })).toEqual([]);
    expect(ownRuleFiles().map((f) => readFileSync(f, 'utf8'))).toEqual(shipped);
  });

  test('limits are count/seconds in whole numbers, refused otherwise with what is wrong', () => {
    expect(parseFloodLimit('100/1')).toEqual({ count: 100, seconds: 1 });
    expect(parseFloodLimit(' 5/10 ')).toEqual({ count: 5, seconds: 10 });
    expect(() => parseFloodLimit('0/1')).toThrow('"0/1": the count must be at least 1');
    expect(() => parseFloodLimit('5/s')).toThrow('is not a limit of the form count/seconds');
    expect(() => parseFloodLimit('5/4000')).toThrow('the seconds must be 1 to 3600');
  });
});

describe('reading what the daemons write', () => {
  test('an eve alert keeps its flow id exactly and its 5-tuple; other events are not alerts', () => {
    const line = '{"timestamp":"2026-12-01T18:00:00.000000+0000","flow_id":1234567890123456789,"event_type":"alert","src_ip":"203.0.113.9","src_port":40001,"dest_ip":"198.18.60.2","dest_port":80,"proto":"TCP","alert":{"action":"blocked","signature_id":2024364,"signature":"ET SCAN Possible Nmap User-Agent Observed","severity":1}}';
    expect(parseEveAlert(line)).toEqual({ at: '2026-12-01T18:00:00.000000+0000', flowId: '1234567890123456789', proto: 'TCP', src: '203.0.113.9', srcPort: 40001, dst: '198.18.60.2', dstPort: 80, sid: 2024364, signature: 'ET SCAN Possible Nmap User-Agent Observed', action: 'blocked', severity: 1 });
    expect(parseEveAlert('{"event_type":"flow","flow_id":1}')).toBeNull();
    expect(parseEveAlert('{"event_type":"alert"')).toBeNull();
  });

  test('squid access log lines are hits, misses or neither', () => {
    const line = (code: string) => `1796148505.506 49 198.18.71.2 ${code} 300353 GET http://198.18.72.2/f.bin - ORIGINAL_DST/198.18.72.2 application/octet-stream`;
    expect(['TCP_MEM_HIT/200', 'TCP_HIT/200', 'TCP_MISS/200', 'TCP_REFRESH_MODIFIED/200', 'TCP_DENIED/403', 'NONE_NONE/400'].map((c) => cacheResult(line(c)))).toEqual(['hit', 'hit', 'miss', 'miss', null, null]);
  });

  test('haproxy statistics give the connections taken and each server\'s state and share', () => {
    const csv = [
      '# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status',
      'visible,FRONTEND,,,0,3,4096,50,1,2,0,0,0,,,,,OPEN',
      'pool,b1,0,0,0,1,,25,1,2,,0,,0,0,0,0,UP',
      'pool,b2,0,0,0,1,,15,1,2,,0,,0,0,0,0,UP 1/2',
      'pool,b3,0,0,0,1,,10,1,2,,0,,0,0,0,0,DOWN',
      'pool,BACKEND,0,0,0,1,410,50,1,2,0,0,,0,0,0,0,UP',
    ].join('\n');
    expect(parseStats(csv)).toEqual({ connections: 50, servers: [{ name: 'b1', up: true, sessions: 25 }, { name: 'b2', up: true, sessions: 15 }, { name: 'b3', up: false, sessions: 10 }] });
  });

  test('the log follower returns whole lines once, starts over after a rotation, and drops a line longer than one read', () => {
    const file = join(dir, 'follow.log');
    const f = new LogFollower(file, 64);
    expect(f.read()).toEqual([]);
    writeFileSync(file, 'one\ntw');
    expect(f.read()).toEqual(['one']);
    appendFileSync(file, 'o\n');
    expect(f.read()).toEqual(['two']);
    appendFileSync(file, `${'x'.repeat(200)}\nafter\n`);
    const seen: string[] = [];
    for (let i = 0; i < 10; i++) seen.push(...f.read());
    expect(seen).toEqual(['after']);
    writeFileSync(file, 'new\n');
    expect(f.read()).toEqual(['new']);
    const g = new LogFollower(file);
    g.skipToEnd();
    appendFileSync(file, 'later\n');
    expect(g.read()).toEqual(['later']);
  });
});
