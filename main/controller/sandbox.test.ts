import { describe, expect, test } from 'vitest';
import { backoffDelay } from './schedulerLink.ts';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { applyCgroupLimits, cgroupMounts, cgroupUsage, parseProcStat, planLaunch, type HostIsolation } from './sandbox.ts';

const request = {
  viId: 'vi-r1',
  nonce: 'abc',
  command: ['/usr/bin/node', 'monitor.ts'],
  rlimits: { nofile: 4096, fsizeBytes: 1024, cpuSeconds: 100 },
  extraNotes: [],
  env: { PATH: '/usr/bin' },
};

describe('sandbox', () => {
  test('/proc/PID/stat is parsed after the last parenthesis, so odd command names do not shift fields', () => {
    const text = '4242 (we ird) (name)) S 1 4242 4242 0 -1 4194560 100 0 0 0 25 5 0 0 20 0 1 0 987654 1000000 300 18446744073709551615';
    expect(parseProcStat(4242, text)).toMatchObject({ pid: 4242, state: 'S', ppid: 1, pgid: 4242, utimeTicks: 25, stimeTicks: 5, startTicks: '987654', rssPages: 300 });
    expect(parseProcStat(1, 'garbage')).toBeNull();
  });

  test('cgroup mounts are read from mountinfo, v1 with their controllers and v2', () => {
    const info = [
      '35 25 0:30 / /sys/fs/cgroup/unified rw,nosuid - cgroup2 cgroup2 rw,nsdelegate',
      '36 25 0:31 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid - cgroup cgroup rw,cpu,cpuacct',
      '37 25 0:32 / /sys/fs/cgroup/memory rw,nosuid - cgroup cgroup rw,memory',
      '38 25 0:33 / /proc rw - proc proc rw',
    ].join('\n');
    const mounts = cgroupMounts(info);
    expect(mounts.map((m) => [m.point, m.fstype])).toEqual([
      ['/sys/fs/cgroup/unified', 'cgroup2'],
      ['/sys/fs/cgroup/cpu,cpuacct', 'cgroup'],
      ['/sys/fs/cgroup/memory', 'cgroup'],
    ]);
    expect(mounts[1]?.superOptions).toContain('cpuacct');
  });

  test('as root with namespaces and cgroup v1 the chain is sh (join cgroups) -> prlimit -> unshare -> program', () => {
    const host: HostIsolation = {
      linux: true,
      root: true,
      unshare: '/usr/bin/unshare',
      prlimit: '/usr/bin/prlimit',
      cgroup: { version: 'v1', bases: { cpu: '/cg/cpu/pc', cpuacct: '/cg/cpuacct/pc', memory: '/cg/memory/pc' } },
      notes: [],
    };
    const plan = planLaunch(host, { ...request, cgroup: { version: 'v1', dirs: ['/cg/cpu/pc/vi-r1', '/cg/memory/pc/vi-r1'] } });
    expect(plan.file).toBe('/bin/sh');
    expect(plan.args[1]).toMatch(/echo \$\$ > "\$f" \|\| exit 97.*exec "\$@"/);
    expect(plan.args.slice(3)).toEqual([
      '/usr/bin/prlimit', '--nofile=4096', '--core=0', '--fsize=1024', '--cpu=100', '--',
      '/usr/bin/unshare', '--pid', '--fork', '--kill-child=SIGKILL', '--mount', '--net', '--mount-proc', '--',
      '/usr/bin/node', 'monitor.ts',
    ]);
    expect(plan.env).toMatchObject({ PCLOUD_VI_NONCE: 'abc', PCLOUD_CGROUP_PROCS: '/cg/cpu/pc/vi-r1/cgroup.procs /cg/memory/pc/vi-r1/cgroup.procs' });
    expect(plan.isolation).toEqual({ namespaces: ['pid', 'mount', 'net'], cgroup: 'v1', rlimits: ['nofile=4096', 'core=0', 'fsize=1024', 'cpu=100'], notes: [] });
  });

  test('unprivileged: rlimits only, and the VI records why', () => {
    const host: HostIsolation = { linux: true, root: false, unshare: null, prlimit: '/usr/bin/prlimit', cgroup: null, notes: ['not root (uid 65534): no namespaces or cgroups, rlimits only'] };
    const plan = planLaunch(host, { ...request, cgroup: null });
    expect(plan.args.slice(3)).toEqual(['/usr/bin/prlimit', '--nofile=4096', '--core=0', '--fsize=1024', '--cpu=100', '--', '/usr/bin/node', 'monitor.ts']);
    expect(plan.isolation).toMatchObject({ namespaces: [], cgroup: 'none', notes: ['not root (uid 65534): no namespaces or cgroups, rlimits only'] });
    expect(plan.env.PCLOUD_CGROUP_PROCS).toBeUndefined();
  });

  test('without prlimit (macOS) the shell sets the rlimits itself', () => {
    const host: HostIsolation = { linux: false, root: false, unshare: null, prlimit: null, cgroup: null, notes: [] };
    const plan = planLaunch(host, { ...request, cgroup: null });
    expect(plan.args[1]).toBe('ulimit -n 4096; ulimit -c 0; ulimit -f 2; ulimit -t 100; exec "$@"');
    expect(plan.args.slice(3)).toEqual(['/usr/bin/node', 'monitor.ts']);
  });

  test('cgroup v2 files: cpu.max as quota and period, memory.max in bytes, usage from cpu.stat and memory.current', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pcloud-cg2-'));
    expect(applyCgroupLimits({ version: 'v2', dirs: [dir] }, { cpu: 0.5, memMiB: 64 })).toEqual([]);
    expect(readFileSync(join(dir, 'cpu.max'), 'utf8')).toBe('50000 100000');
    expect(readFileSync(join(dir, 'memory.max'), 'utf8')).toBe(String(64 * 1048576));
    writeFileSync(join(dir, 'cpu.stat'), 'usage_usec 1234567\nuser_usec 1000000\nsystem_usec 234567\n');
    writeFileSync(join(dir, 'memory.current'), '8388608\n');
    expect(cgroupUsage({ version: 'v2', dirs: [dir] })).toEqual({ cpuUsec: 1234567, memBytes: 8388608 });
  });

  test('reconnect backoff doubles up to the cap, with +-30% jitter', () => {
    expect(backoffDelay(0, 500, 15_000, () => 0.5)).toBe(500);
    expect(backoffDelay(3, 500, 15_000, () => 0.5)).toBe(4000);
    expect(backoffDelay(30, 500, 15_000, () => 0.5)).toBe(15_000);
    expect(backoffDelay(2, 500, 15_000, () => 0)).toBe(1400);
    expect(backoffDelay(2, 500, 15_000, () => 1)).toBe(2600);
  });
});
