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

// postLegs takes the accounts' locks (in id order: two transfers in opposite directions queue
// instead of deadlocking) before this statement; `locked` reads those rows, already this
// transaction's, with the statement's fresh snapshot. `admitted`: every leg names an
// account of the tenant, they hold one currency (the action's, when it names one), and no
// balance leaves [0, max] — decided on the locked rows, so still true when `moved` applies it.
const postLegsQuery = compileOnce(6, (_db, tenantId: string, contextId: string, accountIds: string[], amounts: number[], currency: string | null, maxBalance: number) =>
  sql<AccountRow & { entry_id: number | null; entry_amount: number | null; balance_after: number | null; entry_created_at: Date | null }>`
    WITH legs AS (
      SELECT * FROM unnest(${accountIds}::uuid[], ${amounts}::bigint[]) WITH ORDINALITY AS l(account_id, amount, leg)
    ), locked AS (
      SELECT a.id, a.seq, a.name, a.currency, a.balance, a.version, a.created_at, a.updated_at
        FROM accounts a
       WHERE a.tenant_id = ${tenantId} AND a.id = ANY(${accountIds}::uuid[])
       ORDER BY a.id
         FOR UPDATE
    ), admitted AS (
      SELECT count(*) = cardinality(${accountIds}::uuid[])
             AND count(DISTINCT l.currency) = 1
             AND bool_and(l.currency = coalesce(${currency}::char(3), l.currency))
             AND bool_and(l.balance + legs.amount BETWEEN 0 AND ${maxBalance}::bigint) AS ok
        FROM legs JOIN locked l ON l.id = legs.account_id
    ), moved AS (
      UPDATE accounts a
         SET balance = a.balance + legs.amount, version = a.version + 1, updated_at = now()
        FROM legs, admitted
       WHERE admitted.ok AND a.tenant_id = ${tenantId} AND a.id = legs.account_id
   RETURNING a.id, a.balance, legs.amount, legs.leg
    ), posted AS (
      INSERT INTO entries (tenant_id, account_id, context_id, amount, balance_after)
      SELECT ${tenantId}, id, ${contextId}, amount, balance FROM moved ORDER BY leg
      RETURNING id, account_id, amount, balance_after, created_at
    )
    SELECT l.*, p.id AS entry_id, p.amount AS entry_amount, p.balance_after, p.created_at AS entry_created_at
      FROM locked l LEFT JOIN posted p ON p.account_id = l.id`,
);

/** What postLegs found and did: the locked accounts as they were, and the entries if it posted. */
export interface PostedLegs {
  /** By lower-case id, with the balances before the legs. */
  accounts: Map<string, AccountRow>;
  /** The entries in the order of the legs; undefined when a condition failed and nothing moved. */
  entries: EntryRow[] | undefined;
}

/**
 * Locks the accounts of the legs and, if every leg is admissible (its account exists in the
 * tenant, all hold `currency` or one currency, no balance leaves [0, maxBalance]), moves every
 * balance and appends its entry — one statement, so one round trip while the locks are held.
 * When it posts nothing, the caller explains why from the locked rows (still locked: the
 * explanation is the truth until commit). Each leg must name a different account.
 */
export async function postLegs(
  trx: Transaction<Database>,
  scope: { tenantId: string; contextId: string },
  legs: readonly Leg[],
  conditions: { currency?: string | undefined; maxBalance: number },
): Promise<PostedLegs> {
  // The lock first, in a statement of its own: the posting statement then starts with a snapshot
  // taken after the lock was granted, so its checks and its update read the same, latest balances.
  // (In one statement the update could act on a newer version than the one its check had read:
  // a chaos run hit the balance constraint that way, a 500 with nothing changed.)
  await lockAccountsQuery(trx, scope.tenantId, legs.map((leg) => leg.accountId));
  const { rows } = await postLegsQuery(
    trx, scope.tenantId, scope.contextId, legs.map((leg) => leg.accountId), legs.map((leg) => leg.amount), conditions.currency ?? null, conditions.maxBalance,
  );
  const accounts = new Map<string, AccountRow>();
  const entries: EntryRow[] = [];
  for (const { entry_id, entry_amount, balance_after, entry_created_at, ...account } of rows) {
    accounts.set(account.id, account);
    if (entry_id !== null && entry_amount !== null && balance_after !== null && entry_created_at !== null) {
      entries.push({ id: entry_id, account_id: account.id, context_id: scope.contextId, amount: entry_amount, balance_after, created_at: entry_created_at });
    }
  }
  if (entries.length === 0) return { accounts, entries: undefined };
  if (entries.length !== legs.length) throw new Error(`context ${scope.contextId} posted ${entries.length} of ${legs.length} legs`);
  // Identity values are handed out in insertion order, which follows the legs.
  return { accounts, entries: entries.sort((a, b) => a.id - b.id) };
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
