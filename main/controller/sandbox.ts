/**
 * VI sandboxes: what isolation this host can give, how a VI's process is
 * launched into it, how its limits change live, and how its use is read.
 *
 * Node's child_process cannot unshare or join a cgroup by itself, so a VI is
 * launched as a short chain, each link exec'ing the next (one pid, one
 * process group, no extra parents left behind):
 *
 *   /bin/sh -c 'echo $$ > <cgroup>/cgroup.procs ...; exec "$@"'   (joins the VI's cgroups before anything forks)
 *   prlimit --nofile=.. --core=0 --fsize=.. --cpu=.. [--nproc=..] -- (rlimits, inherited by the whole tree)
 *   setpriv --reuid=U --regid=U --clear-groups ... --               (the VI's own unprivileged user U)
 *   unshare --user --map-root-user --pid --fork --kill-child=SIGKILL --mount --net --mount-proc --
 *   <service program>                                              (pid 1 of its own pid namespace)
 *
 * Links are dropped when the host cannot provide them (not root, no cgroup
 * delegated, not Linux); each VI records what it actually obtained. A root
 * controller never runs a VI program as root: each VI gets a uid U of its
 * own (so RLIMIT_NPROC, which counts per user, is a per-VI process limit
 * where no pids cgroup is). U makes the user namespace itself, as an
 * unprivileged user may, so the program is root only inside it, over the
 * VI's own network, mount and pid namespaces (a service may configure its
 * interfaces, capture or filter there), and uid U on the host. Where user
 * namespaces are refused, root makes the other namespaces and setpriv runs
 * last before the program, which then has no capabilities at all. Without
 * setpriv no VI starts. With
 * --kill-child the namespace dies with the unshare process, even on SIGKILL,
 * so signalling the VI's process group reaches every process of the VI.
 *
 * Who may call: the VI supervisor only. What it trusts: its own config and
 * the ids it is given (checked against a safe pattern before they become
 * paths). Only directories it created (packetcloud-<cloudlet>/<vi>) are ever
 * written or removed.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { Isolation } from '../protocol/controllerApi.ts';

export type CgroupVersion = 'v1' | 'v2';

export interface HostIsolation {
  linux: boolean;
  root: boolean;
  /** Path of util-linux unshare when namespaces were probed and work. */
  unshare: string | null;
  /** True when a VI's own unprivileged user may make the VI's namespaces inside a user namespace. */
  userns: boolean;
  prlimit: string | null;
  /** Path of util-linux setpriv when root and it can drop to an unprivileged uid. */
  setpriv: string | null;
  /** `pids` is null when the host has no pids controller we may use. */
  cgroup: { version: CgroupVersion; bases: { cpu: string; cpuacct: string; memory: string; pids: string | null } } | null;
  notes: string[];
}

const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

function which(name: string): string | null {
  for (const dir of (process.env.PATH ?? '/usr/bin:/bin').split(':').concat(['/usr/bin', '/bin', '/usr/sbin', '/sbin'])) {
    const full = join(dir, name);
    if (dir && existsSync(full)) return full;
  }
  return null;
}

interface Mount {
  point: string;
  fstype: string;
  superOptions: string[];
}

/** Cgroup mounts from /proc/self/mountinfo ("... - cgroup2 cgroup2 rw,nsdelegate"). */
export function cgroupMounts(mountinfo: string): Mount[] {
  const mounts: Mount[] = [];
  for (const line of mountinfo.split('\n')) {
    const [left, right] = line.split(' - ');
    if (!left || !right) continue;
    const point = left.split(' ')[4];
    const [fstype, , superOpts] = right.split(' ');
    if (!point || (fstype !== 'cgroup' && fstype !== 'cgroup2')) continue;
    mounts.push({ point: point.replace(/\\040/g, ' '), fstype, superOptions: (superOpts ?? '').split(',') });
  }
  return mounts;
}

function tryWrite(file: string, value: string): string | null {
  try {
    writeFileSync(file, value);
    return null;
  } catch (e) {
    return (e as Error).message;
  }
}

function removeDirIfEmpty(dir: string): void {
  try {
    rmdirSync(dir);
  } catch {
    // Not empty, or already gone.
  }
}

function ensureDir(dir: string): string | null {
  try {
    mkdirSync(dir, { recursive: true });
    return null;
  } catch (e) {
    return (e as Error).message;
  }
}

