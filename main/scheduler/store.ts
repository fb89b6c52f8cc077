/**
 * The scheduler's durable state in SQLite (better-sqlite3): WAL, foreign keys,
 * synchronous=FULL so a committed transaction survives a power cut, and
 * versioned migrations.
 *
 * Group commit: callers describe their writes as a WriteSet (values are
 * captured when the set is built, so later in-memory changes cannot leak in)
 * and `commit()` returns a promise that settles once the set is inside a
 * committed transaction. Sets arriving within `groupCommitMs` (at most 5 ms)
 * share one transaction and one fsync. Sets commit in arrival order, so what
 * is durable is always a prefix of what was decided. Nothing is acknowledged
 * before its promise resolves.
 *
 * A set that breaks a constraint (a bug, or input a check upstream missed)
 * is rolled back and rejected alone, with the constraint named; the other
 * sets of the batch still commit and the daemon stays up. (The batch runs as
 * one plain transaction first; only when that meets a constraint error is it
 * run again with a SAVEPOINT per set, which costs about a quarter of the
 * throughput if paid on every batch.) Only the failed set's
 * audit entries are kept, because later entries are already chained onto
 * their hashes. Any other failure (disk full, I/O error, a failed COMMIT)
 * means the in-memory state can no longer be trusted: the store reports it as
 * fatal and the daemon exits, to be rebuilt from the database on restart.
 */
import Database from 'better-sqlite3';
import type { Database as Db, Statement } from 'better-sqlite3';
import type { AuditEntry, LedgerEntry, Profile, Reservation, ReservationState, Resources, ServiceSpec, Transition } from '../protocol/domain.ts';
import { migrate } from './migrations.ts';

export const toMicros = (amount: number): number => Math.round(amount * 1e6);
export const fromMicros = (micros: number): number => micros / 1e6;

interface ReservationRow {
  id: string;
  provider_id: string;
  requestor_pop_id: string;
  preferred_cloudlet_id: string | null;
  t0: number;
  t1: number;
  profile_json: string;
  service_json: string;
  state: string;
  cloudlet_id: string | null;
  node_id: string | null;
  price_micros: number;
  paid_micros: number;
  created_at: number;
  updated_at: number;
  reason: string;
}

export interface RefusalRow {
  id: string;
  provider_id: string;
  shape: string;
  kind: string;
  count: number;
  first_at: number;
  last_at: number;
  last_reason: string;
}

export interface HoldRow {
  reservation_id: string;
  node_id: string;
  isp: number;
  from_ms: number;
  to_ms: number;
  cpu: number;
  mem_mib: number;
  disk_gib: number;
  net_mbps: number;
}

function rowToReservation(row: ReservationRow): Reservation {
  return {
    id: row.id,
    providerId: row.provider_id,
    requestorPopId: row.requestor_pop_id,
    preferredCloudletId: row.preferred_cloudlet_id,
    t0: row.t0,
    t1: row.t1,
    profile: JSON.parse(row.profile_json) as Profile,
    service: JSON.parse(row.service_json) as ServiceSpec,
    state: row.state as ReservationState,
    cloudletId: row.cloudlet_id,
    nodeId: row.node_id,
    price: fromMicros(row.price_micros),
    paid: fromMicros(row.paid_micros),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    reason: row.reason,
  };
}

class Statements {
  readonly insertReservation: Statement;
  readonly updateReservation: Statement;
  readonly insertTransition: Statement;
  readonly deleteHolds: Statement;
  readonly insertHold: Statement;
  readonly insertLedger: Statement;
  readonly insertAudit: Statement;
  readonly upsertReport: Statement;
  readonly insertForwarded: Statement;
  readonly upsertRefusal: Statement;

