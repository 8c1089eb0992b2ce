// The transactional outbox: an event becomes one webhook_deliveries row per endpoint of the
// tenant, written by the transaction that makes the change the event reports. If that
// transaction rolls back, no webhook is ever sent; if it commits, the deliverer sends every row
// at least once (src/webhooks/deliverer.ts).
import { randomUUID } from 'node:crypto';
import { sql, type Kysely, type Transaction } from 'kysely';
import { compileOnce } from '../db/compiled-query.ts';
import type { Database } from '../db/schema.ts';
import type { OutboxEvent } from '../contexts/state-statements.ts';

/** The events the service emits, each when a context reaches that final state. */
export const WEBHOOK_EVENT_TYPES = ['context.succeeded', 'context.failed', 'context.cancelled'] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

/** Full-stop separated identifiers of [a-zA-Z0-9_], as the Standard Webhooks spec recommends. */
const EVENT_TYPE = /^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*$/;

export interface WebhookEvent {
  type: string;
  data: unknown;
}

/** The body every endpoint receives, byte for byte: `{"type":…,"timestamp":…,"data":…}`. */
export function webhookPayload(event: WebhookEvent, occurredAt: Date): string {
  return JSON.stringify({ type: event.type, timestamp: occurredAt.toISOString(), data: event.data });
}

/**
 * The webhook event of a context's final state, for ContextService to queue with the statement
 * that records the state (src/contexts/repository.ts). `representation` is the context's JSON
 * text; the payload is the same bytes webhookPayload would produce from it.
 */
export function contextWebhookEvent(state: 'succeeded' | 'failed' | 'cancelled', representation: string): OutboxEvent {
  const type = `context.${state}`;
  const timestamp = new Date().toISOString();
  return { eventId: `msg_${randomUUID()}`, type, payload: `{"type":${JSON.stringify(type)},"timestamp":"${timestamp}","data":${representation}}` };
}

/**
 * Queues `event` for every webhook endpoint of the tenant, in one statement (one round trip,
 * also when the tenant has no endpoints). Call it with the transaction of the state change.
 * The event id (`msg_<uuid>`, the `webhook-id` header) is shared by all endpoints and retries.
 */
export async function enqueueWebhookEvent(
  trx: Transaction<Database> | Kysely<Database>,
  tenantId: string,
  event: { type: string; data: unknown },
): Promise<void> {
  if (!EVENT_TYPE.test(event.type)) throw new Error(`not a webhook event type: ${JSON.stringify(event.type)}`);
  await enqueueQuery(trx, `msg_${randomUUID()}`, event.type, webhookPayload(event, new Date()), tenantId);
}

// In the transaction of every final state change: compiled once.
const enqueueQuery = compileOnce(4, (_db, eventId: string, eventType: string, payload: string, tenantId: string) =>
  sql`
    INSERT INTO webhook_deliveries (tenant_id, endpoint_id, event_id, event_type, payload)
    SELECT tenant_id, id, ${eventId}, ${eventType}, ${payload}
      FROM webhook_endpoints
     WHERE tenant_id = ${tenantId}`,
);
