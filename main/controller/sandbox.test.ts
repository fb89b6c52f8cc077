import { describe, expect, test } from 'vitest';
import { backoffDelay } from './schedulerLink.ts';
import { ControllerStore } from './store.ts';
import { ViSupervisor } from './viSupervisor.ts';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { allocateViUid, applyCgroupLimits, applyCgroupProcessLimit, cgroupMounts, cgroupOomKills, cgroupUsage, hostIsolationSummary, liveUids, parseProcStat, planLaunch, tapRefusal, unsearchableAncestor, type HostIsolation } from './sandbox.ts';

const request = {
  viId: 'vi-r1',
  nonce: 'abc',
  command: ['/usr/bin/node', 'monitor.ts'],
  rlimits: { nofile: 4096, fsizeBytes: 1024, cpuSeconds: 100 },
  user: null,
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

  const rootHost: HostIsolation = {
    linux: true,
    root: true,
    unshare: '/usr/bin/unshare',
    userns: false,
    prlimit: '/usr/bin/prlimit',
    setpriv: '/usr/bin/setpriv',
    cgroup: { version: 'v1', bases: { cpu: '/cg/cpu/pc', cpuacct: '/cg/cpuacct/pc', memory: '/cg/memory/pc', pids: '/cg/pids/pc' } },
    notes: [],
  };

  test('as root with namespaces and cgroup v1 the chain is sh (join cgroups) -> prlimit -> unshare -> setpriv (the VI user) -> program', () => {
    const user = { uid: 1_500_000_042, gid: 1_500_000_042 };
    const plan = planLaunch(rootHost, { ...request, user, cgroup: { version: 'v1', dirs: ['/cg/cpu/pc/vi-r1', '/cg/memory/pc/vi-r1', '/cg/pids/pc/vi-r1'] } });
    expect(plan.file).toBe('/bin/sh');
    expect(plan.args[1]).toMatch(/echo \$\$ > "\$f" \|\| exit 97.*exec "\$@"/);
    expect(plan.args.slice(3)).toEqual([
      '/usr/bin/prlimit', '--nofile=4096', '--core=0', '--fsize=1024', '--cpu=100', '--',
      '/usr/bin/unshare', '--pid', '--fork', '--kill-child=SIGKILL', '--mount', '--net', '--mount-proc', '--',
      '/usr/bin/setpriv', '--reuid=1500000042', '--regid=1500000042', '--clear-groups', '--inh-caps=-all', '--bounding-set=-all', '--no-new-privs', '--',
      '/usr/bin/node', 'monitor.ts',
    ]);
    expect(plan.env).toMatchObject({ PCLOUD_VI_NONCE: 'abc', PCLOUD_CGROUP_PROCS: '/cg/cpu/pc/vi-r1/cgroup.procs /cg/memory/pc/vi-r1/cgroup.procs /cg/pids/pc/vi-r1/cgroup.procs' });
    expect(plan.isolation).toEqual({ namespaces: ['pid', 'mount', 'net'], cgroup: 'v1', rlimits: ['nofile=4096', 'core=0', 'fsize=1024', 'cpu=100'], notes: [], user, portKinds: ['ring', 'tap'], port: null });
  });

  test('with user namespaces the VI user makes the namespaces itself, so its root is that user on the host', () => {
    const user = { uid: 1_500_000_042, gid: 1_500_000_043 };
    const plan = planLaunch({ ...rootHost, userns: true }, { ...request, user, cgroup: null });
    expect(plan.args.slice(3)).toEqual([
      '/usr/bin/prlimit', '--nofile=4096', '--core=0', '--fsize=1024', '--cpu=100', '--',
      '/usr/bin/setpriv', '--reuid=1500000042', '--regid=1500000043', '--clear-groups', '--inh-caps=-all', '--bounding-set=-all', '--no-new-privs', '--',
      '/usr/bin/unshare', '--user', '--map-root-user', '--pid', '--fork', '--kill-child=SIGKILL', '--mount', '--net', '--mount-proc', '--',
      '/usr/bin/node', 'monitor.ts',
    ]);
    expect(plan.isolation).toMatchObject({ namespaces: ['user', 'pid', 'mount', 'net'], user });
    // Without a VI user (a non-root controller) there is no user namespace.
    expect(planLaunch({ ...rootHost, userns: true }, { ...request, user: null, cgroup: null }).isolation.namespaces).toEqual(['pid', 'mount', 'net']);
  });

  test('without a pids cgroup the process limit is RLIMIT_NPROC, set by prlimit for the VI user', () => {
    const user = { uid: 1_500_000_007, gid: 1_500_000_007 };
    const plan = planLaunch({ ...rootHost, unshare: null, cgroup: null }, { ...request, user, cgroup: null, rlimits: { ...request.rlimits, nproc: 64 } });
    expect(plan.args.slice(3, 10)).toEqual(['/usr/bin/prlimit', '--nofile=4096', '--core=0', '--fsize=1024', '--cpu=100', '--nproc=64', '--']);
    expect(plan.args.slice(10, 12)).toEqual(['/usr/bin/setpriv', '--reuid=1500000007']);
    expect(plan.isolation.rlimits).toContain('nproc=64');
    expect(() => planLaunch({ ...rootHost, setpriv: null }, { ...request, user, cgroup: null })).toThrow(/needs setpriv, which this host lacks/);
  });

  test('a VI uid is never one a live process or another live VI already has', () => {
    const range = { first: 1_500_000_000, count: 3 };
    const first = allocateViUid(range, 'c1', 'vi-r1', new Set());
    expect(first).toBeGreaterThanOrEqual(range.first);
    expect(first).toBeLessThan(range.first + range.count);
    expect(allocateViUid(range, 'c1', 'vi-r1', new Set())).toBe(first);
    const second = allocateViUid(range, 'c1', 'vi-r1', new Set([first]));
    expect(second).not.toBe(first);
    expect(() => allocateViUid(range, 'c1', 'vi-r1', new Set([1_500_000_000, 1_500_000_001, 1_500_000_002]))).toThrow(/every uid of sandbox.viUids \(1500000000..1500000002\) is in use/);
    // The uid this test runs as is live, so it is never handed out.
    const mine = process.getuid?.() ?? 0;
    expect(liveUids().has(mine)).toBe(true);
    expect(allocateViUid({ first: mine, count: 2 }, 'c1', 'vi-r1', new Set())).toBe(mine + 1);
  });

  test('the process limit goes to pids.max; the OOM kill count is read from memory.oom_control (v1) and memory.events (v2)', () => {
    const v1 = mkdtempSync(join(tmpdir(), 'pcloud-cg1-'));
    const v1pids = mkdtempSync(join(tmpdir(), 'pcloud-cg1-pids-'));
    writeFileSync(join(v1pids, 'pids.max'), 'max\n');
    expect(applyCgroupProcessLimit({ version: 'v1', dirs: [v1, v1pids] }, 64)).toBeNull();
    expect(readFileSync(join(v1pids, 'pids.max'), 'utf8')).toBe('64');
    expect(applyCgroupProcessLimit({ version: 'v1', dirs: [v1] }, 64)).toBe('no pids cgroup');
    expect(cgroupOomKills({ version: 'v1', dirs: [v1] })).toBeNull();
    writeFileSync(join(v1, 'memory.oom_control'), 'oom_kill_disable 0\nunder_oom 0\noom_kill 2\n');
    expect(cgroupOomKills({ version: 'v1', dirs: [v1pids, v1] })).toBe(2);
    const v2 = mkdtempSync(join(tmpdir(), 'pcloud-cg2-'));
    writeFileSync(join(v2, 'memory.events'), 'low 0\nhigh 0\nmax 14\noom 1\noom_kill 1\noom_group_kill 0\n');
    expect(cgroupOomKills({ version: 'v2', dirs: [v2] })).toBe(1);
  });

  test('unprivileged: rlimits only, and the VI records why', () => {
    const host: HostIsolation = { linux: true, root: false, unshare: null, userns: false, prlimit: '/usr/bin/prlimit', setpriv: null, cgroup: null, notes: ['not root (uid 65534): no namespaces or cgroups, rlimits only'] };
    const plan = planLaunch(host, { ...request, cgroup: null });
    expect(plan.args.slice(3)).toEqual(['/usr/bin/prlimit', '--nofile=4096', '--core=0', '--fsize=1024', '--cpu=100', '--', '/usr/bin/node', 'monitor.ts']);
    expect(plan.isolation).toMatchObject({ namespaces: [], cgroup: 'none', portKinds: ['ring'], port: null });
    expect(plan.isolation.notes[0]).toBe('not root (uid 65534): no namespaces or cgroups, rlimits only');
    expect(plan.isolation.notes[1]).toMatch(/^tap ports need a root controller \(this one runs as uid \d+\): ring ports only$/);
    expect(plan.env.PCLOUD_CGROUP_PROCS).toBeUndefined();
  });

  test('unprivileged: a VI asking for a tap port is refused with the reason, before anything is made for it', async () => {
    const host: HostIsolation = { linux: true, root: false, unshare: null, userns: false, prlimit: '/usr/bin/prlimit', setpriv: null, cgroup: null, notes: [] };
    expect(tapRefusal(host)).toMatch(/^tap ports need a root controller/);
    expect(hostIsolationSummary(host).portKinds).toEqual(['ring']);
    const port = { kind: 'tap' as const, layout: 'single' as const, interfaces: ['eth0'] };
    expect(() => planLaunch(host, { ...request, cgroup: null, port })).toThrow(/VI vi-r1: tap ports need a root controller/);
    const dir = mkdtempSync(join(tmpdir(), 'pcloud-notap-'));
    const store = new ControllerStore(join(dir, 'c.sqlite'));
    const supervisor = new ViSupervisor({ host, store, cloudletId: 'c1', stateDir: dir, graceMs: 100, nofile: 256, maxProcesses: 64, viUids: { first: 1_500_000_000, count: 10 }, programs: { sleeper: { command: ['/bin/sleep', '60'] } }, now: Date.now, onChange: () => undefined, log: () => undefined });
    const start = { viId: 'vi-r1', reservationId: 'r1', providerId: 'p1', nodeId: 'n1', program: 'sleeper', args: {}, capacity: { cpu: 1, memMiB: 64, diskGiB: 1, netMbps: 10 }, t1: Date.now() + 60_000, port };
    await expect(supervisor.start(start)).rejects.toThrow(/VI vi-r1 not started: tap ports need a root controller/);
    expect(store.vi('vi-r1')).toBeUndefined();
    store.close();
  });

  test('as root, a tap VI\'s program waits inside its namespaces for its interfaces, and its isolation names them', () => {
    const port = { kind: 'tap' as const, layout: 'bump' as const, interfaces: ['in0', 'out0'] };
    const plan = planLaunch({ ...rootHost, userns: true }, { ...request, user: { uid: 1_500_000_042, gid: 1_500_000_042 }, cgroup: null, port });
    const program = plan.args.indexOf('/usr/bin/node');
    // unshare ... -- /bin/sh -c <wait for $PCLOUD_VI_TAPS in /proc/net/dev> <name> program
    expect(plan.args.slice(program - 4, program - 2)).toEqual(['/bin/sh', '-c']);
    expect(plan.args[program - 2]).toMatch(/PCLOUD_VI_TAPS.*\/proc\/net\/dev.*exit 98.*exec "\$@"/);
    expect(plan.args.indexOf('--net')).toBeLessThan(program - 4);
    expect(plan.isolation).toMatchObject({ portKinds: ['ring', 'tap'], port: { kind: 'tap', layout: 'bump', interfaces: ['in0', 'out0'] } });
  });

  test('without prlimit (macOS) the shell sets the rlimits itself', () => {
    const host: HostIsolation = { linux: false, root: false, unshare: null, userns: false, prlimit: null, setpriv: null, cgroup: null, notes: [] };
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

  test('a root controller that cannot drop to an unprivileged user starts no VI, and says why', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pcloud-noroot-'));
    const store = new ControllerStore(join(dir, 'c.sqlite'));
    const host: HostIsolation = { ...rootHost, setpriv: null, cgroup: null, notes: ['util-linux setpriv not found: VI programs cannot be run as an unprivileged user, so no VI is started'] };
    const supervisor = new ViSupervisor({ host, store, cloudletId: 'c1', stateDir: dir, graceMs: 100, nofile: 256, maxProcesses: 64, viUids: { first: 1_500_000_000, count: 10 }, programs: { sleeper: { command: ['/bin/sleep', '60'] } }, now: Date.now, onChange: () => undefined, log: () => undefined });
    const start = { viId: 'vi-r1', reservationId: 'r1', providerId: 'p1', nodeId: 'n1', program: 'sleeper', args: {}, capacity: { cpu: 1, memMiB: 64, diskGiB: 1, netMbps: 10 }, t1: Date.now() + 60_000 };
    await expect(supervisor.start(start)).rejects.toThrow('VI vi-r1 not started: this controller runs as root and cannot give the VI an unprivileged user (util-linux setpriv not found');
    expect(store.vi('vi-r1')).toBeUndefined();
    store.close();
  });

  test('a VI whose user could not reach its directory is refused with the directory that stops it, before anything is made for it', async () => {
    // mkdtemp makes 0700: the state directory below it is out of reach for a VI's user.
    const parent = mkdtempSync(join(tmpdir(), 'pcloud-closed-'));
    const dir = join(parent, 'state');
    mkdirSync(join(dir, 'vis'), { recursive: true });
    chmodSync(dir, 0o711);
    chmodSync(join(dir, 'vis'), 0o711);
    const user = { uid: 1_500_000_007, gid: 1_500_000_007 };
    expect(unsearchableAncestor(join(dir, 'vis'), user)).toMatch(/ is mode 0700 \(owner uid \d+, group \d+\)$/);
    const store = new ControllerStore(join(parent, 'c.sqlite'));
    const supervisor = new ViSupervisor({ host: { ...rootHost, cgroup: null }, store, cloudletId: 'c1', stateDir: dir, graceMs: 100, nofile: 256, maxProcesses: 64, viUids: { first: 1_500_000_000, count: 10 }, programs: { sleeper: { command: ['/bin/sleep', '60'] } }, now: Date.now, onChange: () => undefined, log: () => undefined });
    const start = { viId: 'vi-r1', reservationId: 'r1', providerId: 'p1', nodeId: 'n1', program: 'sleeper', args: {}, capacity: { cpu: 1, memMiB: 64, diskGiB: 1, netMbps: 10 }, t1: Date.now() + 60_000 };
    const quoted = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    await expect(supervisor.start(start)).rejects.toThrow(new RegExp(`^VI vi-r1 not started: its user \\(uid \\d+\\) could not reach its directory ${quoted(join(dir, 'vis', 'vi-r1'))}: ${quoted(parent)} is mode 0700 .*the controller's stateDir must lie under directories that other users may search`));
    expect(store.vi('vi-r1')).toBeUndefined();
    expect(existsSync(join(dir, 'vis', 'vi-r1'))).toBe(false);
    store.close();
    // Searchable by others all the way down (/tmp is 1777): nothing stops it. The owner's and the group's bits count for them.
    chmodSync(parent, 0o711);
    expect(unsearchableAncestor(join(dir, 'vis'), user)).toBeNull();
    chmodSync(parent, 0o770);
    expect(unsearchableAncestor(join(dir, 'vis'), { uid: 1_500_000_007, gid: statSync(parent).gid })).toBeNull();
    expect(unsearchableAncestor(join(dir, 'vis'), user)).toMatch(/is mode 0770/);
    rmSync(parent, { recursive: true, force: true });
  });

  test('reconnect backoff doubles up to the cap, with +-30% jitter', () => {
    expect(backoffDelay(0, 500, 15_000, () => 0.5)).toBe(500);
    expect(backoffDelay(3, 500, 15_000, () => 0.5)).toBe(4000);
    expect(backoffDelay(30, 500, 15_000, () => 0.5)).toBe(15_000);
    expect(backoffDelay(2, 500, 15_000, () => 0)).toBe(1400);
    expect(backoffDelay(2, 500, 15_000, () => 1)).toBe(2600);
  });
});
