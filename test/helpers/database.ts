// Each test file gets its own database, cloned from a template that was migrated once per set
// of migration files (graphile-worker's approach): cloning takes milliseconds, migrating does not.
import { readFile } from 'node:fs/promises';
import { createHash, randomBytes } from 'node:crypto';
import pg from 'pg';
import type { Kysely } from 'kysely';
import { createDatabase, createPool } from '../../src/db/database.ts';
import { loadMigrations, migrate } from '../../src/db/migrate.ts';
import type { Database } from '../../src/db/schema.ts';

const TEMPLATE_LOCK = 7_201_100_332;

export interface TestDatabase {
  url: string;
  pool: pg.Pool;
  db: Kysely<Database>;
  drop(): Promise<void>;
}

export function serverUrl(): string {
  const url = process.env['DATABASE_URL'];
  if (!url) throw new Error('DATABASE_URL is not set: run the tests with `npm test`, which starts an embedded Postgres when needed.');
  return url;
}

export function databaseUrl(name: string): string {
  const url = new URL(serverUrl());
  url.pathname = `/${name}`;
  return url.toString();
}

async function withAdminClient<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: serverUrl() });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

async function templateName(): Promise<string> {
  const hash = createHash('sha256');
  for (const migration of await loadMigrations()) hash.update(migration.name).update(migration.sql);
  // How the migrations are applied (the bookkeeping table, the schema) is part of what a template holds.
  hash.update(await readFile(new URL('../../src/db/migrate.ts', import.meta.url)));
  return `idem_template_${hash.digest('hex').slice(0, 12)}`;
}

/** Creates (once, under an advisory lock) the migrated template database and returns its name. */
export async function ensureTemplate(): Promise<string> {
  const name = await templateName();
  await withAdminClient(async (client) => {
    await client.query('SELECT pg_advisory_lock($1)', [TEMPLATE_LOCK]);
    try {
      const exists = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
      if (exists.rowCount) return;
      await client.query(`CREATE DATABASE "${name}_building"`);
      const pool = new pg.Pool({ connectionString: databaseUrl(`${name}_building`), max: 1 });
      try {
        await migrate(pool);
      } finally {
        await pool.end();
      }
      await client.query(`ALTER DATABASE "${name}_building" RENAME TO "${name}"`);
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [TEMPLATE_LOCK]);
    }
  });
  return name;
}

/** A database of its own for one test file: a clone of the migrated template, or (`empty`) nothing in it at all. */
export async function createTestDatabase(poolSize = 20, options: { empty?: boolean } = {}): Promise<TestDatabase> {
  const template = options.empty ? 'template0' : await ensureTemplate();
  const name = `idem_test_${randomBytes(6).toString('hex')}`;
  await withAdminClient(async (client) => {
    for (let attempt = 1; ; attempt++) {
      try {
        await client.query(`CREATE DATABASE "${name}" TEMPLATE "${template}"`);
        return;
      } catch (error) {
        // 55006: another clone from the same template is in progress; take turns.
        if ((error as { code?: string }).code !== '55006' || attempt > 50) throw error;
        await new Promise((resolve) => setTimeout(resolve, 50 + Math.random() * 100));
      }
    }
  });
  const url = databaseUrl(name);
  const pool = createPool(url, poolSize);
  const db = createDatabase(pool);
  return {
    url,
    pool,
    db,
    async drop() {
      await db.destroy(); // ends the pool only if kysely ever used it
      if (!pool.ended) await pool.end();
      await withAdminClient((client) => client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
    },
  };
}
