import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database } from '../db/schema.ts';

export interface AccountRow {
  id: string;
  seq: number;
  name: string;
  currency: string;
  balance: number;
  version: number;
  created_at: Date;
  updated_at: Date;
}

export interface EntryRow {
  id: number;
  account_id: string;
  context_id: string;
  amount: number;
  balance_after: number;
  created_at: Date;
}

const accountColumns = ['id', 'seq', 'name', 'currency', 'balance', 'version', 'created_at', 'updated_at'] as const;
const entryColumns = ['id', 'account_id', 'context_id', 'amount', 'balance_after', 'created_at'] as const;

export async function insertAccount(db: Kysely<Database>, tenantId: string, name: string, currency: string): Promise<AccountRow> {
  return db
    .insertInto('accounts')
    .values({ tenant_id: tenantId, name, currency, updated_at: sql<Date>`now()` })
    .returning(accountColumns)
    .executeTakeFirstOrThrow();
}

export async function findAccount(db: Kysely<Database>, tenantId: string, id: string): Promise<AccountRow | undefined> {
  return db.selectFrom('accounts').select(accountColumns).where('tenant_id', '=', tenantId).where('id', '=', id).executeTakeFirst();
}

export async function listAccounts(db: Kysely<Database>, tenantId: string, limit: number, before: number | undefined): Promise<AccountRow[]> {
  let query = db.selectFrom('accounts').select(accountColumns).where('tenant_id', '=', tenantId);
  if (before !== undefined) query = query.where('seq', '<', before);
  return query.orderBy('seq', 'desc').limit(limit).execute();
}

/**
 * Locks the accounts an action touches, always in id order, so two transfers in opposite
 * directions queue behind each other instead of deadlocking.
 */
export async function lockAccounts(trx: Transaction<Database>, tenantId: string, ids: string[]): Promise<Map<string, AccountRow>> {
  const rows = await trx
    .selectFrom('accounts')
    .select(accountColumns)
    .where('tenant_id', '=', tenantId)
    .where('id', 'in', ids)
    .orderBy('id')
    .forUpdate()
    .execute();
  return new Map(rows.map((row) => [row.id, row]));
}

/** One leg of a movement: the balance and its append-only entry change in a single statement. */
export async function postEntry(
  trx: Transaction<Database>,
  tenantId: string,
  accountId: string,
  contextId: string,
  amount: number,
): Promise<EntryRow> {
  const { rows } = await sql<EntryRow>`
    WITH moved AS (
      UPDATE accounts
         SET balance = balance + ${amount}, version = version + 1, updated_at = now()
       WHERE tenant_id = ${tenantId} AND id = ${accountId}
   RETURNING tenant_id, id, balance
    )
    INSERT INTO entries (tenant_id, account_id, context_id, amount, balance_after)
    SELECT tenant_id, id, ${contextId}, ${amount}, balance FROM moved
    RETURNING id, account_id, context_id, amount, balance_after, created_at`.execute(trx);
  const row = rows[0];
  if (!row) throw new Error(`account ${accountId} vanished while locked`);
  return row;
}

export async function listEntries(
  db: Kysely<Database>,
  tenantId: string,
  accountId: string,
  limit: number,
  before: number | undefined,
): Promise<EntryRow[]> {
  let query = db.selectFrom('entries').select(entryColumns).where('tenant_id', '=', tenantId).where('account_id', '=', accountId);
  if (before !== undefined) query = query.where('id', '<', before);
  return query.orderBy('id', 'desc').limit(limit).execute();
}
