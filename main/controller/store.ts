/**
 * The controller's local truth in SQLite (better-sqlite3, WAL, synchronous
 * FULL): reservations it holds (prepared, committed, running), its VIs with
 * the pid and /proc start time that prove which processes it started, the
 * demux rules installed, node health, alarms and the local audit log. Every
 * write is committed before the controller answers or acts on it, so a
 * controller killed at any moment restarts into a state it can reconcile
 * against the processes it finds and against the scheduler.
 */
import { closeSync, openSync } from 'node:fs';
import Database from 'better-sqlite3';
import type { Profile, Resources, ServiceSpec } from '../protocol/domain.ts';
import type { Alarm, AlarmFlow, Isolation, LocalAuditEntry, ViLimits, ViState } from '../protocol/controllerApi.ts';
import type { BookRule } from './ruleBook.ts';

export type HoldState = 'prepared' | 'committed' | 'running' | 'ended';

export interface Hold {
  reservationId: string;
  providerId: string;
  nodeId: string;
  t0: number;
  t1: number;
  profile: Profile;
  service: ServiceSpec;
  state: HoldState;
  /** A prepared hold lapses at this time unless committed. */
  expiresAt: number | null;
}

export interface ViRecord {
  id: string;
  reservationId: string;
  providerId: string;
  nodeId: string;
  program: string;
  state: ViState;
  pid: number | null;
  /** Field 22 of /proc/PID/stat when started: proves a pid is still our process. */
  startTicks: string | null;
  /** A random marker in the VI's environment, to recognise its processes in /proc. */
  nonce: string;
  cgroupPaths: string[];
  isolation: Isolation;
  capacity: Resources;
  limits: ViLimits;
  t1: number;
  startedAt: number | null;
  endedAt: number | null;
  exitCode: number | null;
  exitSignal: string | null;
  reason: string;
  /** Quarantined by an operator (absent: never was). */
  quarantined?: boolean;
}

const schema = `
CREATE TABLE IF NOT EXISTS holds (
  reservation_id TEXT PRIMARY KEY, provider_id TEXT NOT NULL, node_id TEXT NOT NULL,
  t0 INTEGER NOT NULL, t1 INTEGER NOT NULL, profile TEXT NOT NULL, service TEXT NOT NULL,
  state TEXT NOT NULL, expires_at INTEGER);
CREATE TABLE IF NOT EXISTS vis (
  id TEXT PRIMARY KEY, record TEXT NOT NULL, state TEXT NOT NULL, created INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS rules (
  id TEXT PRIMARY KEY, vi_id TEXT, record TEXT NOT NULL, installed_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS nodes (id TEXT PRIMARY KEY, health TEXT NOT NULL, reason TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS alarms (
  id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, severity TEXT NOT NULL, subject TEXT NOT NULL,
  message TEXT NOT NULL, first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL, count INTEGER NOT NULL,
  acknowledged_by TEXT, acknowledged_principal TEXT, flow TEXT);
CREATE TABLE IF NOT EXISTS audit (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, actor TEXT NOT NULL, role TEXT NOT NULL,
  action TEXT NOT NULL, target TEXT NOT NULL, reason TEXT NOT NULL, forwarded INTEGER NOT NULL DEFAULT 0);
`;

interface AlarmRow {
  id: number;
  kind: Alarm['kind'];
  severity: Alarm['severity'];
  subject: string;
  message: string;
  first_seen: number;
  last_seen: number;
  count: number;
  acknowledged_by: string | null;
  acknowledged_principal: string | null;
  flow: string | null;
}

function alarmOf(r: AlarmRow): Alarm {
  return {
    id: r.id,
    kind: r.kind,
    severity: r.severity,
    subject: r.subject,
    message: r.message,
    firstSeen: r.first_seen,
    lastSeen: r.last_seen,
    count: r.count,
    acknowledgedBy: r.acknowledged_by,
    acknowledgedPrincipal: r.acknowledged_principal,
    ...(r.flow ? { flow: JSON.parse(r.flow) as AlarmFlow } : {}),
  };
}

export class ControllerStore {
  private readonly db: Database.Database;