function detectCgroupV2(mounts: Mount[], baseName: string, notes: string[]): HostIsolation['cgroup'] {
  const unified = mounts.find((m) => m.fstype === 'cgroup2');
  if (!unified) return null;
  let controllers: string[];
  try {
    controllers = readFileSync(join(unified.point, 'cgroup.controllers'), 'utf8').trim().split(/\s+/);
  } catch {
    return null;
  }
  if (!controllers.includes('cpu') || !controllers.includes('memory')) {
    notes.push(`cgroup v2 at ${unified.point} does not offer cpu and memory (offers: ${controllers.join(' ') || 'none'})`);
    return null;
  }
  const base = join(unified.point, baseName);
  const failed =
    ensureDir(base) ??
    tryWrite(join(unified.point, 'cgroup.subtree_control'), '+cpu +memory') ??
    tryWrite(join(base, 'cgroup.subtree_control'), '+cpu +memory');
  if (failed) {
    notes.push(`cgroup v2 at ${unified.point} is not delegated to us (${failed})`);
    // Nothing of ours may stay behind when v1 is used instead.
    removeDirIfEmpty(base);
    return null;
  }
  let pids: string | null = null;
  if (!controllers.includes('pids')) notes.push(`cgroup v2 at ${unified.point} does not offer pids: no pids cgroup`);
  else {
    const refused = tryWrite(join(unified.point, 'cgroup.subtree_control'), '+pids') ?? tryWrite(join(base, 'cgroup.subtree_control'), '+pids');
    if (refused) notes.push(`cgroup v2 pids controller refused (${refused}): no pids cgroup`);
    else pids = base;
  }
  return { version: 'v2', bases: { cpu: base, cpuacct: base, memory: base, pids } };
}

function detectCgroupV1(mounts: Mount[], baseName: string, notes: string[]): HostIsolation['cgroup'] {
  const find = (controller: string): Mount | undefined => mounts.find((m) => m.fstype === 'cgroup' && m.superOptions.includes(controller));
  const cpu = find('cpu');
  const cpuacct = find('cpuacct');
  const memory = find('memory');
  if (!cpu || !cpuacct || !memory) {
    notes.push('no cgroup v1 hierarchies for cpu, cpuacct and memory');
    return null;
  }
  const bases = { cpu: join(cpu.point, baseName), cpuacct: join(cpuacct.point, baseName), memory: join(memory.point, baseName) };
  const made: string[] = [];
  for (const dir of new Set(Object.values(bases))) {
    const failed = ensureDir(dir);
    if (failed) {
      notes.push(`cgroup v1 is not writable here (${failed})`);
      for (const d of made) removeDirIfEmpty(d);
      return null;
    }
    made.push(dir);
  }
  // The pids hierarchy is optional: without it the process limit falls back to RLIMIT_NPROC.
  const pidsMount = find('pids');
  let pids: string | null = null;
  if (!pidsMount) notes.push('no cgroup v1 pids hierarchy: no pids cgroup');
  else {
    const dir = join(pidsMount.point, baseName);
    const failed = ensureDir(dir);
    if (failed) notes.push(`cgroup v1 pids hierarchy is not writable (${failed}): no pids cgroup`);
    else pids = dir;
  }
  return { version: 'v1', bases: { ...bases, pids } };
}

/**
 * What this host can give a VI. Namespaces are probed by running unshare once
 * (a container may forbid them even to root); cgroups by creating the
 * controller's own directory, v2 first, then v1.
 */
