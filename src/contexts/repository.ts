import { sql, type Kysely, type Transaction } from 'kysely';
import { compileOnce } from '../db/compiled-query.ts';
import type { Database } from '../db/schema.ts';
import type { StoredState } from '../protocol/context-state.ts';

export interface ContextRow {
  id: string;
  seq: number;
  state: StoredState;
  version: number;
  action: unknown;
  fingerprint: string | null;
  result: unknown;
  error: unknown;
  response_status: number | null;
  response_body: string | null;
  created_at: Date;
  updated_at: Date;
  expires_at: Date;
  attempts: number;
  last_error: string | null;
  recovery_point: string | null;
  locked_by: string | null;
  idempotency_key: string | null;
  /** The database's clock when the row was read (the transaction's start inside one). */
  now: Date;
}

type Executor = Kysely<Database> | Transaction<Database>;

const columns = [
  'id', 'seq', 'state', 'version', 'action', 'fingerprint', 'result', 'error',
  'response_status', 'response_body', 'created_at', 'updated_at', 'expires_at', 'attempts', 'last_error',
  'recovery_point', 'locked_by', 'idempotency_key',
] as const;

function selectContext(db: Kysely<Database>, tenantId: string, id: string) {
  return db
    .selectFrom('contexts')
    .select(columns)
    .select(sql<Date>`now()`.as('now'))
    .where('tenant_id', '=', tenantId)
    .where('id', '=', id);
}

// The statements of every request are compiled once (src/db/compiled-query.ts).
const selectContextQuery = compileOnce(2, (db, tenantId: string, id: string) => selectContext(db, tenantId, id));
const lockContextQuery = compileOnce(2, (db, tenantId: string, id: string) => selectContext(db, tenantId, id).forUpdate());

export async function findContext(db: Executor, tenantId: string, id: string): Promise<ContextRow | undefined> {
  return (await selectContextQuery(db, tenantId, id)).rows[0];
}

/** The row lock every decision that changes a context is taken under. */
export async function lockContext(trx: Transaction<Database>, tenantId: string, id: string): Promise<ContextRow | undefined> {
  return (await lockContextQuery(trx, tenantId, id)).rows[0];
}

const insertOpenContextQuery = compileOnce(
  4,
  (db, tenantId: string, id: string, idempotencyKey: string | null, ttlSeconds: number) =>
    db
      .insertInto('contexts')
      .values({
        tenant_id: tenantId,
        id,
        idempotency_key: idempotencyKey,
        updated_at: sql<Date>`now()`,
        expires_at: sql<Date>`now() + make_interval(secs => ${ttlSeconds})`,
      })
      .onConflict((conflict) => conflict.columns(['tenant_id', 'id']).doNothing())
      .returning(columns)
      .returning(sql<Date>`now()`.as('now')),
);

/**
 * Claims an id for a new open context. On a concurrent claim of the same id this waits for the
 * other transaction and then returns undefined if it committed: the unique key decides, not a read.
 */
export async function insertOpenContext(
  db: Executor,
  tenantId: string,
  id: string,
  ttlSeconds: number,
  idempotencyKey: string | null = null,
): Promise<ContextRow | undefined> {
  return (await insertOpenContextQuery(db, tenantId, id, idempotencyKey, ttlSeconds)).rows[0];
}

export type ListFilter = 'open' | 'expired' | StoredState | undefined;

export async function listContexts(
  db: Executor,
  tenantId: string,
  filter: ListFilter,
  limit: number,
  before: number | undefined,
  idempotencyKey?: string,
): Promise<ContextRow[]> {
  let query = db
    .selectFrom('contexts')
    .select(columns)
    .select(sql<Date>`now()`.as('now'))
    .where('tenant_id', '=', tenantId);
  if (filter === 'open') query = query.where('state', '=', 'open').where('expires_at', '>', sql<Date>`now()`);
  else if (filter === 'expired') query = query.where('state', '=', 'open').where('expires_at', '<=', sql<Date>`now()`);
  else if (filter !== undefined) query = query.where('state', '=', filter);
  if (idempotencyKey !== undefined) query = query.where('idempotency_key', '=', idempotencyKey);
  if (before !== undefined) query = query.where('seq', '<', before);
  return query.orderBy('seq', 'desc').limit(limit).execute();
}
