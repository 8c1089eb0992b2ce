import type { Kysely } from 'kysely';
import { compileOnce } from '../db/compiled-query.ts';
import type { Database } from '../db/schema.ts';

export interface Tenant {
  id: string;
  name: string;
  createdAt: Date;
}

export async function insertTenant(db: Kysely<Database>, name: string, apiKeyHash: Buffer): Promise<Tenant> {
  const row = await db
    .insertInto('tenants')
    .values({ name, api_key_hash: apiKeyHash })
    .returning(['id', 'name', 'created_at'])
    .executeTakeFirstOrThrow();
  return { id: row.id, name: row.name, createdAt: row.created_at };
}

// Run by every authenticated request whose key is not cached: compiled once.
const findTenantByKeyHashQuery = compileOnce(1, (db, apiKeyHash: Buffer) =>
  db.selectFrom('tenants').select(['id', 'name', 'created_at']).where('api_key_hash', '=', apiKeyHash),
);

export async function findTenantByKeyHash(db: Kysely<Database>, apiKeyHash: Buffer): Promise<Tenant | undefined> {
  const row = (await findTenantByKeyHashQuery(db, apiKeyHash)).rows[0];
  return row && { id: row.id, name: row.name, createdAt: row.created_at };
}

export async function findTenantByName(db: Kysely<Database>, name: string): Promise<Tenant | undefined> {
  const row = await db
    .selectFrom('tenants')
    .select(['id', 'name', 'created_at'])
    .where('name', '=', name)
    .orderBy('created_at')
    .executeTakeFirst();
  return row && { id: row.id, name: row.name, createdAt: row.created_at };
}

export async function replaceApiKeyHash(db: Kysely<Database>, tenantId: string, apiKeyHash: Buffer): Promise<void> {
  await db.updateTable('tenants').set({ api_key_hash: apiKeyHash }).where('id', '=', tenantId).execute();
}
