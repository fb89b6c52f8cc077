/**
 * Versioned schema migrations, applied in order inside one transaction each;
 * PRAGMA user_version records the last one applied. A database newer than
 * this program is refused rather than guessed at.
 */
import type { Database } from 'better-sqlite3';

export interface Migration {
  readonly version: number;
  readonly summary: string;
  readonly sql: string;
}

export const migrations: readonly Migration[] = [
  {
    version: 1,
    summary: 'reservations, transitions, holds, ledger, audit, controller reports',
    sql: `
      CREATE TABLE reservations (
        id TEXT PRIMARY KEY,
        provider_id TEXT NOT NULL,
        requestor_pop_id TEXT NOT NULL,
        preferred_cloudlet_id TEXT,
        t0 INTEGER NOT NULL,
        t1 INTEGER NOT NULL,
        profile_json TEXT NOT NULL,
        service_json TEXT NOT NULL,
        state TEXT NOT NULL,
        cloudlet_id TEXT,
        node_id TEXT,
        price_micros INTEGER NOT NULL,
        paid_micros INTEGER NOT NULL DEFAULT 0,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        reason TEXT NOT NULL DEFAULT '',
        client_request_id TEXT,
        CHECK (t0 < t1)
      );
      CREATE INDEX reservations_state ON reservations(state);
      CREATE INDEX reservations_provider ON reservations(provider_id, created_at);
      CREATE INDEX reservations_node ON reservations(node_id);
      CREATE UNIQUE INDEX reservations_client_request ON reservations(provider_id, client_request_id) WHERE client_request_id IS NOT NULL;

      CREATE TABLE transitions (
        id INTEGER PRIMARY KEY,
        reservation_id TEXT NOT NULL REFERENCES reservations(id),
        at INTEGER NOT NULL,
        from_state TEXT,
        to_state TEXT NOT NULL,
        actor TEXT NOT NULL,
        reason TEXT NOT NULL
      );
      CREATE INDEX transitions_reservation ON transitions(reservation_id, id);

      -- One row per sub-slot a reservation holds on its node: what a
      -- recomputation from the database (and the SQL baseline) sums.
      CREATE TABLE holds (
        reservation_id TEXT NOT NULL REFERENCES reservations(id),
        node_id TEXT NOT NULL,
        isp INTEGER NOT NULL,
        from_ms INTEGER NOT NULL,
        to_ms INTEGER NOT NULL,
        cpu REAL NOT NULL,
        mem_mib REAL NOT NULL,
        disk_gib REAL NOT NULL,
        net_mbps REAL NOT NULL,
        CHECK (from_ms < to_ms)
      );
      CREATE INDEX holds_node_time ON holds(node_id, from_ms);
      CREATE INDEX holds_reservation ON holds(reservation_id);

      CREATE TABLE ledger (
        id INTEGER PRIMARY KEY,
        at INTEGER NOT NULL,
        provider_id TEXT NOT NULL,
        reservation_id TEXT NOT NULL REFERENCES reservations(id),
        kind TEXT NOT NULL CHECK (kind IN ('charge', 'refund', 'fine')),
        amount_micros INTEGER NOT NULL,
        note TEXT NOT NULL
      );
      CREATE INDEX ledger_provider ON ledger(provider_id, id);
      CREATE INDEX ledger_reservation ON ledger(reservation_id, id);

      CREATE TABLE audit (
        seq INTEGER PRIMARY KEY,
        at INTEGER NOT NULL,
        actor TEXT NOT NULL,
        role TEXT NOT NULL,
        action TEXT NOT NULL,
        target TEXT NOT NULL,
        reason TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL
      );

      CREATE TABLE node_reports (
        node_id TEXT PRIMARY KEY,
        cloudlet_id TEXT NOT NULL,
        at INTEGER NOT NULL,
        total_json TEXT NOT NULL,
        available_json TEXT NOT NULL,
        health TEXT NOT NULL
      );
    `,
  },
  {
    version: 2,
    summary: 'operator actions forwarded by controllers, remembered so a resend is recorded once',
    sql: `
      CREATE TABLE forwarded_audit (
        cloudlet_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        audit_seq INTEGER NOT NULL REFERENCES audit (seq),
        PRIMARY KEY (cloudlet_id, seq)
      );
    `,
  },
  {
    version: 3,
    summary: 'refusals aggregated per provider, request shape and reason kind instead of one reservation row each',
    sql: `
      -- A declined request holds nothing, so it is not kept as a reservation
      -- (about 1.5 KB with its transitions and audit entries); repeated
      -- refusals of one shape bump a counter (refusals.ts).
      CREATE TABLE refusals (
        id TEXT PRIMARY KEY,
        provider_id TEXT NOT NULL,
        shape TEXT NOT NULL,
        kind TEXT NOT NULL,
        count INTEGER NOT NULL,
        first_at INTEGER NOT NULL,
        last_at INTEGER NOT NULL,
        last_reason TEXT NOT NULL
      ) WITHOUT ROWID;
      CREATE INDEX refusals_last ON refusals(last_at);
      CREATE INDEX refusals_provider ON refusals(provider_id, last_at);
    `,
  },
];

export function migrate(db: Database, list: readonly Migration[] = migrations): number {
  const current = db.pragma('user_version', { simple: true }) as number;
  const latest = list.at(-1)?.version ?? 0;
  if (current > latest) {
    throw new Error(`database schema is version ${current} but this scheduler knows only up to ${latest}: run a newer scheduler`);
  }
  for (const m of list) {
    if (m.version <= current) continue;
    db.transaction(() => {
      db.exec(m.sql);
      db.pragma(`user_version = ${m.version}`);
    })();
  }
  return latest;
}
