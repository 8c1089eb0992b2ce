// The benchmark's database: a fresh one on DATABASE_URL's server, or on an embedded Postgres
// started for the run (as `npm test` does), migrated and seeded with one tenant and its accounts.
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { sql } from 'kysely';
import { createDatabase, createPool } from '../src/db/database.ts';
import { startEmbeddedPostgres } from '../src/db/embedded.ts';
import { migrate } from '../src/db/migrate.ts';
import { generateApiKey, hashApiKey } from '../src/tenants/api-keys.ts';
import { insertTenant } from '../src/tenants/repository.ts';
import { freePort } from '../scripts/free-port.ts';

/** Dropped and created anew at the start of a run, dropped at its end. */
const BENCH_DATABASE = process.env['BENCH_DATABASE'] ?? 'idem_bench';
/** Accounts the "spread" workloads pick from; the "hot" ones all touch the first two. */
export const ACCOUNT_COUNT = 1_000;
const OPENING_BALANCE = 1_000_000_000_000;

export interface BenchDatabase {
  url: string;
  /** Where the server runs: `embedded PostgreSQL 18.x` or the DATABASE_URL server's version. */
  serverDescription: string;
  tenantId: string;
  apiKey: string;
  apiKeyHash: Buffer;
  /** The accounts by number (1-based, as pgbench scripts pick them): accountId(n). */
  accounts: string[];
  stop(): Promise<void>;
}

/** Account n's id: deterministic, so pgbench scripts can name account n in SQL without a lookup. */
export function accountId(n: number): string {
  return `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
}

async function serverFor(): Promise<{ adminUrl: string; stop: () => Promise<void> }> {
  const configured = process.env['DATABASE_URL'];
  if (configured) return { adminUrl: configured, stop: async () => undefined };
  const dataRoot = await mkdtemp(path.join(os.tmpdir(), 'idem-bench-pg-'));
  await chmod(dataRoot, 0o755); // as root, Postgres runs as another user that must reach it
  const embedded = await startEmbeddedPostgres({ dataDir: path.join(dataRoot, 'data'), port: await freePort(), persistent: false });
  return {
    adminUrl: embedded.url,
    stop: async () => {
      await embedded.stop();
      await rm(dataRoot, { recursive: true, force: true });
    },
  };
}

/**
 * Fresh statistics, as autovacuum keeps them on a database in steady state. The benchmarks
 * grow tables by thousands of rows a second, faster than autoanalyze (1 min) follows.
 */
export async function analyzeBenchDatabase(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query('ANALYZE');
  } finally {
    await client.end();
  }
}

export async function prepareBenchDatabase(): Promise<BenchDatabase> {
  if (!/^[a-z_][a-z0-9_]*$/.test(BENCH_DATABASE)) throw new Error('BENCH_DATABASE must be a plain lower-case identifier');
  const server = await serverFor();
  const withAdmin = async <T>(work: (client: pg.Client) => Promise<T>): Promise<T> => {
    const admin = new pg.Client({ connectionString: server.adminUrl });
    await admin.connect();
    try {
      return await work(admin);
    } finally {
      await admin.end();
    }
  };
  const version = await withAdmin(async (admin) => {
    await admin.query(`DROP DATABASE IF EXISTS ${BENCH_DATABASE} WITH (FORCE)`);
    await admin.query(`CREATE DATABASE ${BENCH_DATABASE}`);
    return (await admin.query<{ server_version: string }>('SHOW server_version')).rows[0]?.server_version ?? '?';
  });
  const url = new URL(server.adminUrl);
  url.pathname = `/${BENCH_DATABASE}`;

  const pool = createPool(url.toString(), 2);
  await migrate(pool);
  const db = createDatabase(pool);
  const apiKey = generateApiKey();
  const tenant = await insertTenant(db, 'bench', hashApiKey(apiKey));
  const accounts = Array.from({ length: ACCOUNT_COUNT }, (_, index) => accountId(index + 1));
  await sql`
    INSERT INTO accounts (tenant_id, id, name, currency, balance)
    SELECT ${tenant.id}, id, 'bench ' || n, 'EUR', ${OPENING_BALANCE}
      FROM unnest(${accounts}::uuid[]) WITH ORDINALITY AS a(id, n)`.execute(db);
  await sql`ANALYZE`.execute(db);
  await db.destroy();
  return {
    url: url.toString(),
    serverDescription: `PostgreSQL ${version}${process.env['DATABASE_URL'] ? ' (DATABASE_URL)' : ' (embedded)'}`,
    tenantId: tenant.id,
    apiKey,
    apiKeyHash: hashApiKey(apiKey),
    accounts,
    async stop() {
      await withAdmin((admin) => admin.query(`DROP DATABASE IF EXISTS ${BENCH_DATABASE} WITH (FORCE)`));
      await server.stop();
    },
  };
}