export function detectIsolation(cloudletId: string, mode: 'auto' | 'rlimits', cgroupName = `packetcloud-${cloudletId}`): HostIsolation {
  if (!SAFE_NAME.test(cloudletId)) throw new Error(`cloudlet id "${cloudletId}" cannot name a cgroup`);
  if (!SAFE_NAME.test(cgroupName)) throw new Error(`"${cgroupName}" cannot name a cgroup`);
  const notes: string[] = [];
  const linux = process.platform === 'linux';
  const root = process.getuid?.() === 0;
  const prlimit = linux ? which('prlimit') : null;
  const host: HostIsolation = { linux, root, unshare: null, userns: false, prlimit, setpriv: null, cgroup: null, notes };
  if (!linux) {
    notes.push(`${process.platform}: no namespaces or cgroups, rlimits only`);
    return host;
  }
  if (!prlimit) notes.push('prlimit (util-linux) not found: rlimits set by the shell');
  if (mode === 'rlimits') notes.push('sandbox.mode is "rlimits": namespaces and cgroups not used');
  if (!root) {
    notes.push(`not root (uid ${process.getuid?.()}): no namespaces or cgroups, rlimits only`);
    notes.push(`VIs run as the controller's own uid ${process.getuid?.()} (only root can give each VI a user of its own), without a process limit`);
    return host;
  }
  const setpriv = which('setpriv');
  if (!setpriv) notes.push('util-linux setpriv not found: VI programs cannot be run as an unprivileged user, so no VI is started');
  else {
    const probe = spawnSync(setpriv, [...dropPrivileges({ uid: 65534, gid: 65534 }), 'true'], { timeout: 5000, stdio: 'pipe' });
    if (probe.status === 0) host.setpriv = setpriv;
    else notes.push(`setpriv cannot drop to an unprivileged user here (${probe.stderr?.toString().trim() || probe.error?.message || `exit ${probe.status}`}), so no VI is started`);
  }
  // In "rlimits" mode a root controller still gives each VI its own user, but no namespaces or cgroups.
  if (mode === 'rlimits') return host;
  const unshare = which('unshare');
  if (!unshare) {
    notes.push('util-linux unshare not found: no namespaces');
  } else {
    const probe = spawnSync(unshare, [...NAMESPACES, '--', 'true'], { timeout: 5000, stdio: 'pipe' });
    if (probe.status === 0) host.unshare = unshare;
    else notes.push(`unshare is refused here (${probe.stderr?.toString().trim() || probe.error?.message || `exit ${probe.status}`}): no namespaces`);
    if (host.unshare && host.setpriv) {
      const user = spawnSync(host.setpriv, [...dropPrivileges({ uid: 65534, gid: 65534 }), unshare, ...USER_NAMESPACE, ...NAMESPACES, '--', 'true'], { timeout: 5000, stdio: 'pipe' });
      if (user.status === 0) host.userns = true;
      else notes.push(`user namespaces are refused here (${user.stderr?.toString().trim() || user.error?.message || `exit ${user.status}`}): VI programs run as their own user with no capabilities`);
    }
  }
  let mountinfo: string;
  try {
    mountinfo = readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    notes.push('cannot read /proc/self/mountinfo: no cgroups');
    return host;
  }
  const mounts = cgroupMounts(mountinfo);
  host.cgroup = detectCgroupV2(mounts, cgroupName, notes) ?? detectCgroupV1(mounts, cgroupName, notes);
  return host;
}

const NAMESPACES = ['--pid', '--fork', '--kill-child=SIGKILL', '--mount', '--net', '--mount-proc'];

/** A user namespace whose root is the unprivileged user that makes it (its uid and gid, mapped alone). */
const USER_NAMESPACE = ['--user', '--map-root-user'];

function namespacesOf(host: HostIsolation): Isolation['namespaces'] {
  if (!host.unshare) return [];
  return host.userns ? ['user', 'pid', 'mount', 'net'] : ['pid', 'mount', 'net'];
}

/**
 * Null when this host can give a VI tap ports, else why not. A tap port is a
 * device the controller makes inside the VI's own network namespace, so it
 * needs a root controller and namespaces; without them VIs get ring ports only.
 */
export function tapRefusal(host: HostIsolation): string | null {
  if (!host.root) return `tap ports need a root controller (this one runs as uid ${process.getuid?.() ?? '?'}): ring ports only`;
  if (!host.unshare) return 'tap ports need a network namespace of the VI\'s own, which this host does not give (see the isolation notes): ring ports only';
  return null;
}

export function hostIsolationSummary(host: HostIsolation): Isolation {
  const noTaps = tapRefusal(host);
  return {
    namespaces: namespacesOf(host),
    cgroup: host.cgroup?.version ?? 'none',
    rlimits: ['nofile', 'core', 'fsize', 'cpu', ...(host.setpriv && !host.cgroup?.bases.pids ? ['nproc'] : [])],
    notes: noTaps ? [...host.notes, noTaps] : host.notes,
    portKinds: noTaps ? ['ring'] : ['ring', 'tap'],
  };
}

/**
 * setpriv options that make the rest of the chain an unprivileged user: no
 * supplementary groups, no capabilities (bounding and inheritable sets
 * emptied), and no way back up through set-uid programs.
 */
