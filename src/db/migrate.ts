import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import pg from 'pg';

export const MIGRATIONS_DIR = fileURLToPath(new URL('../../db/migrations/', import.meta.url));
const FILE_NAME = /^(\d{3})_[a-z0-9_]+\.sql$/;
// Any fixed 64-bit number; it keeps two processes that start at once from migrating together.
const MIGRATION_LOCK = 7_201_100_331;

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export async function loadMigrations(dir = MIGRATIONS_DIR): Promise<Migration[]> {
  const names = (await readdir(dir)).filter((name) => name.endsWith('.sql')).sort();
  const migrations: Migration[] = [];
  for (const name of names) {
    const match = FILE_NAME.exec(name);
    if (!match?.[1]) throw new Error(`Migration file ${name} must be named NNN_lower_snake.sql`);
    const version = Number(match[1]);
    // Numbers only rise, each used once. A gap is allowed: branches developed at the same time
    // reserve their numbers, and until both are merged one of them lacks the other's file. What
    // is applied is decided per number (migrate() below), not by "everything above the highest".
    const previous = migrations.at(-1)?.version ?? 0;
    if (version <= previous) throw new Error(`Migration ${name} repeats or goes below number ${previous}`);
    migrations.push({ version, name, sql: await readFile(path.join(dir, name), 'utf8') });
  }
  return migrations;
}

/** The engine's own bookkeeping: not `schema_migrations`, which golang-migrate, dbmate and many hosts use. */
export const MIGRATIONS_TABLE = 'idempotence_migrations';
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

export function checkSchemaName(schema: string): string {
  if (!SCHEMA_NAME.test(schema)) throw new TypeError(`Schema name ${JSON.stringify(schema)} must match ${SCHEMA_NAME}`);
  return schema;
}

/** The search_path of the engine's connections: its schema first, then public (for a host's own tables in an action). */
export function searchPath(schema: string): string {
  checkSchemaName(schema);
  return schema === 'public' ? 'public' : `${schema}, public`;
}

/**
 * Before the engine's bookkeeping had its own name it was `schema_migrations (version, name,
 * applied_at)`. Adopted only when every row names one of the engine's own migration files; a
 * host's table of that name (another tool's, or its own) is never read as the engine's.
 */
async function adoptLegacyBookkeeping(client: pg.Client, schema: string, migrations: Migration[]): Promise<void> {
  const { rows: columns } = await client.query<{ column_name: string }>(
    "SELECT column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'schema_migrations'",
    [schema],
  );
  const names = new Set(columns.map((column) => column.column_name));
  if (!(names.has('version') && names.has('name') && names.has('applied_at'))) return;
  const { rows } = await client.query<{ version: number; name: string }>(`SELECT version::int AS version, name::text AS name FROM "${schema}".schema_migrations`);
  const ours = new Map(migrations.map((migration) => [migration.version, migration.name]));
  if (rows.length === 0 || !rows.every((row) => ours.get(row.version) === row.name)) return;
  await client.query(`INSERT INTO "${schema}".${MIGRATIONS_TABLE} (version, name, applied_at)
    SELECT version, name, applied_at FROM "${schema}".schema_migrations ON CONFLICT DO NOTHING`);
}

/**
 * Applies the migrations not yet applied to `schema` (default public), each in its own
 * transaction, forward only; the bookkeeping is in the same schema. Returns the names applied now.
 */
export async function migrate(pool: pg.Pool, options: { schema?: string; dir?: string } = {}): Promise<string[]> {
  const schema = checkSchemaName(options.schema ?? 'public');
  const migrations = await loadMigrations(options.dir);
  // A connection of its own, like the pool's but without its bounds (src/db/timeouts.ts): building
  // an index on a large table, or waiting for another process's migration lock, may take minutes.
  const client = new pg.Client({ ...pool.options, query_timeout: undefined, statement_timeout: undefined, idle_in_transaction_session_timeout: undefined });
  client.on('error', () => undefined); // a lost connection fails the statement in hand; that is the error reported
  await client.connect();
  const applied: string[] = [];
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
    // Unqualified names in the migrations land in the engine's schema.
    await client.query(`SET search_path TO ${searchPath(schema)}`);
    const fresh = await client.query<{ missing: boolean }>('SELECT to_regclass($1) IS NULL AS missing', [`"${schema}".${MIGRATIONS_TABLE}`]);
    await client.query(`CREATE TABLE IF NOT EXISTS "${schema}".${MIGRATIONS_TABLE} (
      version integer PRIMARY KEY,
      name text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now())`);
    if (fresh.rows[0]?.missing) await adoptLegacyBookkeeping(client, schema, migrations);
    const { rows } = await client.query<{ version: number; name: string }>(`SELECT version, name FROM "${schema}".${MIGRATIONS_TABLE}`);
    const done = new Map(rows.map((row) => [row.version, row.name]));
    for (const migration of migrations) {
      const recorded = done.get(migration.version);
      if (recorded !== undefined && recorded !== migration.name) {
        throw new Error(`Migration ${migration.version} is recorded as ${recorded} in ${schema}.${MIGRATIONS_TABLE}, but the file is ${migration.name}`);
      }
      if (recorded !== undefined) continue;
      await client.query('BEGIN');
      try {
        await client.query(migration.sql);
        await client.query(`INSERT INTO "${schema}".${MIGRATIONS_TABLE} (version, name) VALUES ($1, $2)`, [migration.version, migration.name]);
        await client.query('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK');
        // 42P07 duplicate_table: the host has a table of that name where the engine's would go.
        const hint = (error as { code?: unknown }).code === '42P07' ? ` — schema ${schema} has a table of that name already: give the engine a schema of its own (createContextEngine({ schema: 'idempotence' }))` : '';
        throw new Error(`Migration ${migration.name} failed: ${(error as Error).message}${hint}`, { cause: error });
      }
      applied.push(migration.name);
    }
  } finally {
    await client.end().catch(() => undefined); // ends the session: the advisory lock goes with it
  }
  return applied;
}

/** For /readyz: true when every migration file has been applied to `schema`. */
export async function migrationsApplied(pool: pg.Pool, options: { schema?: string; dir?: string } = {}): Promise<boolean> {
  const schema = checkSchemaName(options.schema ?? 'public');
  const expected = (await loadMigrations(options.dir)).length;
  const table = `"${schema}".${MIGRATIONS_TABLE}`;
  const present = await pool.query<{ present: boolean }>('SELECT to_regclass($1) IS NOT NULL AS present', [table]);
  if (!present.rows[0]?.present) return false;
  const { rows } = await pool.query<{ count: number }>(`SELECT count(*)::int AS count FROM ${table}`);
  return (rows[0]?.count ?? 0) >= expected;
}
