// The console's view of contexts, across tenants: found by id, by Idempotency-Key or by tenant,
// each with the entity tag of its row. The tag is the row's xmin, which every write of the row
// changes — a worker's claim, a recovery point, a lease, a state change — so an operator action
// conditional on it acts only on the row the operator saw (src/operations/actions.ts).
import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/schema.ts';
import { effectiveState } from '../protocol/context-state.ts';

/** A context as the operator sees it. */
export interface OperatorContextRow {
  tenant_id: string;
  tenant_name: string;
  id: string;
  seq: number;
  state: 'open' | 'processing' | 'succeeded' | 'failed' | 'cancelled';
  version: number;
  action: unknown;
  result: unknown;
  error: unknown;
  response_status: number | null;
  attempts: number;
  last_error: string | null;
  recovery_point: string | null;
  run_after: Date | null;
  locked_by: string | null;
  locked_until: Date | null;
  phase_outputs: Record<string, unknown>;
  idempotency_key: string | null;
  created_at: Date;
  updated_at: Date;
  expires_at: Date;
  row_tag: string;
  now: Date;
}

export const SELECTED_CONTEXT = sql`c.tenant_id, t.name AS tenant_name, c.id, c.seq, c.state, c.version, c.action, c.result, c.error,
  c.response_status, c.attempts, c.last_error, c.recovery_point, c.run_after, c.locked_by, c.locked_until, c.phase_outputs,
  c.idempotency_key, c.created_at, c.updated_at, c.expires_at, c.xmin::text AS row_tag, now() AS now`;

export interface ContextSearch {
  id?: string;
  idempotencyKey?: string;
  tenantId?: string;
  state?: string;
  limit: number;
  /** Only contexts older (by their sequence) than this: the next page of a tenant's list. */
  before?: number;
}

/**
 * By id or key across tenants: one primary-key (or key-index) probe per tenant, since contexts
 * are keyed (tenant, id) and no index on id alone is worth its cost on every insert.
 */
export async function searchContexts(db: Kysely<Database>, search: ContextSearch): Promise<OperatorContextRow[]> {
  const tenant = search.tenantId === undefined ? sql`` : sql`AND t.id = ${search.tenantId}`;
  if (search.id !== undefined) {
    const { rows } = await sql<OperatorContextRow>`
      SELECT ${SELECTED_CONTEXT} FROM tenants t JOIN contexts c ON c.tenant_id = t.id AND c.id = ${search.id}
       WHERE true ${tenant} ORDER BY c.created_at DESC LIMIT ${search.limit}`.execute(db);
    return rows;
  }
  if (search.idempotencyKey !== undefined) {
    const { rows } = await sql<OperatorContextRow>`
      SELECT ${SELECTED_CONTEXT} FROM tenants t JOIN contexts c ON c.tenant_id = t.id AND c.idempotency_key = ${search.idempotencyKey}
       WHERE true ${tenant} ORDER BY c.created_at DESC LIMIT ${search.limit}`.execute(db);
    return rows;
  }
  const state = search.state === undefined ? sql`` : stateCondition(search.state);
  const before = search.before === undefined ? sql`` : sql`AND c.seq < ${search.before}`;
  const { rows } = await sql<OperatorContextRow>`
    SELECT ${SELECTED_CONTEXT} FROM contexts c JOIN tenants t ON t.id = c.tenant_id
     WHERE c.tenant_id = ${search.tenantId ?? null} ${state} ${before}
     ORDER BY c.seq DESC LIMIT ${search.limit}`.execute(db);
  return rows;
}

/** The states an operator filters by: the stored ones, and `parked` and `expired`, which are derived. */
export const OPERATOR_STATES = ['open', 'expired', 'processing', 'parked', 'succeeded', 'failed', 'cancelled'] as const;

function stateCondition(state: string) {
  if (state === 'parked') return sql`AND c.state = 'processing' AND c.run_after IS NULL`;
  if (state === 'expired') return sql`AND c.state = 'open' AND c.expires_at <= now()`;
  if (state === 'open') return sql`AND c.state = 'open' AND c.expires_at > now()`;
  return sql`AND c.state = ${state}`;
}

export async function findOperatorContext(db: Kysely<Database>, tenantId: string, id: string): Promise<OperatorContextRow | undefined> {
  const { rows } = await sql<OperatorContextRow>`
    SELECT ${SELECTED_CONTEXT} FROM contexts c JOIN tenants t ON t.id = c.tenant_id
     WHERE c.tenant_id = ${tenantId} AND c.id = ${id}`.execute(db);
  return rows[0];
}

/** What the console shows for the state: a parked job is processing, but needs a person. */
export function operatorState(row: Pick<OperatorContextRow, 'state' | 'run_after' | 'expires_at' | 'now'>): string {
  if (row.state === 'processing' && row.run_after === null) return 'parked';
  return effectiveState(row.state, row.expires_at, row.now);
}

/** A processing job no worker holds now: reconciliation may claim it. */
export function isUnheld(row: Pick<OperatorContextRow, 'state' | 'locked_until' | 'now'>): boolean {
  return row.state === 'processing' && (row.locked_until === null || row.locked_until.getTime() < row.now.getTime());
}