  constructor(file: string) {
    // Created 0600 first: SQLite gives its -wal and -shm files the database's mode, and the
    // state directory is searchable by VIs (they reach their own directories through it).
    closeSync(openSync(file, 'a', 0o600));
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = FULL');
    this.db.exec(schema);
    // Stores made before alarms kept a flow get the column (CREATE TABLE IF NOT EXISTS leaves them as they were).
    const alarmColumns = this.db.prepare('PRAGMA table_info(alarms)').all() as { name: string }[];
    if (!alarmColumns.some((c) => c.name === 'flow')) this.db.exec('ALTER TABLE alarms ADD COLUMN flow TEXT');
    if (!alarmColumns.some((c) => c.name === 'acknowledged_principal')) this.db.exec('ALTER TABLE alarms ADD COLUMN acknowledged_principal TEXT');
  }

  close(): void {
    this.db.close();
  }

  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }

  // ------------------------------------------------------------ holds

  putHold(h: Hold): void {
    this.db
      .prepare(
        `INSERT INTO holds (reservation_id, provider_id, node_id, t0, t1, profile, service, state, expires_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT(reservation_id) DO UPDATE SET provider_id = excluded.provider_id, node_id = excluded.node_id,
           t0 = excluded.t0, t1 = excluded.t1, profile = excluded.profile, service = excluded.service,
           state = excluded.state, expires_at = excluded.expires_at`,
      )
      .run(h.reservationId, h.providerId, h.nodeId, h.t0, h.t1, JSON.stringify(h.profile), JSON.stringify(h.service), h.state, h.expiresAt);
  }

  hold(reservationId: string): Hold | undefined {
    const row = this.db.prepare('SELECT * FROM holds WHERE reservation_id = ?').get(reservationId) as Record<string, unknown> | undefined;
    return row ? this.holdOf(row) : undefined;
  }

  /** Holds that still reserve capacity (not ended). */
  activeHolds(): Hold[] {
    return (this.db.prepare("SELECT * FROM holds WHERE state != 'ended'").all() as Record<string, unknown>[]).map((r) => this.holdOf(r));
  }

  private holdOf(r: Record<string, unknown>): Hold {
    return {
      reservationId: r.reservation_id as string,
      providerId: r.provider_id as string,
      nodeId: r.node_id as string,
      t0: r.t0 as number,
      t1: r.t1 as number,
      profile: JSON.parse(r.profile as string) as Profile,
      service: JSON.parse(r.service as string) as ServiceSpec,
      state: r.state as HoldState,
      expiresAt: (r.expires_at as number | null) ?? null,
    };
  }

  // ------------------------------------------------------------ VIs

  putVi(vi: ViRecord): void {
    this.db
      .prepare(
        `INSERT INTO vis (id, record, state, created) VALUES (?, ?, ?, ?)
         ON CONFLICT(id) DO UPDATE SET record = excluded.record, state = excluded.state`,
      )
      .run(vi.id, JSON.stringify(vi), vi.state, Date.now());
  }

  vi(id: string): ViRecord | undefined {
    const row = this.db.prepare('SELECT record FROM vis WHERE id = ?').get(id) as { record: string } | undefined;
    return row ? (JSON.parse(row.record) as ViRecord) : undefined;
  }

  vis(): ViRecord[] {
    return (this.db.prepare('SELECT record FROM vis ORDER BY created DESC, id DESC').all() as { record: string }[]).map((r) => JSON.parse(r.record) as ViRecord);
  }

  // ------------------------------------------------------------ rules

  installRules(rules: readonly BookRule[], at: number): void {
    const insert = this.db.prepare('INSERT OR REPLACE INTO rules (id, vi_id, record, installed_at) VALUES (?, ?, ?, ?)');
    this.transaction(() => {
      for (const r of rules) insert.run(r.id, r.viId, JSON.stringify(r), at);
    });
  }

  removeRules(viId: string): number {
    return this.db.prepare('DELETE FROM rules WHERE vi_id = ?').run(viId).changes;
  }

  rules(): (BookRule & { installedAt: number })[] {
    return (this.db.prepare('SELECT record, installed_at FROM rules ORDER BY id').all() as { record: string; installed_at: number }[]).map((r) => ({
      ...(JSON.parse(r.record) as BookRule),
      installedAt: r.installed_at,
    }));
  }

  // ------------------------------------------------------------ nodes

  nodeHealth(id: string): { health: 'up' | 'down'; reason: string } {
    const row = this.db.prepare('SELECT health, reason FROM nodes WHERE id = ?').get(id) as { health: 'up' | 'down'; reason: string } | undefined;
    return row ?? { health: 'up', reason: '' };
  }

  setNodeHealth(id: string, health: 'up' | 'down', reason: string): void {
    this.db.prepare('INSERT OR REPLACE INTO nodes (id, health, reason) VALUES (?, ?, ?)').run(id, health, reason);
  }

  // ------------------------------------------------------------ alarms

  /**
   * Raises an alarm, or counts a repeat of an unacknowledged one with the same kind and subject.
   * `count` occurrences at once: a service that aggregated a burst (an IDS under a flood) is one
   * write, not one per packet.
   */
  raiseAlarm(a: { kind: Alarm['kind']; severity: Alarm['severity']; subject: string; message: string; flow?: AlarmFlow }, at: number, count = 1): Alarm {
    const flow = a.flow ? JSON.stringify(a.flow) : null;
    const open = this.db
      .prepare('SELECT id FROM alarms WHERE kind = ? AND subject = ? AND acknowledged_by IS NULL')
      .get(a.kind, a.subject) as { id: number } | undefined;
    if (open) {
      this.db.prepare('UPDATE alarms SET last_seen = ?, count = count + ?, message = ?, severity = ?, flow = ? WHERE id = ?').run(at, count, a.message, a.severity, flow, open.id);
      return this.alarm(open.id) as Alarm;
    }
    const id = this.db
      .prepare('INSERT INTO alarms (kind, severity, subject, message, first_seen, last_seen, count, flow) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
      .run(a.kind, a.severity, a.subject, a.message, at, at, count, flow).lastInsertRowid;
    return this.alarm(Number(id)) as Alarm;
  }

  alarm(id: number): Alarm | undefined {
    const row = this.db.prepare('SELECT * FROM alarms WHERE id = ?').get(id) as AlarmRow | undefined;
    return row ? alarmOf(row) : undefined;
  }

  alarms(includeAcknowledged: boolean, limit: number): Alarm[] {
    const where = includeAcknowledged ? '' : 'WHERE acknowledged_by IS NULL';
    return (this.db.prepare(`SELECT * FROM alarms ${where} ORDER BY last_seen DESC, id DESC LIMIT ?`).all(limit) as AlarmRow[]).map(alarmOf);
  }

  acknowledgeAlarm(id: number, by: string, principal: string): void {
    this.db.prepare('UPDATE alarms SET acknowledged_by = ?, acknowledged_principal = ? WHERE id = ?').run(by, principal, id);
  }

  // ------------------------------------------------------------ audit

  audit(e: { at: number; actor: string; role: string; action: string; target: string; reason: string }): number {
    return Number(
      this.db.prepare('INSERT INTO audit (at, actor, role, action, target, reason) VALUES (?, ?, ?, ?, ?, ?)').run(e.at, e.actor, e.role, e.action, e.target, e.reason).lastInsertRowid,
    );
  }

  auditEntries(afterSeq: number, limit: number): LocalAuditEntry[] {
    return (
      this.db.prepare('SELECT * FROM audit WHERE seq > ? ORDER BY seq LIMIT ?').all(afterSeq, limit) as (Omit<LocalAuditEntry, 'forwarded'> & { forwarded: number })[]
    ).map((r) => ({ ...r, forwarded: r.forwarded === 1 }));
  }

  unforwardedAudit(limit: number): LocalAuditEntry[] {
    return (
      this.db.prepare('SELECT * FROM audit WHERE forwarded = 0 ORDER BY seq LIMIT ?').all(limit) as (Omit<LocalAuditEntry, 'forwarded'> & { forwarded: number })[]
    ).map((r) => ({ ...r, forwarded: false }));
  }

  markForwarded(seqs: readonly number[]): void {
    const mark = this.db.prepare('UPDATE audit SET forwarded = 1 WHERE seq = ?');
    this.transaction(() => {
      for (const s of seqs) mark.run(s);
    });
  }
}
