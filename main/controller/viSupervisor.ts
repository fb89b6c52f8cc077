/**
 * The VI supervisor: starts VIs in their sandboxes, watches them, applies new
 * limits live, samples their use, stops them, and re-adopts them after a
 * controller restart.
 *
 * Ownership of processes (the rule: act only on what you own). A VI's
 * launcher is spawned detached, so it leads its own process group, and
 * carries a random nonce in its environment. Before any signal the
 * supervisor proves the target is ours: the leader by its pid *and* the start
 * time recorded from /proc/PID/stat at launch (a recycled pid has another
 * start time); stragglers by membership of the VI's own cgroup or by the
 * nonce in their environment, which only descendants of our launcher carry.
 * Nothing is ever signalled by name.
 *
 * Stopping is idempotent: remove-rules happens in the daemon before stop is
 * called; stop sends SIGTERM to the group, waits the grace period, sends
 * SIGKILL to the group and to every proven straggler, waits for the exit,
 * and removes the VI's cgroup. Stopping a VI that already ended returns it
 * unchanged.
 *
 * Limits (sandbox.ts does the kernel side): a root controller gives every VI
 * a uid of its own from sandbox.viUids and never runs a VI program as root;
 * the VI's tasks are capped by its pids cgroup, else by RLIMIT_NPROC on that
 * uid. The VI's isolation record says what it got and why not. A VI that
 * ends after the kernel's OOM killer acted in its cgroup is reported as
 * killed for exceeding its memory limit, whatever its exit status was.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Resources, ServiceSpec } from '../protocol/domain.ts';
import { endedViStates } from '../protocol/vocabulary.ts';
import { argsSummary, catalog, descriptorOf, secretArgsOf, serviceProblem } from '../services/catalog.ts';
import { SECRET_ARGS_FILE, SERVICE_ENV, wipeFile } from '../services/sdk/descriptor.ts';
import { LogFollower } from '../services/sdk/logFollower.ts';
import { MAX_SERVICE_COUNTERS, SERVICE_COUNTERS_FILE } from '../services/sdk/serviceCounters.ts';
import { parseServiceEvent, SERVICE_EVENTS_FILE, type ServiceEvent } from '../services/sdk/serviceEvents.ts';
import type { Isolation, ServiceOffer, ViLimits, ViState, ViUsage } from '../protocol/controllerApi.ts';
import {
  EXIT_CGROUP_JOIN_FAILED,
  EXIT_TAPS_MISSING,
  allocateViUid,
  applyCgroupLimits,
  applyCgroupProcessLimit,
  cgroupOomKills,
  cgroupPids,
  cgroupUsage,
  createViCgroup,
  isSameProcess,
  pidsWithNonce,
  planLaunch,
  processGroupMembers,
  procUsage,
  readProcStat,
  removeViCgroup,
  tapRefusal,
  unsearchableAncestor,
  type HostIsolation,
  type LaunchRequest,
  type UidRange,
  type ViCgroup,
} from './sandbox.ts';
import type { ControllerStore, ViRecord } from './store.ts';
import { UPLOADED_PROGRAM, type UploadStore } from './uploads.ts';

/**
 * The built-in services of the catalog (main/services/): beside this module when bundled
 * (dist/main/NAME.js, each built as its own entry; this module may sit in dist/main/chunks/),
 * else the source file of the checkout (run from main/controller/ or from dist/main/). A built-in
 * whose file is not found is simply not an installed program.
 */
function findServiceScript(name: string): string | undefined {
  const here = dirname(fileURLToPath(import.meta.url));
  return [join(here, `${name}.js`), join(here, '..', `${name}.js`), join(here, '..', 'services', `${name}.ts`), join(here, '..', '..', 'main', 'services', `${name}.ts`)].find((f) => existsSync(f));
}
const builtInServices = new Map(catalog.flatMap(({ program }) => {
  const script = findServiceScript(program);
  return script ? [[program, script] as const] : [];
}));