function dropPrivileges(user: { uid: number; gid: number }): string[] {
  return [`--reuid=${user.uid}`, `--regid=${user.gid}`, '--clear-groups', '--inh-caps=-all', '--bounding-set=-all', '--no-new-privs', '--'];
}

/** The uid range VI users are drawn from (config sandbox.viUids); nothing else on the host may use it. */
export interface UidRange {
  first: number;
  count: number;
}

/** Real uids of every live process (from /proc/PID/status). */
export function liveUids(): Set<number> {
  const uids = new Set<number>();
  for (const pid of allPids()) {
    try {
      const m = /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (m?.[1]) uids.add(Number(m[1]));
    } catch {
      // Gone.
    }
  }
  return uids;
}

/**
 * A uid of its own for a VI: a hash of cloudlet and VI id into the range (so
 * several controllers on one host rarely meet), then the next one no other
 * VI of this controller holds and no live process runs as. Processes of one
 * uid may signal and trace each other and share RLIMIT_NPROC, so a uid is
 * never shared between live VIs.
 */
export function allocateViUid(range: UidRange, cloudletId: string, viId: string, taken: ReadonlySet<number>): number {
  const start = createHash('sha256').update(`${cloudletId}/${viId}`).digest().readUInt32BE(0) % range.count;
  const live = liveUids();
  for (let i = 0; i < range.count; i++) {
    const uid = range.first + ((start + i) % range.count);
    if (!taken.has(uid) && !live.has(uid)) return uid;
  }
  throw new Error(`every uid of sandbox.viUids (${range.first}..${range.first + range.count - 1}) is in use`);
}

// ---------------------------------------------------------------- cgroups of one VI

export interface ViCgroup {
  version: CgroupVersion;
  /** Directories this controller created for the VI (one per v1 hierarchy, one for v2). */
  dirs: string[];
}

function dirsFor(host: NonNullable<HostIsolation['cgroup']>, viId: string): string[] {
  if (!SAFE_NAME.test(viId)) throw new Error(`VI id "${viId}" cannot name a cgroup`);
  const { cpu, cpuacct, memory, pids } = host.bases;
  return [...new Set([cpu, cpuacct, memory, ...(pids ? [pids] : [])])].map((base) => join(base, viId));
}

export function createViCgroup(host: HostIsolation, viId: string): ViCgroup | { error: string } {
  if (!host.cgroup) return { error: 'no cgroup hierarchy available' };
  const dirs = dirsFor(host.cgroup, viId);
  for (const dir of dirs) {
    const failed = ensureDir(dir);
    if (failed) {
      removeViCgroup({ version: host.cgroup.version, dirs });
      return { error: `cannot create cgroup ${dir}: ${failed}` };
    }
  }
  return { version: host.cgroup.version, dirs };
}

function fileIn(cg: ViCgroup, name: string): string | undefined {
  const prefix = name.split('.')[0] ?? '';
  if (cg.version === 'v2') return cg.dirs[0] ? join(cg.dirs[0], name) : undefined;
  // v1: each controller's files live in its own hierarchy ("cpu,cpuacct" co-mounts share one).
  const dir = cg.dirs.find((d) => existsSync(join(d, name))) ?? cg.dirs.find((d) => d.includes(`/${prefix}`));
  return dir ? join(dir, name) : undefined;
}

export function cgroupProcsFiles(cg: ViCgroup): string[] {
  return cg.dirs.map((d) => join(d, 'cgroup.procs'));
}

const PERIOD_US = 100_000;

/** Applies CPU (cores) and memory (MiB) caps; returns what could not be applied. */
export function applyCgroupLimits(cg: ViCgroup, limits: { cpu: number; memMiB: number }): string[] {
  const problems: string[] = [];
  const quota = Math.max(1000, Math.round(limits.cpu * PERIOD_US));
  const bytes = Math.max(4 * 1024 * 1024, Math.round(limits.memMiB * 1024 * 1024));
  const write = (name: string, value: string): void => {
    const file = fileIn(cg, name);
    const failed = file ? tryWrite(file, value) : 'no such file';
    if (failed) problems.push(`${name} = ${value}: ${failed}`);
  };
  if (cg.version === 'v2') {
    write('cpu.max', `${quota} ${PERIOD_US}`);
    write('memory.max', String(bytes));
  } else {
    write('cpu.cfs_period_us', String(PERIOD_US));
    write('cpu.cfs_quota_us', String(quota));
    write('memory.limit_in_bytes', String(bytes));
  }
  return problems;
}

