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
  recovery_point: 'accepted' | 'charge_confirmed' | 'finished' | null;
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

export interface Execution {
  tenantId: string;
  id: string;
  /** The version the decision was made on; the update applies only if it is still current. */
  expectedVersion: number;
  /** processing: accepted as a job for the worker, which may run it at once. */
  state: 'processing' | 'succeeded' | 'failed';
  action: unknown;
  fingerprint: string;
  result: unknown;
  error: unknown;
  responseStatus: number;
  responseBody: string;
}

type RecordArgs = [
  state: Execution['state'],
  version: number,
  action: string,
  fingerprint: string,
  result: string | null,
  error: string | null,
  responseStatus: number,
  responseBody: string,
  tenantId: string,
  id: string,
  expectedVersion: number,
];

function recordUpdate(db: Kysely<Database>, accepting: boolean, ...[state, version, action, fingerprint, result, error, responseStatus, responseBody, tenantId, id, expectedVersion]: RecordArgs) {
  return db
    .updateTable('contexts')
    .set({
      state,
      version,
      action,
      fingerprint,
      result,
      error,
      response_status: responseStatus,
      response_body: responseBody,
      updated_at: sql<Date>`now()`,
      // Accepted as a job: the worker's recovery point and due time (src/worker/).
      ...(accepting ? { recovery_point: 'accepted' as const, run_after: sql<Date>`now()` } : {}),
    })
    .where('tenant_id', '=', tenantId)
    .where('id', '=', id)
    // The decision was made under the row lock; the version says nothing changed since.
    // (No state predicate: with stale statistics it made the planner scan every open
    // context of the tenant through contexts_state_page instead of using the key.)
    .where('version', '=', expectedVersion);
}

const recordFinalExecution = compileOnce(11, (db, ...args: RecordArgs) => recordUpdate(db, false, ...args));
const recordAcceptedExecution = compileOnce(11, (db, ...args: RecordArgs) => recordUpdate(db, true, ...args));

/** An event for the transactional outbox (src/webhooks/outbox.ts), queued by the same statement. */
export interface OutboxEvent {
  eventId: string;
  type: string;
  payload: string;
}

// The outcome and its webhook event in one statement: one round trip less while the action's
// row locks are held. Queues one delivery per endpoint of the tenant, none when it has none.
const recordFinalExecutionWithEvent = compileOnce(
  14,
  (db, eventId: string, eventType: string, payload: string, ...args: RecordArgs) =>
    db
      .with('recorded', () => recordUpdate(db, false, ...args).returning('tenant_id'))
      .with('queued', (qb) =>
        qb
          .insertInto('webhook_deliveries')
          .columns(['tenant_id', 'endpoint_id', 'event_id', 'event_type', 'payload'])
          .expression((eb) =>
            eb
              .selectFrom('webhook_endpoints as e')
              .innerJoin('recorded as r', 'r.tenant_id', 'e.tenant_id')
              .select(['e.tenant_id', 'e.id', eb.val(eventId).as('event_id'), eb.val(eventType).as('event_type'), eb.val(payload).as('payload')]),
          )
          .returning('endpoint_id'),
      )
      .selectFrom('recorded')
      .select((eb) => eb.fn.countAll<number>().as('recorded')),
);

/** Records an execution's outcome (and, given one, queues its webhook event in the same statement). */
export async function recordExecution(trx: Transaction<Database>, execution: Execution, event?: OutboxEvent): Promise<void> {
  const args: RecordArgs = [
    execution.state,
    execution.expectedVersion + 1,
    JSON.stringify(execution.action),
    execution.fingerprint,
    execution.result === null ? null : JSON.stringify(execution.result),
    execution.error === null ? null : JSON.stringify(execution.error),
    execution.responseStatus,
    execution.responseBody,
    execution.tenantId,
    execution.id,
    execution.expectedVersion,
  ];
  let recorded: bigint | number | undefined;
  if (event && execution.state !== 'processing') {
    recorded = Number((await recordFinalExecutionWithEvent(trx, event.eventId, event.type, event.payload, ...args)).rows[0]?.recorded ?? 0);
  } else {
    const record = execution.state === 'processing' ? recordAcceptedExecution : recordFinalExecution;
    recorded = (await record(trx, ...args)).numAffectedRows;
  }
  if (Number(recorded) !== 1) throw new Error(`context ${execution.id} changed under its lock`);
}

export async function cancelContext(trx: Transaction<Database>, tenantId: string, id: string, expectedVersion: number): Promise<void> {
  const updated = await trx
    .updateTable('contexts')
    .set({ state: 'cancelled', version: expectedVersion + 1, updated_at: sql<Date>`now()` })
    .where('tenant_id', '=', tenantId)
    .where('id', '=', id)
    .where('version', '=', expectedVersion)
    .executeTakeFirst();
  if (updated.numUpdatedRows !== 1n) throw new Error(`context ${id} changed under its lock`);
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