/** The service's own counters from its VI directory (serviceCounters.ts); undefined when it wrote none. */
function readServiceCounters(dir: string): Record<string, number> | undefined {
  let text: string;
  try {
    text = readFileSync(join(dir, SERVICE_COUNTERS_FILE), 'utf8');
  } catch {
    return undefined;
  }
  if (text.length > 8192) return undefined;
  try {
    const counters = (JSON.parse(text) as { counters?: unknown }).counters;
    if (typeof counters !== 'object' || counters === null) return undefined;
    const entries = Object.entries(counters).filter((e): e is [string, number] => e[0].length <= 64 && typeof e[1] === 'number' && Number.isFinite(e[1]));
    return entries.length > MAX_SERVICE_COUNTERS ? undefined : Object.fromEntries(entries);
  } catch {
    // Half-written by a service that does not rename: the next sample reads it whole.
    return undefined;
  }
}

export interface ProgramTable {
  [id: string]: { command: string[] };
}

export interface StartRequest {
  viId: string;
  reservationId: string;
  providerId: string;
  nodeId: string;
  program: string;
  args: Record<string, string>;
  capacity: Resources;
  t1: number;
  /** Added to the VI's minimal environment (where its data-plane port is, e.g. PCLOUD_VI_RING). */
  env?: Record<string, string>;
  /** The VI's data-plane port (a tap port's interfaces are made in its namespace once it runs). */
  port?: LaunchRequest['port'];
}

export interface SupervisorOptions {
  host: HostIsolation;
  store: ControllerStore;
  cloudletId: string;
  stateDir: string;
  graceMs: number;
  nofile: number;
  /** Tasks (processes and threads) per VI. */
  maxProcesses: number;
  viUids: UidRange;
  programs: ProgramTable;
  /** Provider bundles (uploads.ts): with them, program "upload" runs the reservation's bundle. */
  uploads?: Pick<UploadStore, 'commandFor'>;
  now: () => number;
  onChange: (vi: ViRecord, from: ViState | null) => void;
  log: (line: string) => void;
}

interface Live {
  child: ChildProcess | null;
  exited: Promise<void>;
  markExited: () => void;
  /** Set when stop() began, so the exit is not taken for a crash. */
  stopping: 'stopped' | 'terminated' | 'failed' | null;
  stopReason: string;
  lastCpu: { usec: number; at: number } | null;
  pollTimer: NodeJS.Timeout | null;
}

