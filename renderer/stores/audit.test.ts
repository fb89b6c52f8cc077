import { expect, test } from 'vitest';
import type { AuditEntry } from '../../main/protocol/domain.ts';
import { readableReason } from '../composables/reservations/reservationText.ts';
import { auditCsv, filterAudit } from './audit.ts';

const entry = (seq: number, over: Partial<AuditEntry> = {}): AuditEntry => ({
  seq,
  at: Date.UTC(2030, 0, 1, 8, seq),
  actor: 'lab-operator',
  role: 'operator',
  action: 'reservation.approve',
  target: `r${seq}`,
  reason: 'ok',
  prevHash: 'a'.repeat(64),
  hash: 'b'.repeat(64),
  ...over,
});

test('CSV quotes every field and doubles quotes inside, one line per entry', () => {
  const csv = auditCsv([entry(1, { reason: 'said "no", twice' })]);
  const [header, row] = csv.trimEnd().split('\r\n');
  expect(header).toBe('"seq","time","actor","role","action","target","reason","prevHash","hash"');
  expect(row).toContain('"said ""no"", twice"');
  expect(row?.startsWith('"1","2030-01-01T08:01:00.000Z"')).toBe(true);
});

test('filters combine actor, action, time range and free text', () => {
  const all = [entry(1), entry(2, { actor: 'noc-2', action: 'reservation.decline', reason: 'prefix not verified' }), entry(3, { action: 'reservation.decline' })];
  expect(filterAudit(all, { text: '', actor: 'noc-2', action: '', from: null, to: null }).map((e) => e.seq)).toEqual([2]);
  expect(filterAudit(all, { text: '', actor: '', action: 'reservation.decline', from: null, to: null }).map((e) => e.seq)).toEqual([3, 2]);
  expect(filterAudit(all, { text: 'PREFIX verified', actor: '', action: '', from: null, to: null }).map((e) => e.seq)).toEqual([2]);
  expect(filterAudit(all, { text: '', actor: '', action: '', from: Date.UTC(2030, 0, 1, 8, 2), to: Date.UTC(2030, 0, 1, 8, 2) }).map((e) => e.seq)).toEqual([2]);
});

test('the newest entry comes first', () => {
  expect(filterAudit([entry(1), entry(2), entry(3)], { text: '', actor: '', action: '', from: null, to: null }).map((e) => e.seq)).toEqual([3, 2, 1]);
});

test('a resize reason shows capacity and time as words, not JSON', () => {
  const raw = 'more traffic: from 2030-01-01T08:00:00.000Z {"cpu":1,"memMiB":1024,"diskGiB":5,"netMbps":50} (charge 1.5, refund 0, fine 0)';
  const text = readableReason(raw);
  expect(text).not.toContain('{');
  expect(text).toContain('1 core · 1024 MiB · 5 GiB · 50 Mb/s');
  expect(text).toMatch(/from \d{4}-\d\d-\d\d \d\d:\d\d /);
  expect(readableReason('t0 passed before it was approved')).toBe('start time passed before it was approved');
});
