// SQL for processor.charges and the charge's JSON representation.
import { randomBytes } from 'node:crypto';
import type pg from 'pg';

export type ChargeStatus = 'succeeded' | 'declined';

export interface ChargeRow {
  id: string;
  idempotencyKey: string;
  amount: number;
  currency: string;
  source: string;
  status: ChargeStatus;
  requestFingerprint: string;
  /** ISO 8601, UTC, milliseconds. */
  createdAt: string;
  /** Insertion (and commit) order, as a decimal string: the list cursor. */
  seq: string;
}

export interface NewCharge {
  idempotencyKey: string;
  amount: number;
  currency: string;
  source: string;
  status: ChargeStatus;
  requestFingerprint: string;
}

// Every insert takes this lock for its transaction, so charges commit in seq order. Without it a
// charge with a lower seq could commit after a reader paged past that seq, and reconciliation
// walking `?after=` would never see it.
const INSERT_LOCK = 7_201_100_902;

// Column types are converted in SQL, so the result does not depend on the pool's type parsers.
const COLUMNS = `id, idempotency_key, amount::text AS amount, currency, source, status, request_fingerprint,
  to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS created_at, seq::text AS seq_text`;
// (Not `AS seq`: ORDER BY seq would then sort the text alias, putting 10 before 9.)

interface RawRow {
  id: string;
  idempotency_key: string;
  amount: string;
  currency: string;
  source: string;
  status: string;
  request_fingerprint: string;
  created_at: string;
  seq_text: string;
}

function toRow(raw: RawRow): ChargeRow {
  if (raw.status !== 'succeeded' && raw.status !== 'declined') throw new Error(`charge ${raw.id} has status ${raw.status}`);
  return {
    id: raw.id,
    idempotencyKey: raw.idempotency_key,
    amount: Number(raw.amount),
    currency: raw.currency,
    source: raw.source,
    status: raw.status,
    requestFingerprint: raw.request_fingerprint,
    createdAt: raw.created_at,
    seq: raw.seq_text,
  };
}

export function newChargeId(): string {
  return `ch_${randomBytes(12).toString('hex')}`;
}

export async function findChargeByKey(pool: pg.Pool, idempotencyKey: string): Promise<ChargeRow | undefined> {
  const result = await pool.query<RawRow>(`SELECT ${COLUMNS} FROM processor.charges WHERE idempotency_key = $1`, [idempotencyKey]);
  const raw = result.rows[0];
  return raw ? toRow(raw) : undefined;
}

/**
 * Records the charge unless its key is taken. Exactly one of any number of concurrent calls with
 * one key inserts (`ON CONFLICT DO NOTHING`); the others read the winner's row. One statement in
 * a transaction of its own: the insert lock is taken (the CTE is read before any row, and so
 * before its seq is drawn) and released by the same commit.
 */
export async function recordCharge(pool: pg.Pool, charge: NewCharge): Promise<{ row: ChargeRow; created: boolean }> {
  const inserted = await pool.query<RawRow>(
    `WITH serialized AS (SELECT pg_advisory_xact_lock($8::bigint))
     INSERT INTO processor.charges (id, idempotency_key, amount, currency, source, status, request_fingerprint)
     SELECT $1::text, $2::text, $3::bigint, $4::char(3), $5::text, $6::text, $7::text FROM serialized
     ON CONFLICT (idempotency_key) DO NOTHING
     RETURNING ${COLUMNS}`,
    [newChargeId(), charge.idempotencyKey, charge.amount, charge.currency, charge.source, charge.status, charge.requestFingerprint, INSERT_LOCK],
  );
  const created = inserted.rows[0];
  if (created) return { row: toRow(created), created: true };
  // The insert waited for the commit of the row that holds the key; a new statement sees it.
  const existing = await findChargeByKey(pool, charge.idempotencyKey);
  if (!existing) throw new Error(`charge for key ${JSON.stringify(charge.idempotencyKey)} neither inserted nor found`);
  return { row: existing, created: false };
}

/** Up to `limit` charges with seq greater than `after`, in seq order. */
export async function listChargesAfter(pool: pg.Pool, after: string | undefined, limit: number): Promise<ChargeRow[]> {
  const result = await pool.query<RawRow>(
    `SELECT ${COLUMNS} FROM processor.charges WHERE seq > $1::bigint ORDER BY seq LIMIT $2`,
    [after ?? '0', limit],
  );
  return result.rows.map(toRow);
}

export interface ChargeJson {
  id: string;
  idempotencyKey: string;
  amount: number;
  currency: string;
  source: string;
  status: ChargeStatus;
  createdAt: string;
}

export function renderCharge(row: ChargeRow): ChargeJson {
  return {
    id: row.id,
    idempotencyKey: row.idempotencyKey,
    amount: row.amount,
    currency: row.currency,
    source: row.source,
    status: row.status,
    createdAt: row.createdAt,
  };
}