/**
 * Caps the number of tasks (processes and threads) in the VI's cgroup; an
 * error when this host gave the VI no pids cgroup.
 */
export function applyCgroupProcessLimit(cg: ViCgroup, max: number): string | null {
  const file = cg.dirs.map((d) => join(d, 'pids.max')).find((f) => existsSync(f));
  if (!file) return 'no pids cgroup';
  const failed = tryWrite(file, String(max));
  return failed ? `pids.max = ${max}: ${failed}` : null;
}

/**
 * How many processes the kernel's out-of-memory killer ended in the VI's
 * cgroup for exceeding its memory limit (v2 memory.events, v1
 * memory.oom_control), or null when the kernel does not say.
 */
export function cgroupOomKills(cg: ViCgroup): number | null {
  const file = cg.version === 'v2' ? fileIn(cg, 'memory.events') : fileIn(cg, 'memory.oom_control');
  if (!file) return null;
  try {
    const m = /^oom_kill (\d+)$/m.exec(readFileSync(file, 'utf8'));
    return m?.[1] ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

function readNumber(file: string | undefined): number | null {
  if (!file) return null;
  try {
    return Number(readFileSync(file, 'utf8').trim());
  } catch {
    return null;
  }
}

/** Pids in the VI's cgroups (every hierarchy, deduplicated). */
export function cgroupPids(cg: ViCgroup): number[] {
  const pids = new Set<number>();
  for (const file of cgroupProcsFiles(cg)) {
    try {
      for (const line of readFileSync(file, 'utf8').split('\n')) if (line.trim()) pids.add(Number(line));
    } catch {
      // A missing hierarchy just has no pids.
    }
  }
  return [...pids];
}

/** Cumulative CPU (microseconds) and current memory (bytes) of the VI's cgroup. */
export function cgroupUsage(cg: ViCgroup): { cpuUsec: number; memBytes: number } | null {
  if (cg.version === 'v2') {
    const dir = cg.dirs[0];
    if (!dir) return null;
    try {
      const stat = readFileSync(join(dir, 'cpu.stat'), 'utf8');
      const usec = Number(/usage_usec (\d+)/.exec(stat)?.[1] ?? NaN);
      const mem = readNumber(join(dir, 'memory.current'));
      return Number.isFinite(usec) && mem !== null ? { cpuUsec: usec, memBytes: mem } : null;
    } catch {
      return null;
    }
  }
  const ns = readNumber(fileIn(cg, 'cpuacct.usage'));
  const mem = readNumber(fileIn(cg, 'memory.usage_in_bytes'));
  return ns !== null && mem !== null ? { cpuUsec: ns / 1000, memBytes: mem } : null;
}

/** Removes the VI's cgroup directories (they must be empty of processes). */
export function removeViCgroup(cg: ViCgroup): string[] {
  const problems: string[] = [];
  for (const dir of cg.dirs) {
    try {
      if (existsSync(dir)) rmdirSync(dir);
    } catch (e) {
      problems.push(`${dir}: ${(e as Error).message}`);
    }
  }
  return problems;
}

/** Removes the controller's own cgroup directories when no VI is left in them (rmdir refuses otherwise). */
export function removeBaseCgroups(host: HostIsolation): void {
  if (!host.cgroup) return;
  for (const dir of new Set(Object.values(host.cgroup.bases))) {
    // Refused while it still holds VI cgroups (kept VIs).
    if (dir) removeDirIfEmpty(dir);
  }
}

// ---------------------------------------------------------------- /proc

export interface ProcStat {
  pid: number;
  state: string;
  ppid: number;
  pgid: number;
  utimeTicks: number;
  stimeTicks: number;
  /** Start time in clock ticks after boot, as text (it can exceed 2^53 in theory). */
  startTicks: string;
  rssPages: number;
}

/** Parses /proc/PID/stat; the command name may contain spaces and parentheses, so split after the last ')'. */
export function parseProcStat(pid: number, text: string): ProcStat | null {
  const close = text.lastIndexOf(')');
  if (close < 0) return null;
  const f = text.slice(close + 2).split(' ');
  // f[0] is field 3 (state); field N is f[N - 3].
  const num = (n: number): number => Number(f[n - 3]);
  if (f.length < 22) return null;
  return { pid, state: f[0] ?? '?', ppid: num(4), pgid: num(5), utimeTicks: num(14), stimeTicks: num(15), startTicks: f[22 - 3] ?? '', rssPages: num(24) };
}

export function readProcStat(pid: number): ProcStat | null {
  try {
    return parseProcStat(pid, readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return null;
  }
}

/** True while `pid` is the very process we started (same start time), not a recycled pid. */
export function isSameProcess(pid: number, startTicks: string): boolean {
  const stat = readProcStat(pid);
  return stat !== null && stat.startTicks === startTicks && stat.state !== 'Z';
}

export function allPids(): number[] {
  try {
    return readdirSync('/proc').filter((n) => /^\d+$/.test(n)).map(Number);
  } catch {
    return [];
  }
}

export function processGroupMembers(pgid: number): ProcStat[] {
  return allPids()
    .map(readProcStat)
    .filter((s): s is ProcStat => s !== null && s.pgid === pgid && s.state !== 'Z');
}

/** Pids whose environment carries `PCLOUD_VI_NONCE=<nonce>`: processes of that VI, wherever they went. */
export function pidsWithNonce(nonce: string): number[] {
  const needle = Buffer.from(`PCLOUD_VI_NONCE=${nonce}\0`);
  const found: number[] = [];
  for (const pid of allPids()) {
    try {
      if (readFileSync(`/proc/${pid}/environ`).includes(needle)) found.push(pid);
    } catch {
      // Gone, or not ours to read.
    }
  }
  return found;
}

const CLOCK_TICKS = 100;
const PAGE_BYTES = 4096;

/** CPU (microseconds, cumulative) and resident memory (bytes) of a set of processes. */
export function procUsage(stats: readonly ProcStat[]): { cpuUsec: number; memBytes: number } {
  let ticks = 0;
  let pages = 0;
  for (const s of stats) {
    ticks += s.utimeTicks + s.stimeTicks;
    pages += s.rssPages;
  }
  return { cpuUsec: (ticks * 1_000_000) / CLOCK_TICKS, memBytes: pages * PAGE_BYTES };
}

// ---------------------------------------------------------------- launching

export interface LaunchPlan {
  file: string;
  args: string[];
  env: Record<string, string>;
  isolation: Isolation;
}

export interface LaunchRequest {
  viId: string;
  nonce: string;
  command: readonly string[];
  cgroup: ViCgroup | null;
  /** The VI's own user (needs host.setpriv); null runs the program as the controller's user. */
  user: { uid: number; gid: number } | null;
  /** nproc: RLIMIT_NPROC, a per-VI process limit only together with a user of the VI's own. */
  rlimits: { nofile: number; fsizeBytes: number; cpuSeconds: number; nproc?: number };
  extraNotes: readonly string[];
  env: Record<string, string>;
  /** The VI's data-plane port; a tap port's interfaces are waited for inside the VI's namespace before the program runs. */
  port?: { kind: 'ring' | 'tap'; layout: 'single' | 'bump'; interfaces: readonly string[] } | null;
}

/** Exit code the launcher uses when the VI's tap interfaces never appeared in its namespace. */
export const EXIT_TAPS_MISSING = 98;

/**
 * Inside the VI's namespaces, before the program: waits (up to 10 s) until
 * every interface named in PCLOUD_VI_TAPS exists. The controller makes them
 * there once the namespace exists, which is only after this chain began.
 * /proc/net is the reading process's own network namespace.
 */
const WAIT_FOR_TAPS = `IFS=,; for d in $PCLOUD_VI_TAPS; do n=0; until grep -q "^ *$d:" /proc/net/dev; do n=$((n+1)); if [ $n -gt 500 ]; then echo "tap interface $d never appeared in the VI's network namespace" >&2; exit ${EXIT_TAPS_MISSING}; fi; sleep 0.02; done; done; unset IFS; exec "$@"`;

/** The process chain that starts a VI with the isolation this host gives. */
export function planLaunch(host: HostIsolation, req: LaunchRequest): LaunchPlan {
  const summary = hostIsolationSummary(host);
  const notes = [...summary.notes, ...req.extraNotes];
  const rl = req.rlimits;
  const rlimits = [`nofile=${rl.nofile}`, 'core=0', `fsize=${rl.fsizeBytes}`, `cpu=${rl.cpuSeconds}`, ...(rl.nproc !== undefined ? [`nproc=${rl.nproc}`] : [])];
  if (req.user && !host.setpriv) throw new Error(`VI ${req.viId}: a user of its own needs setpriv, which this host lacks`);
  const taps = req.port?.kind === 'tap' ? req.port.interfaces : [];
  if (req.port?.kind === 'tap') {
    const refused = tapRefusal(host);
    if (refused) throw new Error(`VI ${req.viId}: ${refused}`);
  }
  // A tap VI's program starts once its interfaces are there.
  const command = taps.length ? ['/bin/sh', '-c', WAIT_FOR_TAPS, `vi-${req.viId}-taps`, ...req.command] : req.command;
  const dropped = req.user && host.setpriv ? [host.setpriv, ...dropPrivileges(req.user)] : [];
  const inUserNamespace = dropped.length > 0 && host.unshare !== null && host.userns;
  const namespaces: Isolation['namespaces'] = [];
  let chain: string[];
  if (!host.unshare) {
    chain = [...dropped, ...command];
  } else if (inUserNamespace) {
    // The VI's user makes its namespaces itself, inside a user namespace of its own.
    chain = [...dropped, host.unshare, ...USER_NAMESPACE, ...NAMESPACES, '--', ...command];
    namespaces.push('user', 'pid', 'mount', 'net');
  } else {
    // Root makes the namespaces; the user is dropped to last, just before the program.
    chain = [host.unshare, ...NAMESPACES, '--', ...dropped, ...command];
    namespaces.push('pid', 'mount', 'net');
  }
  const env: Record<string, string> = { ...req.env, PCLOUD_VI_ID: req.viId, PCLOUD_VI_NONCE: req.nonce };
  let script = 'exec "$@"';
  if (host.prlimit) {
    chain = [host.prlimit, ...rlimits.map((r) => `--${r}`), '--', ...chain];
  } else {
    if (rl.nproc !== undefined) throw new Error(`VI ${req.viId}: RLIMIT_NPROC needs prlimit, which this host lacks`);
    // The shell's own ulimit: -f counts 512-byte blocks in POSIX sh.
    script = `ulimit -n ${rl.nofile}; ulimit -c 0; ulimit -f ${Math.max(1, Math.floor(rl.fsizeBytes / 512))}; ulimit -t ${rl.cpuSeconds}; ${script}`;
  }
  if (req.cgroup) {
    // Join every hierarchy before exec, so nothing the VI forks escapes its cgroup.
    script = `for f in $PCLOUD_CGROUP_PROCS; do echo $$ > "$f" || exit 97; done; unset PCLOUD_CGROUP_PROCS; ${script}`;
    env.PCLOUD_CGROUP_PROCS = cgroupProcsFiles(req.cgroup).join(' ');
  }
  return {
    file: '/bin/sh',
    args: ['-c', script, `vi-${req.viId}`, ...chain],
    env,
    isolation: {
      namespaces,
      cgroup: req.cgroup?.version ?? 'none',
      rlimits,
      notes,
      user: req.user,
      portKinds: summary.portKinds ?? ['ring'],
      port: req.port ? { ...req.port, interfaces: [...req.port.interfaces] } : null,
    },
  };
}

/** Exit code the launcher uses when the VI could not join its cgroup. */
export const EXIT_CGROUP_JOIN_FAILED = 97;

/**
 * The first directory on the way to `path` (itself included) that `user`
 * may not search, with its mode and owner, or null when every one lets it
 * through (missing ones are made later, searchable). A VI runs as a user of
 * its own and reads its files from its directory under the controller's
 * state directory: a parent of mode 0700 (a mkdtemp folder) stopped an
 * ipsec-tunnel VI from reading its key, and it crashed, after which its
 * traffic went on in the clear through legacy forwarding. Checked before a
 * VI starts, so that it is refused with the reason instead.
 */
export function unsearchableAncestor(path: string, user: { uid: number; gid: number }): string | null {
  for (let dir = resolve(path); ; dir = dirname(dir)) {
    let st;
    try {
      st = statSync(dir);
    } catch {
      st = null;
    }
    if (st) {
      const bit = st.uid === user.uid ? 0o100 : st.gid === user.gid ? 0o010 : 0o001;
      if ((st.mode & bit) === 0) return `${dir} is mode ${(st.mode & 0o777).toString(8).padStart(4, '0')} (owner uid ${st.uid}, group ${st.gid})`;
    }
    if (dir === dirname(dir)) return null;
  }
}
