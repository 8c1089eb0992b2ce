// The statements that change a context's state. Only the state writer (state-writer.ts) calls
// them. Each is conditional on the version the decision was made on (under the row lock), and a
// final state is written together with its webhook event in the same statement: one round trip
// less while the action's row locks are held.
import { sql, type Kysely, type Transaction, type UpdateQueryBuilder, type UpdateResult } from 'kysely';
import { compileOnce } from '../db/compiled-query.ts';
import type { Database } from '../db/schema.ts';

/** An event for the transactional outbox (src/webhooks/outbox.ts), queued by the same statement. */
export interface OutboxEvent {
  eventId: string;
  type: string;
  payload: string;
}

type Update = UpdateQueryBuilder<Database, 'contexts', 'contexts', UpdateResult>;

/** The version guard: the decision was made under the row lock; the version says nothing changed since. */
function guarded(update: Update, tenantId: string, id: string, expectedVersion: number) {
  // (No state predicate: with stale statistics it made the planner scan every open context of
  // the tenant through contexts_state_page instead of using the key.)
  return update.where('tenant_id', '=', tenantId).where('id', '=', id).where('version', '=', expectedVersion);
}

/**
 * `update`, and one webhook delivery per endpoint of the tenant if it changed the row (none
 * when the tenant has no endpoints); selects how many rows were changed.
 */
function withEvent(db: Kysely<Database>, update: ReturnType<typeof guarded>, eventId: string, eventType: string, payload: string) {
  return db
    .with('recorded', () => update.returning(['tenant_id', 'id']))
    .with('queued', (qb) =>
      qb
        .insertInto('webhook_deliveries')
        .columns(['tenant_id', 'endpoint_id', 'event_id', 'event_type', 'payload', 'context_id'])
        .expression((eb) =>
          eb
            .selectFrom('webhook_endpoints as e')
            .innerJoin('recorded as r', 'r.tenant_id', 'e.tenant_id')
            .select(['e.tenant_id', 'e.id', eb.val(eventId).as('event_id'), eb.val(eventType).as('event_type'), eb.val(payload).as('payload'), 'r.id as context_id']),
        )
        .returning('endpoint_id'),
    )
    .selectFrom('recorded')
    .select((eb) => eb.fn.countAll<number>().as('recorded'));
}

type RecordArgs = [
  state: 'succeeded' | 'failed',
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

/** open → succeeded | failed, executed synchronously by the request. */
const recordExecuted = compileOnce(
  14,
  (db, eventId: string, eventType: string, payload: string, ...[state, version, action, fingerprint, result, error, status, body, tenantId, id, expected]: RecordArgs) =>
    withEvent(
      db,
      guarded(
        db.updateTable('contexts').set({
          state, version, action, fingerprint, result, error, response_status: status, response_body: body, updated_at: sql<Date>`now()`,
        }),
        tenantId, id, expected,
      ),
      eventId, eventType, payload,
    ),
);

/**
 * open → processing: the action is accepted and the context becomes a job, due at once. The
 * accepting request's traceparent goes with it (src/telemetry/trace-parent.ts), in the same statement.
 */
const recordAccepted = compileOnce(
  10,
  (db, version: number, action: string, fingerprint: string, outputs: string, status: number, body: string, traceParent: string | null, tenantId: string, id: string, expected: number) =>
    guarded(
      db.updateTable('contexts').set({
        state: 'processing', version, action, fingerprint, response_status: status, response_body: body,
        updated_at: sql<Date>`now()`, recovery_point: 'accepted', phase_outputs: outputs, run_after: sql<Date>`now()`, trace_parent: traceParent,
      }),
      tenantId, id, expected,
    ),
);

/** processing → succeeded | failed: the job is over; its lease and schedule are cleared. */
const recordFinished = compileOnce(
  11,
  (db, eventId: string, eventType: string, payload: string, state: 'succeeded' | 'failed', version: number, result: string | null, error: string | null, body: string, tenantId: string, id: string, expected: number) =>
    withEvent(
      db,
      guarded(
        db.updateTable('contexts').set({
          state, version, result, error, response_status: 200, response_body: body, updated_at: sql<Date>`now()`,
          recovery_point: 'finished', run_after: null, locked_by: null, locked_until: null, last_error: null,
        }),
        tenantId, id, expected,
      ),
      eventId, eventType, payload,
    ),
);

/** open → cancelled. */
const recordCancelled = compileOnce(
  7,
  (db, eventId: string, eventType: string, payload: string, version: number, tenantId: string, id: string, expected: number) =>
    withEvent(db, guarded(db.updateTable('contexts').set({ state: 'cancelled', version, updated_at: sql<Date>`now()` }), tenantId, id, expected), eventId, eventType, payload),
);

type Trx = Transaction<Database>;
const count = (result: { rows: { recorded: number | bigint | string }[] }): number => Number(result.rows[0]?.recorded ?? 0);

export const stateStatements = {
  async executed(trx: Trx, event: OutboxEvent, ...args: RecordArgs): Promise<number> {
    return count(await recordExecuted(trx, event.eventId, event.type, event.payload, ...args));
  },
  async accepted(
    trx: Trx,
    row: { version: number; action: string; fingerprint: string; outputs: string; status: number; body: string; traceParent: string | null; tenantId: string; id: string; expected: number },
  ): Promise<number> {
    const result = await recordAccepted(trx, row.version, row.action, row.fingerprint, row.outputs, row.status, row.body, row.traceParent, row.tenantId, row.id, row.expected);
    return Number(result.numAffectedRows ?? 0);
  },
  async finished(
    trx: Trx,
    event: OutboxEvent,
    row: { state: 'succeeded' | 'failed'; version: number; result: string | null; error: string | null; body: string; tenantId: string; id: string; expected: number },
  ): Promise<number> {
    return count(await recordFinished(trx, event.eventId, event.type, event.payload, row.state, row.version, row.result, row.error, row.body, row.tenantId, row.id, row.expected));
  },
  async cancelled(trx: Trx, event: OutboxEvent, row: { version: number; tenantId: string; id: string; expected: number }): Promise<number> {
    return count(await recordCancelled(trx, event.eventId, event.type, event.payload, row.version, row.tenantId, row.id, row.expected));
  },
};