function cgroupOf(vi: ViRecord): ViCgroup | null {
  return vi.cgroupPaths.length && vi.isolation.cgroup !== 'none' ? { version: vi.isolation.cgroup, dirs: vi.cgroupPaths } : null;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Waits for `p` at most `ms`; the timer is cleared either way, so a finished wait never delays exit. */
async function within(p: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([p, new Promise<void>((r) => (timer = setTimeout(r, ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

export class ViSupervisor {
  private readonly o: SupervisorOptions;
  private readonly live = new Map<string, Live>();
  private readonly lastUsage = new Map<string, ViUsage>();
  /** Per running VI: where its service's events file was read up to. */
  private readonly eventFollowers = new Map<string, LogFollower>();
  private readonly removals = new Set<Promise<void>>();

  constructor(options: SupervisorOptions) {
    this.o = options;
  }

  programs(): string[] {
    const uploaded = this.o.uploads && !this.configured(UPLOADED_PROGRAM) ? [UPLOADED_PROGRAM] : [];
    return [...builtInServices.keys(), ...uploaded, ...Object.keys(this.o.programs).filter((p) => !builtInServices.has(p))];
  }

  /** Program "upload" runs the reservation's bundle (unless the configuration names a program so). */
  private runsBundle(program: string): boolean {
    return program === UPLOADED_PROGRAM && this.o.uploads !== undefined && !this.configured(program);
  }

  /** Null when VIs here can have tap ports, else why not (ring ports only). */
  tapRefusal(): string | null {
    return tapRefusal(this.o.host);
  }

  private configured(program: string): { command: string[] } | undefined {
    return Object.hasOwn(this.o.programs, program) ? this.o.programs[program] : undefined;
  }

  /**
   * The command line of a program, or undefined when it is not installed here (for "upload": when
   * the reservation has no bundle). Secret args stay off it.
   */
  commandFor(program: string, args: Record<string, string>, reservationId?: string): string[] | undefined {
    if (this.runsBundle(program)) {
      const bundle = reservationId === undefined ? undefined : this.o.uploads?.commandFor(reservationId);
      return bundle && [...bundle.command, ...Object.entries(args).map(([k, v]) => `--${k}=${v}`)];
    }
    const configured = this.configured(program);
    const secrets = configured ? [] : secretArgsOf(program);
    const argv = Object.entries(args).filter(([k]) => !secrets.includes(k)).map(([k, v]) => `--${k}=${v}`);
    if (configured) return [...configured.command, ...argv];
    const builtIn = builtInServices.get(program);
    if (builtIn) return [process.execPath, '--disable-warning=ExperimentalWarning', builtIn, ...argv];
    return undefined;
  }

  /**
   * Why this cloudlet cannot run a service spec: the program is not installed, or (for a catalog
   * program) this host cannot run it, the port is of the wrong kind or an argument is wrong. Null when it can.
   */
  serviceProblem(spec: Pick<ServiceSpec, 'program' | 'args' | 'port'>): string | null {
    // The bundle may be uploaded any time before the VI starts.
    if (this.runsBundle(spec.program)) return null;
    if (!this.commandFor(spec.program, spec.args)) return `program "${spec.program}" is not installed on cloudlet ${this.o.cloudletId} (installed: ${this.programs().join(', ')})`;
    return this.configured(spec.program) ? null : serviceProblem(spec, { root: this.o.host.root });
  }

  /** What this cloudlet offers (service.list): the catalog's built-ins, then the configured programs. */
  offers(): ServiceOffer[] {
    return this.programs().map((program) => {
      if (this.runsBundle(program)) {
        return { program, summary: "the reservation's own bundle (pcctl upload): its manifest's command, run as the VI's user", source: 'uploaded', mode: null, port: null, args: null, available: true, reason: null };
      }
      const d = this.configured(program) ? undefined : descriptorOf(program);
      if (!d) return { program, summary: 'configured by the operator (arguments are not checked)', source: 'configured', mode: null, port: null, args: null, available: true, reason: null };
      const reason = d.availability({ root: this.o.host.root });
      return { program, summary: d.summary, source: 'built-in', mode: d.mode, port: d.port, args: argsSummary(d.args), available: reason === null, reason };
    });
  }

  private update(vi: ViRecord, changes: Partial<ViRecord>): ViRecord {
    const from = vi.state;
    const next = { ...vi, ...changes };
    if (endedViStates.includes(next.state)) this.wipeSecrets(next.id);
    this.o.store.putVi(next);
    if (next.state !== from) this.o.onChange(next, from);
    return next;
  }

  private newLive(child: ChildProcess | null): Live {
    let markExited: () => void = () => undefined;
    const exited = new Promise<void>((r) => (markExited = r));
    return { child, exited, markExited, stopping: null, stopReason: '', lastCpu: null, pollTimer: null };
  }

  /** Starts a VI; resolves once it runs (or has failed to start, with the reason). */
  async start(req: StartRequest): Promise<ViRecord> {
    const existing = this.o.store.vi(req.viId);
    if (existing && !endedViStates.includes(existing.state)) return existing;
    const command = this.commandFor(req.program, req.args, req.reservationId);
    if (!command && this.runsBundle(req.program)) throw new Error(`reservation ${req.reservationId} runs its uploaded bundle, and none was uploaded (pcctl upload ${req.reservationId} BUNDLE.tar)`);
    if (!command) throw new Error(`program "${req.program}" is not installed on this cloudlet (installed: ${this.programs().join(', ')})`);
    const problem = this.serviceProblem({ program: req.program, args: req.args });
    if (problem) throw new Error(problem);
    const noTaps = req.port?.kind === 'tap' ? tapRefusal(this.o.host) : null;
    if (noTaps) throw new Error(`VI ${req.viId} not started: ${noTaps}`);
    if (this.o.host.root && !this.o.host.setpriv) {
      throw new Error(`VI ${req.viId} not started: this controller runs as root and cannot give the VI an unprivileged user (${this.o.host.notes.join('; ')})`);
    }
    const dir = join(this.o.stateDir, 'vis', req.viId);
    const user = this.userFor(req.viId);
    const blocked = user ? unsearchableAncestor(dirname(dir), user) : null;
    if (blocked) throw new Error(`VI ${req.viId} not started: its user (uid ${user?.uid}) could not reach its directory ${dir}: ${blocked}; the controller's stateDir must lie under directories that other users may search (e.g. mode 0711)`);
    mkdirSync(dir, { recursive: true });
    // Its own directory is the one place the VI's user may write.
    if (user) chownSync(dir, user.uid, user.gid);
    const builtIn = !this.configured(req.program) && builtInServices.has(req.program);
    this.handOverSecrets(dir, req, user);
    const notes: string[] = [];
    let cgroup: ViCgroup | null = null;
    let processLimit: Isolation['processLimit'] = null;
    if (this.o.host.cgroup) {
      const made = createViCgroup(this.o.host, req.viId);
      if ('error' in made) notes.push(made.error);
      else {
        cgroup = made;
        notes.push(...applyCgroupLimits(made, { cpu: req.capacity.cpu, memMiB: req.capacity.memMiB }));
        const refused = applyCgroupProcessLimit(made, this.o.maxProcesses);
        if (refused) notes.push(`process limit not in the cgroup: ${refused}`);
        else processLimit = { max: this.o.maxProcesses, by: 'pids-cgroup' };
      }
    }
    // RLIMIT_NPROC counts every process of a uid, so it bounds one VI only when the VI has a uid of its own.
    const nproc = !processLimit && user && this.o.host.prlimit ? this.o.maxProcesses : undefined;
    if (nproc !== undefined) processLimit = { max: nproc, by: 'rlimit-nproc' };
    else if (!processLimit) notes.push(`no process limit: ${user ? 'no pids cgroup and no prlimit' : 'no pids cgroup and no user of its own for RLIMIT_NPROC'}`);
    const now = this.o.now();
    const nonce = randomBytes(16).toString('hex');
    const plan = planLaunch(this.o.host, {
      viId: req.viId,
      nonce,
      command,
      cgroup,
      user,
      rlimits: {
        ...(nproc !== undefined ? { nproc } : {}),
        nofile: this.o.nofile,
        fsizeBytes: Math.max(1, Math.round(req.capacity.diskGiB * 1024 ** 3)) || 1024 ** 3,
        // Total CPU seconds the reservation could use at its full rate, plus slack.
        cpuSeconds: Math.ceil(Math.max(1, req.capacity.cpu) * Math.max(0, req.t1 - now) / 1000) + 60,
      },
      extraNotes: notes,
      port: req.port ?? null,
      // A minimal environment: the controller's own (tokens included) never reaches a VI. Under
      // Electron-as-Node, execPath is Electron, which runs scripts only with ELECTRON_RUN_AS_NODE.
      env: { ...req.env, ...(builtIn ? { [SERVICE_ENV]: req.program } : {}), ...(this.runsBundle(req.program) ? { PCLOUD_BUNDLE_DIR: this.o.uploads?.commandFor(req.reservationId)?.dir ?? '' } : {}), PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C.UTF-8', HOME: dir, PCLOUD_VI_DIR: dir, ...(process.versions.electron ? { ELECTRON_RUN_AS_NODE: '1' } : {}) },
    });
    let vi: ViRecord = {
      id: req.viId,
      reservationId: req.reservationId,
      providerId: req.providerId,
      nodeId: req.nodeId,
      program: req.program,
      state: 'starting',
      pid: null,
      startTicks: null,
      nonce,
      cgroupPaths: cgroup?.dirs ?? [],
      isolation: { ...plan.isolation, processLimit },
      capacity: req.capacity,
      limits: { cpu: req.capacity.cpu, memMiB: req.capacity.memMiB, ppsCap: null, mbpsCap: null },
      t1: req.t1,
      startedAt: now,
      endedAt: null,
      exitCode: null,
      exitSignal: null,
      reason: 'starting',
    };
    this.o.store.putVi(vi);
    this.o.onChange(vi, existing?.state ?? null);
    // 0600: the vis directory is searchable by every VI, and one VI's output is not another's to read.
    const out = openSync(join(this.o.stateDir, 'vis', `${req.viId}.log`), 'a', 0o600);
    let child: ChildProcess;
    try {
      child = spawn(plan.file, plan.args, { cwd: dir, env: plan.env, detached: true, stdio: ['ignore', out, out] });
    } finally {
      closeSync(out);
    }
    const live = this.newLive(child);
    this.live.set(req.viId, live);
    const spawned = await new Promise<Error | null>((resolve) => {
      child.once('spawn', () => resolve(null));
      child.once('error', (e) => resolve(e));
    });
    if (spawned || child.pid === undefined) {
      live.markExited();
      this.live.delete(req.viId);
      if (cgroup) removeViCgroup(cgroup);
      return this.update(vi, { state: 'failed', endedAt: this.o.now(), reason: `could not launch ${plan.file}: ${spawned?.message ?? 'no pid'}` });
    }
    const pid = child.pid;
    const startTicks = readProcStat(pid)?.startTicks ?? null;
    child.once('exit', (code, signal) => this.onExit(req.viId, code, signal));
    vi = this.update(vi, { state: 'running', pid, startTicks, reason: 'running' });
    return vi;
  }

  /** Secret args (keys) go to the VI in a file only its user can read, never on its command line. */
  private handOverSecrets(dir: string, req: StartRequest, user: { uid: number; gid: number } | null): void {
    const secrets = this.configured(req.program) ? [] : secretArgsOf(req.program);
    const given = Object.entries(req.args).filter(([k]) => secrets.includes(k));
    const file = join(dir, SECRET_ARGS_FILE);
    wipeFile(file);
    if (given.length === 0) return;
    writeFileSync(file, JSON.stringify(Object.fromEntries(given)), { mode: 0o600 });
    if (user) chownSync(file, user.uid, user.gid);
  }

  /** Whatever secrets the service did not take (it crashed first) do not outlive its VI. */
  private wipeSecrets(viId: string): void {
    wipeFile(join(this.o.stateDir, 'vis', viId, SECRET_ARGS_FILE));
  }

  /** A uid of its own for the VI when the controller is root (never root for a VI program); else null. */
  private userFor(viId: string): { uid: number; gid: number } | null {
    if (!this.o.host.setpriv) return null;
    const taken = new Set<number>();
    for (const vi of this.o.store.vis()) if (!endedViStates.includes(vi.state) && vi.isolation.user) taken.add(vi.isolation.user.uid);
    const uid = allocateViUid(this.o.viUids, this.o.cloudletId, viId, taken);
    return { uid, gid: uid };
  }

  private onExit(viId: string, code: number | null, signal: NodeJS.Signals | null): void {
    const live = this.live.get(viId);
    const vi = this.o.store.vi(viId);
    if (live?.pollTimer) clearInterval(live.pollTimer);
    live?.markExited();
    if (!vi || endedViStates.includes(vi.state)) return;
    const cgroup = cgroupOf(vi);
    if (live?.stopping) {
      // Stop cleans up (stragglers, cgroup) itself once it sees the exit.
      this.update(vi, { state: live.stopping, endedAt: this.o.now(), exitCode: code, exitSignal: signal, reason: live.stopReason });
      return;
    }
    // Read before the sweep and the cgroup's removal: the kernel's count of OOM kills dies with it.
    const oomKills = cgroup ? cgroupOomKills(cgroup) : null;
    // A crash: sweep what the VI left behind so a failed VI holds nothing.
    this.killStragglers(vi, 'SIGKILL');
    if (cgroup) this.removeWhenEmpty(vi, cgroup);
    const status = code === null && signal === null ? 'status unknown' : signal ? `signal ${signal}` : `status ${code}`;
    const why =
      code === EXIT_CGROUP_JOIN_FAILED
        ? 'crashed: the launcher could not join the VI cgroup'
        : code === EXIT_TAPS_MISSING
          ? 'crashed: its tap interfaces never appeared in its network namespace'
          : oomKills
          ? // Whatever the exit looked like (the program, or a parent of the killed process, may exit 1), the kernel says why.
            `killed for exceeding its memory limit of ${vi.limits.memMiB} MiB: the kernel's out-of-memory killer ended ${oomKills} of its processes (then it exited with ${status})`
          : code === null && signal === null
            ? 'crashed: exited while adopted (status unknown)'
            : `crashed: exited with ${status}`;
    this.live.delete(viId);
    this.lastUsage.delete(viId);
    this.eventFollowers.delete(viId);
    this.update(vi, { state: 'failed', endedAt: this.o.now(), exitCode: code, exitSignal: signal, reason: why });
  }

  /**
   * Removes a crashed VI's cgroup once its last process is gone: rmdir is
   * refused while any remain, and a process the OOM killer chose can take a
   * while to exit. settle() waits for these.
   */
  private removeWhenEmpty(vi: ViRecord, cgroup: ViCgroup): void {
    const removal = (async () => {
      let problems: string[] = [];
      for (let i = 0; i < 50; i++) {
        await sleep(100);
        if (cgroupPids(cgroup).length > 0) {
          this.killStragglers(vi, 'SIGKILL');
          continue;
        }
        problems = removeViCgroup(cgroup);
        if (problems.length === 0) return;
      }
      this.o.log(`VI ${vi.id}: cgroup not removed after its crash: ${problems.join('; ') || 'processes remain in it'}`);
    })();
    this.removals.add(removal);
    void removal.finally(() => this.removals.delete(removal));
  }

  /** Waits for the cgroups of crashed VIs to be removed (bounded), e.g. before the controller removes its own. */
  async settle(): Promise<void> {
    await Promise.all([...this.removals]);
  }

  /** Signals the VI's process group, but only after proving the leader is still our process. */
  private signalGroup(vi: ViRecord, signal: NodeJS.Signals): void {
    if (vi.pid === null) return;
    const ours = vi.startTicks === null ? this.live.get(vi.id)?.child?.exitCode === null : isSameProcess(vi.pid, vi.startTicks);
    if (!ours) return;
    try {
      process.kill(-vi.pid, signal);
    } catch {
      // Already gone.
    }
  }

  /** Kills processes proven to belong to the VI: in its cgroup, or carrying its nonce. */
  private killStragglers(vi: ViRecord, signal: NodeJS.Signals): number {
    if (process.platform !== 'linux') return 0;
    const cgroup = cgroupOf(vi);
    const pids = new Set([...(cgroup ? cgroupPids(cgroup) : []), ...pidsWithNonce(vi.nonce)]);
    pids.delete(process.pid);
    for (const pid of pids) {
      try {
        process.kill(pid, signal);
      } catch {
        // Already gone.
      }
    }
    return pids.size;
  }

  /** Stops a VI (idempotent): SIGTERM, grace, SIGKILL, reap, cgroup removed. */
  async stop(viId: string, final: 'stopped' | 'terminated' | 'failed', reason: string): Promise<ViRecord> {
    let vi = this.o.store.vi(viId);
    if (!vi) throw new Error(`no VI "${viId}" on this controller`);
    if (endedViStates.includes(vi.state)) return vi;
    const live = this.live.get(viId);
    if (live?.stopping) {
      await live.exited;
      return this.o.store.vi(viId) ?? vi;
    }
    if (live) {
      live.stopping = final;
      live.stopReason = reason;
    }
    vi = this.update(vi, { state: 'stopping', reason: `stopping: ${reason}` });
    this.signalGroup(vi, 'SIGTERM');
    if (live) await within(live.exited, this.o.graceMs);
    this.signalGroup(vi, 'SIGKILL');
    this.killStragglers(vi, 'SIGKILL');
    if (live) await within(live.exited, 5000);
    // Stragglers that outlived their leader (no pid namespace to take them down), or are slow to
    // die on a loaded host: up to 5 s, so that a stopped VI has no processes left.
    for (let i = 0; i < 100 && this.killStragglers(vi, 'SIGKILL') > 0; i++) await sleep(50);
    const cgroup = cgroupOf(vi);
    const problems = cgroup ? removeViCgroup(cgroup) : [];
    if (problems.length) this.o.log(`VI ${viId}: cgroup not removed: ${problems.join('; ')}`);
    if (live?.pollTimer) clearInterval(live.pollTimer);
    this.live.delete(viId);
    this.lastUsage.delete(viId);
    this.eventFollowers.delete(viId);
    const now = this.o.store.vi(viId) ?? vi;
    if (endedViStates.includes(now.state)) return now;
    return this.update(now, { state: final, endedAt: this.o.now(), reason });
  }

  /** New caps for a running VI, applied live; returns what could not be applied. */
  setLimits(viId: string, limits: ViLimits): { vi: ViRecord; problems: string[] } {
    const vi = this.o.store.vi(viId);
    if (!vi) throw new Error(`no VI "${viId}" on this controller`);
    const cgroup = cgroupOf(vi);
    const problems = cgroup ? applyCgroupLimits(cgroup, limits) : ['no cgroup: CPU and memory caps are recorded and watched, not enforced by the kernel'];
    const next = { ...vi, limits };
    this.o.store.putVi(next);
    this.o.onChange(next, vi.state);
    return { vi: next, problems };
  }

  /**
   * After a restart: adopt every VI whose launcher is still the process we
   * started (pid + start time); a VI whose process is gone is marked failed
   * and whatever it left is killed. Returns the ids of both kinds.
   */
  recover(): { adopted: string[]; lost: string[] } {
    const adopted: string[] = [];
    const lost: string[] = [];
    for (const vi of this.o.store.vis()) {
      if (endedViStates.includes(vi.state)) continue;
      if (vi.pid !== null && vi.startTicks !== null && isSameProcess(vi.pid, vi.startTicks)) {
        const live = this.newLive(null);
        this.live.set(vi.id, live);
        const { pid, startTicks } = vi;
        // Not our child any more: watch it through /proc.
        live.pollTimer = setInterval(() => {
          if (!isSameProcess(pid, startTicks)) this.onExit(vi.id, null, null);
        }, 250);
        live.pollTimer.unref();
        // Events raised before the restart were raised then.
        this.followEvents(vi.id, true);
        if (vi.state === 'stopping') this.update(vi, { state: 'running', reason: 'adopted after a controller restart while stopping' });
        adopted.push(vi.id);
      } else {
        this.killStragglers(vi, 'SIGKILL');
        const cgroup = cgroupOf(vi);
        if (cgroup) removeViCgroup(cgroup);
        this.update(vi, { state: 'failed', endedAt: this.o.now(), reason: 'its process was gone when the controller restarted' });
        lost.push(vi.id);
      }
    }
    return { adopted, lost };
  }

  /** One usage sample of a running VI (average cores since the previous sample). */
  sample(viId: string): ViUsage | null {
    const vi = this.o.store.vi(viId);
    const live = this.live.get(viId);
    if (!vi || !live || vi.state !== 'running' || vi.pid === null) return null;
    const cgroup = cgroupOf(vi);
    let raw = cgroup ? cgroupUsage(cgroup) : null;
    let processes: number;
    let source: ViUsage['source'] = 'cgroup';
    if (raw && cgroup) {
      processes = cgroupPids(cgroup).length;
    } else {
      const members = processGroupMembers(vi.pid);
      raw = procUsage(members);
      processes = members.length;
      source = 'proc';
    }
    const at = this.o.now();
    const prev = live.lastCpu;
    live.lastCpu = { usec: raw.cpuUsec, at };
    const cores = prev && at > prev.at ? Math.max(0, (raw.cpuUsec - prev.usec) / 1000 / (at - prev.at)) : 0;
    const service = readServiceCounters(join(this.o.stateDir, 'vis', viId));
    const usage: ViUsage = { viId, at, cpuCores: Number(cores.toFixed(3)), memMiB: Number((raw.memBytes / 1048576).toFixed(1)), processes, source, ...(service ? { service } : {}) };
    this.lastUsage.set(viId, usage);
    return usage;
  }

  /**
   * The events a running VI's service raised since the last call (serviceEvents.ts), at most
   * `max`: the file is the VI's, so each line is schema-checked and what does not pass is skipped,
   * as are lines over `max` (counted in `skipped`, so a flood of lines costs a bounded time).
   */
  serviceEvents(viId: string, max = 1000): { events: ServiceEvent[]; skipped: number } {
    if (!this.live.has(viId)) return { events: [], skipped: 0 };
    const follower = this.eventFollowers.get(viId) ?? this.followEvents(viId, false);
    const lines = follower.read();
    const events = lines.slice(0, max).flatMap((line) => parseServiceEvent(line) ?? []);
    return { events, skipped: lines.length - events.length };
  }

  private followEvents(viId: string, fromEnd: boolean): LogFollower {
    const follower = new LogFollower(join(this.o.stateDir, 'vis', viId, SERVICE_EVENTS_FILE), 256 * 1024);
    if (fromEnd) follower.skipToEnd();
    this.eventFollowers.set(viId, follower);
    return follower;
  }

  usage(viId: string): ViUsage | null {
    return this.lastUsage.get(viId) ?? null;
  }

  running(): string[] {
    return [...this.live.keys()];
  }

  /** Stops watching without touching the VIs (they keep running and are re-adopted later). */
  detach(): void {
    for (const live of this.live.values()) {
      if (live.pollTimer) clearInterval(live.pollTimer);
      live.child?.removeAllListeners('exit');
      live.child?.unref();
    }
    this.live.clear();
  }
}
