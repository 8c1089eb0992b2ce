// A context's timeline: its journal events (requests, phases, operator actions) and the webhook
// deliveries of its final state, in time order, with the context's own creation and ending.
import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/schema.ts';
import type { OperatorContextRow } from './contexts.ts';

export interface TimelineEntry {
  at: string;
  kind: 'created' | 'request' | 'phase' | 'operator' | 'finished' | 'webhook';
  outcome: string;
  detail: Record<string, unknown>;
}

export interface DeliveryRow {
  id: number;
  tenant_id: string;
  context_id: string | null;
  endpoint_id: string;
  url: string;
  event_id: string;
  event_type: string;
  attempts: number;
  /** Null once out of attempts (stored as 'infinity', src/webhooks/deliverer.ts). */
  next_attempt_at: Date | null;
  locked_until: Date | null;
  delivered_at: Date | null;
  last_error: string | null;
  created_at: Date;
  row_tag: string;
}

/** Most events a timeline shows: the first ones and the latest would both matter; the latest win. */
export const TIMELINE_LIMIT = 500;

export const DELIVERY_COLUMNS = sql`d.id, d.tenant_id, d.context_id, d.endpoint_id, e.url, d.event_id, d.event_type, d.attempts,
  NULLIF(d.next_attempt_at, 'infinity') AS next_attempt_at, d.locked_until, d.delivered_at, d.last_error, d.created_at, d.xmin::text AS row_tag`;

export async function contextDeliveries(db: Kysely<Database>, tenantId: string, contextId: string): Promise<DeliveryRow[]> {
  const { rows } = await sql<DeliveryRow>`
    SELECT ${DELIVERY_COLUMNS} FROM webhook_deliveries d JOIN webhook_endpoints e ON e.tenant_id = d.tenant_id AND e.id = d.endpoint_id
     WHERE d.tenant_id = ${tenantId} AND d.context_id = ${contextId} ORDER BY d.id`.execute(db);
  return rows;
}

export async function findDelivery(db: Kysely<Database>, id: number): Promise<DeliveryRow | undefined> {
  const { rows } = await sql<DeliveryRow>`
    SELECT ${DELIVERY_COLUMNS} FROM webhook_deliveries d JOIN webhook_endpoints e ON e.tenant_id = d.tenant_id AND e.id = d.endpoint_id
     WHERE d.id = ${id}`.execute(db);
  return rows[0];
}

export async function contextTimeline(db: Kysely<Database>, context: OperatorContextRow, deliveries: DeliveryRow[]): Promise<TimelineEntry[]> {
  const events = await db
    .selectFrom('context_events')
    .select(['at', 'kind', 'outcome', 'detail'])
    .where('tenant_id', '=', context.tenant_id)
    .where('context_id', '=', context.id)
    .orderBy('at', 'desc')
    .orderBy('id', 'desc')
    .limit(TIMELINE_LIMIT)
    .execute();
  const entries: TimelineEntry[] = [
    { at: context.created_at.toISOString(), kind: 'created', outcome: 'created', detail: { idempotencyKey: context.idempotency_key !== null } },
    ...events.reverse().map((event) => ({ at: new Date(event.at).toISOString(), kind: event.kind, outcome: event.outcome, detail: event.detail })),
  ];
  if (context.state !== 'open' && context.state !== 'processing') {
    entries.push({ at: context.updated_at.toISOString(), kind: 'finished', outcome: context.state, detail: { version: context.version } });
  }
  for (const delivery of deliveries) {
    const outcome = delivery.delivered_at ? 'delivered' : delivery.attempts === 0 ? 'queued' : 'failing';
    entries.push({
      at: (delivery.delivered_at ?? delivery.created_at).toISOString(),
      kind: 'webhook',
      outcome,
      detail: { delivery: delivery.id, eventType: delivery.event_type, url: delivery.url, attempts: delivery.attempts, lastError: delivery.last_error },
    });
  }
  // At the same instant (to the millisecond) a request comes before the creation or ending it made.
  const rank = (kind: TimelineEntry['kind']) => (kind === 'created' ? 1 : kind === 'finished' ? 2 : kind === 'webhook' ? 3 : 0);
  return entries
    .map((entry, index) => ({ entry, index }))
    .sort((a, b) => a.entry.at.localeCompare(b.entry.at) || rank(a.entry.kind) - rank(b.entry.kind) || a.index - b.index)
    .map(({ entry }) => entry);
}