  constructor(db: Db) {
    this.insertReservation = db.prepare(
      `INSERT INTO reservations (id, provider_id, requestor_pop_id, preferred_cloudlet_id, t0, t1, profile_json, service_json, state,
        cloudlet_id, node_id, price_micros, paid_micros, created_at, updated_at, reason, client_request_id)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.updateReservation = db.prepare(
      `UPDATE reservations SET state = ?, cloudlet_id = ?, node_id = ?, profile_json = ?, price_micros = ?, paid_micros = ?, updated_at = ?, reason = ?
       WHERE id = ?`,
    );
    this.insertTransition = db.prepare('INSERT INTO transitions (reservation_id, at, from_state, to_state, actor, reason) VALUES (?, ?, ?, ?, ?, ?)');
    this.deleteHolds = db.prepare('DELETE FROM holds WHERE reservation_id = ?');
    this.insertHold = db.prepare(
      'INSERT INTO holds (reservation_id, node_id, isp, from_ms, to_ms, cpu, mem_mib, disk_gib, net_mbps) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
    );
    this.insertLedger = db.prepare('INSERT INTO ledger (at, provider_id, reservation_id, kind, amount_micros, note) VALUES (?, ?, ?, ?, ?, ?)');
    this.insertAudit = db.prepare('INSERT INTO audit (seq, at, actor, role, action, target, reason, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)');
    this.insertForwarded = db.prepare('INSERT INTO forwarded_audit (cloudlet_id, seq, audit_seq) VALUES (?, ?, ?)');
    this.upsertRefusal = db.prepare(
      `INSERT INTO refusals (id, provider_id, shape, kind, count, first_at, last_at, last_reason) VALUES (?, ?, ?, ?, 1, ?, ?, ?)
       ON CONFLICT(id) DO UPDATE SET count = count + 1, last_at = excluded.last_at, last_reason = excluded.last_reason`,
    );
    this.upsertReport = db.prepare(
      `INSERT INTO node_reports (node_id, cloudlet_id, at, total_json, available_json, health) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT(node_id) DO UPDATE SET cloudlet_id = excluded.cloudlet_id, at = excluded.at, total_json = excluded.total_json,
         available_json = excluded.available_json, health = excluded.health`,
    );
  }
}

/** Writes captured now, applied later inside one group-committed transaction. */
export class WriteSet {
  readonly ops: (() => void)[] = [];
  /** The audit inserts alone: kept even when the rest of the set is rolled back. */
  readonly auditOps: (() => void)[] = [];
  /** Run once the set is durable, before anyone awaiting it resumes (capacity a change frees is freed then). */
  readonly durable: (() => void)[] = [];
  private readonly s: Statements;

  constructor(s: Statements) {
    this.s = s;
  }

  get empty(): boolean {
    return this.ops.length === 0 && this.durable.length === 0;
  }

  whenDurable(action: () => void): this {
    this.durable.push(action);
    return this;
  }

  insertReservation(r: Reservation, clientRequestId: string | undefined): this {
    const v = [
      r.id, r.providerId, r.requestorPopId, r.preferredCloudletId, r.t0, r.t1, JSON.stringify(r.profile), JSON.stringify(r.service), r.state,
      r.cloudletId, r.nodeId, toMicros(r.price), toMicros(r.paid), r.createdAt, r.updatedAt, r.reason, clientRequestId ?? null,
    ];
    // First, so rows that refer to the reservation pass the (immediate) foreign key checks.
    this.ops.unshift(() => this.s.insertReservation.run(v));
    return this;
  }

  updateReservation(r: Reservation): this {
    const v = [r.state, r.cloudletId, r.nodeId, JSON.stringify(r.profile), toMicros(r.price), toMicros(r.paid), r.updatedAt, r.reason, r.id];
    this.ops.push(() => this.s.updateReservation.run(v));
    return this;
  }

  transition(reservationId: string, t: Transition): this {
    const v = [reservationId, t.at, t.from, t.to, t.actor, t.reason];
    this.ops.push(() => this.s.insertTransition.run(v));
    return this;
  }

  /** Replaces what a reservation holds: its profile on its node, or nothing. */
  holds(reservationId: string, nodeId: string | null, isp: boolean, profile: Profile | null, fresh = false): this {
    const rows = nodeId && profile
      ? profile.map((s) => [reservationId, nodeId, isp ? 1 : 0, s.from, s.to, s.capacity.cpu, s.capacity.memMiB, s.capacity.diskGiB, s.capacity.netMbps])
      : [];
    this.ops.push(() => {
      // A fresh reservation holds nothing yet: no need to look.
      if (!fresh) this.s.deleteHolds.run(reservationId);
      for (const row of rows) this.s.insertHold.run(row);
    });
    return this;
  }

  ledger(e: Omit<LedgerEntry, 'id'>): this {
    const v = [e.at, e.providerId, e.reservationId, e.kind, toMicros(e.amount), e.note];
    this.ops.push(() => this.s.insertLedger.run(v));
    return this;
  }

  audit(e: AuditEntry): this {
    const v = [e.seq, e.at, e.actor, e.role, e.action, e.target, e.reason, e.prevHash, e.hash];
    const op = (): void => void this.s.insertAudit.run(v);
    this.ops.push(op);
    this.auditOps.push(op);
    return this;
  }

  /** Records that a controller's audit entry `seq` became our entry `auditSeq`. */
  forwardedAudit(cloudletId: string, seq: number, auditSeq: number): this {
    this.ops.push(() => this.s.insertForwarded.run([cloudletId, seq, auditSeq]));
    return this;
  }

  nodeReport(nodeId: string, cloudletId: string, at: number, total: Resources, available: Resources, health: string): this {
    const v = [nodeId, cloudletId, at, JSON.stringify(total), JSON.stringify(available), health];
    this.ops.push(() => this.s.upsertReport.run(v));
    return this;
  }

  /** Counts one more refusal of this provider, shape and kind (refusals.ts). */
  refusal(r: Omit<RefusalRow, 'count' | 'first_at'>): this {
    const v = [r.id, r.provider_id, r.shape, r.kind, r.last_at, r.last_at, r.last_reason];
    this.ops.push(() => this.s.upsertRefusal.run(v));
    return this;
  }
}

interface Queued {
  set: WriteSet;
  resolve: () => void;
  reject: (e: Error) => void;
  /** Set when this set alone was rolled back. */
  refused?: Error;
}

/** A write set that broke a constraint: rolled back alone, the rest of its batch committed. */
export class WriteSetRefused extends Error {
  override name = 'WriteSetRefused';
}

/** SQLite's constraint errors (UNIQUE, FOREIGN KEY, CHECK, NOT NULL): about the data, not the disk. */
function isConstraintError(e: unknown): boolean {
  return typeof (e as { code?: unknown }).code === 'string' && (e as { code: string }).code.startsWith('SQLITE_CONSTRAINT');
}

export interface StoreOptions {
  groupCommitMs?: number;
  /** Called once when a commit fails; the caller should exit and restart. */
  onFatal?: (error: Error) => void;
}

export class Store {
  readonly db: Db;
  private readonly statements: Statements;
  private readonly groupCommitMs: number;
  private readonly onFatal: (error: Error) => void;
  private queue: Queued[] = [];
  private timer: NodeJS.Timeout | undefined;
  private failed: Error | undefined;
  /** Transactions and write sets committed (and sets refused alone), for the benchmark and tests. */
  readonly stats = { transactions: 0, sets: 0, refused: 0 };
  private readonly applyBatch: (batch: Queued[]) => void;
  private readonly applyBatchSetBySet: (batch: Queued[]) => void;

  constructor(path: string, options: StoreOptions = {}) {
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    // FULL: a commit is on disk before it is acknowledged, even on power loss.
    this.db.pragma('synchronous = FULL');
    // Immediate (not deferred) foreign key checks: a violation fails its own write set, not the whole batch.
    this.db.pragma('foreign_keys = ON');
    this.db.pragma('busy_timeout = 5000');
    migrate(this.db);
    this.statements = new Statements(this.db);
    this.groupCommitMs = Math.min(5, options.groupCommitMs ?? 2);
    this.onFatal = options.onFatal ?? ((e) => {
      process.stderr.write(`scheduler store: commit failed, exiting to recover from the database: ${e.message}\n`);
      process.exit(70);
    });
    // better-sqlite3 runs a transaction function called inside another as a SAVEPOINT.
    const applySet = this.db.transaction((set: WriteSet) => {
      for (const op of set.ops) op();
    });
    const applyAudit = this.db.transaction((set: WriteSet) => {
      for (const op of set.auditOps) op();
    });
    this.applyBatch = this.db.transaction((batch: Queued[]) => {
      for (const q of batch) for (const op of q.set.ops) op();
    });
    this.applyBatchSetBySet = this.db.transaction((batch: Queued[]) => {
      for (const q of batch) {
        try {
          applySet(q.set);
        } catch (e) {
          if (!isConstraintError(e)) throw e;
          applyAudit(q.set);
          q.refused = new WriteSetRefused(`write set refused by the database and rolled back alone: ${(e as Error).message}`);
        }
      }
    });
  }

  begin(): WriteSet {
    return new WriteSet(this.statements);
  }

  /** Resolves once the set is durable. */
  commit(set: WriteSet): Promise<void> {
    if (this.failed) return Promise.reject(this.failed);
    // A change that finishes after shutdown (a controller's late answer) is not recorded; it was never acknowledged.
    if (!this.db.open) return Promise.reject(new Error(`scheduler store ${this.db.name} is closed: the change was not recorded`));
    if (set.empty) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.queue.push({ set, resolve, reject });
      this.timer ??= setTimeout(() => this.flush(), this.groupCommitMs);
    });
  }

  /** Commits everything queued now (used at shutdown and by tests). */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.queue;
    if (batch.length === 0) return;
    this.queue = [];
    try {
      try {
        this.applyBatch(batch);
      } catch (e) {
        // Rolled back whole: run it again set by set, to commit all but the offending sets.
        if (!isConstraintError(e)) throw e;
        this.applyBatchSetBySet(batch);
      }
    } catch (e) {
      const error = new Error(`group commit of ${batch.length} write sets failed: ${(e as Error).message}`);
      this.failed = error;
      for (const q of batch) q.reject(error);
      this.onFatal(error);
      return;
    }
    this.stats.transactions++;
    for (const q of batch) {
      if (q.refused) {
        this.stats.refused++;
        q.reject(q.refused);
      } else {
        this.stats.sets++;
        for (const action of q.set.durable) action();
        q.resolve();
      }
    }
  }

  close(): void {
    this.flush();
    this.db.close();
  }

  // ------------------------------------------------------------ reads

  reservation(id: string): Reservation | undefined {
    const row = this.db.prepare('SELECT * FROM reservations WHERE id = ?').get(id) as ReservationRow | undefined;
    return row && rowToReservation(row);
  }

  reservationByClientId(providerId: string, clientRequestId: string): Reservation | undefined {
    const row = this.db
      .prepare('SELECT * FROM reservations WHERE provider_id = ? AND client_request_id = ?')
      .get(providerId, clientRequestId) as ReservationRow | undefined;
    return row && rowToReservation(row);
  }

  transitions(id: string): Transition[] {
    return (
      this.db.prepare('SELECT at, from_state, to_state, actor, reason FROM transitions WHERE reservation_id = ? ORDER BY id').all(id) as {
        at: number;
        from_state: string | null;
        to_state: string;
        actor: string;
        reason: string;
      }[]
    ).map((t) => ({ at: t.at, from: t.from_state as ReservationState | null, to: t.to_state as ReservationState, actor: t.actor, reason: t.reason }));
  }

  listReservations(filter: { states?: readonly string[]; providerId?: string; cloudletId?: string; limit: number }): Reservation[] {
    const where: string[] = [];
    const args: unknown[] = [];
    if (filter.states?.length) {
      where.push(`state IN (${filter.states.map(() => '?').join(', ')})`);
      args.push(...filter.states);
    }
    if (filter.providerId) {
      where.push('provider_id = ?');
      args.push(filter.providerId);
    }
    if (filter.cloudletId) {
      where.push('cloudlet_id = ?');
      args.push(filter.cloudletId);
    }
    const sql = `SELECT * FROM reservations ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at DESC, id DESC LIMIT ?`;
    return (this.db.prepare(sql).all(...args, filter.limit) as ReservationRow[]).map(rowToReservation);
  }

  /** Every reservation in one of the given states (used to rebuild memory at start). */
  reservationsInStates(states: readonly string[]): Reservation[] {
    const sql = `SELECT * FROM reservations WHERE state IN (${states.map(() => '?').join(', ')})`;
    return (this.db.prepare(sql).all(...states) as ReservationRow[]).map(rowToReservation);
  }

  /** The largest numeric suffix of the ids issued so far. */
  lastReservationNumber(): number {
    const row = this.db.prepare("SELECT MAX(CAST(substr(id, 3) AS INTEGER)) AS n FROM reservations WHERE id LIKE 'r-%'").get() as { n: number | null };
    return row.n ?? 0;
  }

  holdsOverlapping(nodeIds: readonly string[] | null, from: number, to: number): HoldRow[] {
    if (nodeIds === null) {
      return this.db.prepare('SELECT * FROM holds WHERE from_ms < ? AND to_ms > ?').all(to, from) as HoldRow[];
    }
    const stmt = this.db.prepare('SELECT * FROM holds WHERE node_id = ? AND from_ms < ? AND to_ms > ?');
    return nodeIds.flatMap((n) => stmt.all(n, to, from) as HoldRow[]);
  }

  holdsOf(reservationId: string): HoldRow[] {
    return this.db.prepare('SELECT * FROM holds WHERE reservation_id = ? ORDER BY from_ms').all(reservationId) as HoldRow[];
  }

  /** Per reservation, what it holds in the database, by sub-slot in time order. */
  holdsByReservation(): Map<string, HoldRow[]> {
    const byReservation = new Map<string, HoldRow[]>();
    for (const h of this.db.prepare('SELECT * FROM holds ORDER BY reservation_id, from_ms').all() as HoldRow[]) {
      const list = byReservation.get(h.reservation_id);
      if (list) list.push(h);
      else byReservation.set(h.reservation_id, [h]);
    }
    return byReservation;
  }

  /** Reservations whose `paid` differs from the sum of their ledger entries (each should be none). */
  paidMismatches(limit: number): { id: string; paid: number; ledger: number }[] {
    const rows = this.db
      .prepare(
        `SELECT r.id, r.paid_micros AS paid, COALESCE((SELECT SUM(l.amount_micros) FROM ledger l WHERE l.reservation_id = r.id), 0) AS ledger
         FROM reservations r WHERE r.paid_micros != COALESCE((SELECT SUM(l.amount_micros) FROM ledger l WHERE l.reservation_id = r.id), 0) LIMIT ?`,
      )
      .all(limit) as { id: string; paid: number; ledger: number }[];
    return rows.map((r) => ({ id: r.id, paid: fromMicros(r.paid), ledger: fromMicros(r.ledger) }));
  }

  /** Reservations in a final state that still hold capacity, or in a holding state that hold none. */
  holdsOutOfStep(holding: readonly string[], limit: number): { id: string; state: string; holds: number }[] {
    const list = holding.map(() => '?').join(', ');
    return this.db
      .prepare(
        `SELECT r.id, r.state, (SELECT COUNT(*) FROM holds h WHERE h.reservation_id = r.id) AS holds FROM reservations r
         WHERE (r.state NOT IN (${list}) AND EXISTS (SELECT 1 FROM holds h WHERE h.reservation_id = r.id))
            OR (r.state IN (${list}) AND NOT EXISTS (SELECT 1 FROM holds h WHERE h.reservation_id = r.id)) LIMIT ?`,
      )
      .all(...holding, ...holding, limit) as { id: string; state: string; holds: number }[];
  }

  allHolds(): HoldRow[] {
    return this.db.prepare('SELECT * FROM holds').all() as HoldRow[];
  }

  ledger(filter: { providerId?: string; reservationId?: string; limit: number }): { entries: LedgerEntry[]; balance: number } {
    const where: string[] = [];
    const args: unknown[] = [];
    if (filter.providerId) {
      where.push('provider_id = ?');
      args.push(filter.providerId);
    }
    if (filter.reservationId) {
      where.push('reservation_id = ?');
      args.push(filter.reservationId);
    }
    const clause = where.length ? `WHERE ${where.join(' AND ')}` : '';
    const rows = this.db.prepare(`SELECT * FROM ledger ${clause} ORDER BY id DESC LIMIT ?`).all(...args, filter.limit) as {
      id: number;
      at: number;
      provider_id: string;
      reservation_id: string;
      kind: 'charge' | 'refund' | 'fine';
      amount_micros: number;
      note: string;
    }[];
    const sum = this.db.prepare(`SELECT COALESCE(SUM(amount_micros), 0) AS s FROM ledger ${clause}`).get(...args) as { s: number };
    return {
      entries: rows.map((r) => ({ id: r.id, at: r.at, providerId: r.provider_id, reservationId: r.reservation_id, kind: r.kind, amount: fromMicros(r.amount_micros), note: r.note })),
      balance: fromMicros(sum.s),
    };
  }

  auditAfter(afterSeq: number, limit: number): AuditEntry[] {
    return (
      this.db.prepare('SELECT * FROM audit WHERE seq > ? ORDER BY seq LIMIT ?').all(afterSeq, limit) as {
        seq: number;
        at: number;
        actor: string;
        role: string;
        action: string;
        target: string;
        reason: string;
        prev_hash: string;
        hash: string;
      }[]
    ).map((r) => ({ seq: r.seq, at: r.at, actor: r.actor, role: r.role, action: r.action, target: r.target, reason: r.reason, prevHash: r.prev_hash, hash: r.hash }));
  }

  /** The highest controller audit sequence number already recorded, per cloudlet. */
  forwardedAuditHighWater(): Map<string, number> {
    const rows = this.db.prepare('SELECT cloudlet_id, MAX(seq) AS seq FROM forwarded_audit GROUP BY cloudlet_id').all() as { cloudlet_id: string; seq: number }[];
    return new Map(rows.map((r) => [r.cloudlet_id, r.seq]));
  }

  lastAudit(): { seq: number; hash: string } | undefined {
    return this.db.prepare('SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1').get() as { seq: number; hash: string } | undefined;
  }

  /** Aggregated refusals, most recent first. */
  refusals(filter: { providerId?: string; limit: number }): RefusalRow[] {
    const clause = filter.providerId ? 'WHERE provider_id = ?' : '';
    const args = filter.providerId ? [filter.providerId, filter.limit] : [filter.limit];
    return this.db.prepare(`SELECT * FROM refusals ${clause} ORDER BY last_at DESC, id LIMIT ?`).all(...args) as RefusalRow[];
  }

  nodeReports(): { node_id: string; cloudlet_id: string; at: number; total_json: string; available_json: string; health: string }[] {
    return this.db.prepare('SELECT * FROM node_reports').all() as { node_id: string; cloudlet_id: string; at: number; total_json: string; available_json: string; health: string }[];
  }
}
