import { sql, type Kysely, type Transaction } from 'kysely';
import { compileOnce } from '../db/compiled-query.ts';
import type { Database } from '../db/schema.ts';

export interface KeyRow {
  fingerprint: string;
  response_status: number | null;
  response_body: string | null;
  response_headers: Record<string, string>;
  context_id: string | null;
  expires_at: Date;
}

export interface KeyScope {
  scope: string;
  operation: string;
  key: string;
}

/**
 * Claims the key for this request. The unique key decides: a concurrent claim of the same key
 * waits here until the first transaction ends, then finds its committed row (or, if that one
 * rolled back, claims the key itself). An expired key is claimed anew.
 * Returns the expiry when this request owns the key, undefined when someone else recorded it.
 * A one-shot POST names the context it is about to create (`contextId`), so the record of the key
 * is complete at the claim and nothing is written to it after the action.
 */
export async function claimKey(
  trx: Transaction<Database>,
  scope: KeyScope,
  fingerprint: string,
  ttlSeconds: number,
  contextId: string | null = null,
): Promise<Date | undefined> {
  const { rows } = await claimKeyQuery(trx, scope.scope, scope.operation, scope.key, fingerprint, ttlSeconds, contextId);
  return rows[0]?.expires_at;
}

// Every keyed POST: compiled once.
const claimKeyQuery = compileOnce(
  6,
  (_db, scope: string, operation: string, key: string, fingerprint: string, ttlSeconds: number, contextId: string | null) =>
    sql<{ expires_at: Date }>`
    INSERT INTO idempotency_keys AS k (scope, operation, key, fingerprint, expires_at, context_id)
    VALUES (${scope}, ${operation}, ${key}, ${fingerprint}, now() + make_interval(secs => ${ttlSeconds}), ${contextId})
    ON CONFLICT (scope, operation, key) DO UPDATE
       SET fingerprint = EXCLUDED.fingerprint, expires_at = EXCLUDED.expires_at, created_at = now(),
           response_status = NULL, response_body = NULL, response_headers = '{}', context_id = EXCLUDED.context_id
     WHERE k.expires_at <= now()
    RETURNING expires_at`,
);

export async function findKey(trx: Transaction<Database>, scope: KeyScope): Promise<KeyRow | undefined> {
  return trx
    .selectFrom('idempotency_keys')
    .select(['fingerprint', 'response_status', 'response_body', 'response_headers', 'context_id', 'expires_at'])
    .where('scope', '=', scope.scope)
    .where('operation', '=', scope.operation)
    .where('key', '=', scope.key)
    .executeTakeFirst();
}

export async function recordKeyOutcome(
  trx: Transaction<Database>,
  scope: KeyScope,
  outcome: { status: number; body: string; headers: Record<string, string> },
): Promise<void> {
  await trx
    .updateTable('idempotency_keys')
    .set({ response_status: outcome.status, response_body: outcome.body, response_headers: JSON.stringify(outcome.headers) })
    .where('scope', '=', scope.scope)
    .where('operation', '=', scope.operation)
    .where('key', '=', scope.key)
    .execute();
}

/** The sweeper: removes keys past their retention, a batch at a time. Contexts keep their history. */
export async function deleteExpiredKeys(db: Kysely<Database>, batch = 1000): Promise<number> {
  const { rows } = await sql<{ n: number }>`
    WITH expired AS (
      SELECT scope, operation, key FROM idempotency_keys WHERE expires_at <= now() LIMIT ${batch} FOR UPDATE SKIP LOCKED
    ), gone AS (
      DELETE FROM idempotency_keys k USING expired e
       WHERE k.scope = e.scope AND k.operation = e.operation AND k.key = e.key
      RETURNING 1
    )
    SELECT count(*)::int AS n FROM gone`.execute(db);
  return rows[0]?.n ?? 0;
}
