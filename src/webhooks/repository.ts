import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.ts';

/** An endpoint as it may be shown again: without its secret. */
export interface WebhookEndpointRow {
  id: string;
  seq: number;
  url: string;
  created_at: Date;
}

const endpointColumns = ['id', 'seq', 'url', 'created_at'] as const;

export async function insertWebhookEndpoint(
  db: Kysely<Database>,
  tenantId: string,
  url: string,
  secret: string,
): Promise<WebhookEndpointRow> {
  return db
    .insertInto('webhook_endpoints')
    .values({ tenant_id: tenantId, url, secret })
    .returning(endpointColumns)
    .executeTakeFirstOrThrow();
}

export async function findWebhookEndpoint(db: Kysely<Database>, tenantId: string, id: string): Promise<WebhookEndpointRow | undefined> {
  return db.selectFrom('webhook_endpoints').select(endpointColumns).where('tenant_id', '=', tenantId).where('id', '=', id).executeTakeFirst();
}

export async function listWebhookEndpoints(
  db: Kysely<Database>,
  tenantId: string,
  limit: number,
  before: number | undefined,
): Promise<WebhookEndpointRow[]> {
  let query = db.selectFrom('webhook_endpoints').select(endpointColumns).where('tenant_id', '=', tenantId);
  if (before !== undefined) query = query.where('seq', '<', before);
  return query.orderBy('seq', 'desc').limit(limit).execute();
}

/** Deletes the endpoint and (ON DELETE CASCADE) its pending deliveries; false when there was none. */
export async function deleteWebhookEndpoint(db: Kysely<Database>, tenantId: string, id: string): Promise<boolean> {
  const result = await db.deleteFrom('webhook_endpoints').where('tenant_id', '=', tenantId).where('id', '=', id).executeTakeFirst();
  return result.numDeletedRows > 0n;
}
