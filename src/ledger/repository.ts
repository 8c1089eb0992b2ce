import { sql, type Kysely, type Transaction } from 'kysely';
import { compileOnce } from '../db/compiled-query.ts';
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

const lockAccountsQuery = compileOnce(2, (db, tenantId: string, ids: string[]) =>
  db
    .selectFrom('accounts')
    .select(accountColumns)
    .where('tenant_id', '=', tenantId)
    .where('id', '=', sql<string>`any(${ids}::uuid[])`)
    .orderBy('id')
    .forUpdate(),
);

/**
 * Locks the accounts an action touches, always in id order, so two transfers in opposite
 * directions queue behind each other instead of deadlocking.
 */
export async function lockAccounts(trx: Transaction<Database>, tenantId: string, ids: string[]): Promise<Map<string, AccountRow>> {
  const { rows } = await lockAccountsQuery(trx, tenantId, ids);
  return new Map(rows.map((row) => [row.id, row]));
}

/** One leg of a movement: this much into (or, negative, out of) that account. */
export interface Leg {
  accountId: string;
  amount: number;
}

const postEntriesQuery = compileOnce(4, (_db, tenantId: string, contextId: string, accountIds: string[], amounts: number[]) =>
  sql<EntryRow>`
    WITH legs AS (
      SELECT * FROM unnest(${accountIds}::uuid[], ${amounts}::bigint[]) WITH ORDINALITY AS l(account_id, amount, leg)
    ), moved AS (
      UPDATE accounts a
         SET balance = a.balance + legs.amount, version = a.version + 1, updated_at = now()
        FROM legs
       WHERE a.tenant_id = ${tenantId} AND a.id = legs.account_id
   RETURNING a.tenant_id, a.id, a.balance, legs.amount, legs.leg
    )
    INSERT INTO entries (tenant_id, account_id, context_id, amount, balance_after)
    SELECT tenant_id, id, ${contextId}, amount, balance FROM moved ORDER BY leg
    RETURNING id, account_id, context_id, amount, balance_after, created_at`,
);

/**
 * Posts the legs of one movement on accounts this transaction has locked: every balance and its
 * append-only entry change in a single statement (one round trip while the locks are held).
 * The entries come back in the order of the legs. Each leg must name a different account.
 */
export async function postEntries(trx: Transaction<Database>, tenantId: string, contextId: string, legs: readonly Leg[]): Promise<EntryRow[]> {
  const { rows } = await postEntriesQuery(trx, tenantId, contextId, legs.map((leg) => leg.accountId), legs.map((leg) => leg.amount));
  if (rows.length !== legs.length) throw new Error(`an account of context ${contextId} vanished while locked`);
  // Identity values are handed out in insertion order, which follows the legs.
  return rows.sort((a, b) => a.id - b.id);
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
