// What needs a person: parked jobs (out of attempts), jobs processing for longer than a
// threshold, webhook endpoints whose deliveries keep failing, and the findings of the last audit.
import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/schema.ts';
import { SELECTED_CONTEXT, type OperatorContextRow } from './contexts.ts';
import { DELIVERY_COLUMNS, type DeliveryRow } from './timeline.ts';

export interface FailingEndpointRow {
  tenant_id: string;
  endpoint_id: string;
  url: string;
  failing: number;
  oldest: Date;
  last_error: string | null;
}

export interface Attention {
  parked: OperatorContextRow[];
  stuck: OperatorContextRow[];
  failingEndpoints: FailingEndpointRow[];
  failingDeliveries: DeliveryRow[];
  lastAudit: { at: Date; findings: unknown[] } | null;
}

/** Processing for longer than this (and not parked) counts as stuck, unless the caller says otherwise. */
export const DEFAULT_STUCK_AFTER_SECONDS = 300;

export async function needsAttention(db: Kysely<Database>, options: { stuckAfterSeconds: number; limit: number }): Promise<Attention> {
  const { limit } = options;
  // Both read the processing contexts only, through contexts_runnable (partial on processing).
  const parked = sql<OperatorContextRow>`
    SELECT ${SELECTED_CONTEXT} FROM contexts c JOIN tenants t ON t.id = c.tenant_id
     WHERE c.state = 'processing' AND c.run_after IS NULL ORDER BY c.updated_at LIMIT ${limit}`.execute(db);
  const stuck = sql<OperatorContextRow>`
    SELECT ${SELECTED_CONTEXT} FROM contexts c JOIN tenants t ON t.id = c.tenant_id
     WHERE c.state = 'processing' AND c.run_after IS NOT NULL
       AND c.updated_at < now() - make_interval(secs => ${options.stuckAfterSeconds})
     ORDER BY c.updated_at LIMIT ${limit}`.execute(db);
  const endpoints = sql<FailingEndpointRow>`
    SELECT d.tenant_id, d.endpoint_id, e.url, count(*)::int AS failing, min(d.created_at) AS oldest,
           (array_agg(d.last_error ORDER BY d.id DESC))[1] AS last_error
      FROM webhook_deliveries d JOIN webhook_endpoints e ON e.tenant_id = d.tenant_id AND e.id = d.endpoint_id
     WHERE d.delivered_at IS NULL AND d.attempts > 0
     GROUP BY d.tenant_id, d.endpoint_id, e.url ORDER BY failing DESC LIMIT ${limit}`.execute(db);
  const deliveries = sql<DeliveryRow>`
    SELECT ${DELIVERY_COLUMNS} FROM webhook_deliveries d JOIN webhook_endpoints e ON e.tenant_id = d.tenant_id AND e.id = d.endpoint_id
     WHERE d.delivered_at IS NULL AND d.attempts > 0 ORDER BY d.attempts DESC, d.id LIMIT ${limit}`.execute(db);
  const audit = db
    .selectFrom('operator_actions')
    .select(['at', 'detail'])
    .where('action', '=', 'audit')
    .where('outcome', '=', 'done')
    .orderBy('id', 'desc')
    .limit(1)
    .executeTakeFirst();
  const [p, s, e, d, a] = await Promise.all([parked, stuck, endpoints, deliveries, audit]);
  const findings = a?.detail['findings'];
  return {
    parked: p.rows,
    stuck: s.rows,
    failingEndpoints: e.rows,
    failingDeliveries: d.rows,
    lastAudit: a ? { at: a.at, findings: Array.isArray(findings) ? findings : [] } : null,
  };
}
