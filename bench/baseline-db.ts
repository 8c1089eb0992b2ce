// What the baselines (bare-server.ts, peer-server.ts) share: a pool like the service's, named
// statements as the service sends them (src/db/prepared-statements.ts), transactions, and the
// 5-second API-key cache the service has (AUTH_CACHE_TTL_SECONDS).
import { createHash } from 'node:crypto';
import pg from 'pg';
import { SQL, type Statement } from './sql.ts';

export type Row = Record<string, unknown>;

export const pool = new pg.Pool({ connectionString: process.env['DATABASE_URL'], max: Number(process.env['DATABASE_POOL_SIZE'] ?? 10) });
pool.on('error', () => undefined);

const names = new Map<string, string>();

export async function run(db: pg.Pool | pg.PoolClient, statement: Statement, values: unknown[]): Promise<Row[]> {
  if (values.length === 0) return (await db.query(statement.text)).rows as Row[];
  let name = names.get(statement.text);
  if (name === undefined) names.set(statement.text, (name = `s${names.size}`));
  return (await db.query({ name, text: statement.text, values })).rows as Row[];
}

export async function transaction<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await run(client, SQL.begin, []);
    const result = await work(client);
    await run(client, SQL.commit, []);
    return result;
  } catch (error) {
    await client.query('rollback').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

const knownKeys = new Map<string, { tenant: string; until: number }>();

/** The tenant of `Authorization: Bearer <key>`, or undefined. */
export async function tenantOfAuthorization(authorization: string | undefined): Promise<string | undefined> {
  const key = /^Bearer (.+)$/.exec(authorization ?? '')?.[1] ?? '';
  const hash = createHash('sha256').update(key).digest();
  const known = knownKeys.get(hash.toString('base64'));
  if (known && known.until > Date.now()) return known.tenant;
  const [row] = await run(pool, SQL.authenticate, [hash]);
  const tenant = row?.['id'] as string | undefined;
  if (tenant) knownKeys.set(hash.toString('base64'), { tenant, until: Date.now() + 5_000 });
  return tenant;
}

/** Locks the accounts of the legs, checks them and posts them (the ledger's one statement). */
export async function postLegs(client: pg.PoolClient, tenant: string, context: unknown, legs: [unknown, number][]): Promise<Row[]> {
  const accounts = legs.map(([account]) => account);
  await run(client, SQL.lockAccounts, [tenant, accounts]);
  return run(client, SQL.postLegs, [accounts, legs.map(([, amount]) => amount), tenant, accounts, accounts, null, Number.MAX_SAFE_INTEGER, tenant, tenant, context]);
}
