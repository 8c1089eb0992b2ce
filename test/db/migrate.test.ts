// The engine's migrations keep their own bookkeeping (idempotence_migrations, in the engine's
// schema): a host's `schema_migrations` is never read as the engine's, and the engine's own
// bookkeeping from before the rename is adopted, not applied again.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { loadMigrations, migrate } from '../../src/db/migrate.ts';
import { createTestDatabase } from '../helpers/database.ts';

test('a host\'s schema_migrations holding version 1 does not make the engine skip its own 001', async (t) => {
  const database = await createTestDatabase(2, { empty: true });
  t.teardown(() => database.drop());
  await database.pool.query('CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL)');
  await database.pool.query("INSERT INTO schema_migrations VALUES (1, 'the host''s first')");
  const applied = await migrate(database.pool);
  t.is(applied.length, (await loadMigrations()).length, 'every migration of the engine applied');
  t.deepEqual((await database.pool.query('SELECT version, name FROM schema_migrations')).rows, [{ version: 1, name: "the host's first" }]);
  t.deepEqual(await migrate(database.pool), [], 'and only once');
});

test('in a schema of its own, beside a host\'s tenants table, nothing of the host\'s is touched', async (t) => {
  const database = await createTestDatabase(2, { empty: true });
  t.teardown(() => database.drop());
  await database.pool.query('CREATE TABLE tenants (id serial PRIMARY KEY, email text)');
  const applied = await migrate(database.pool, { schema: 'engine' });
  t.true(applied.length > 0);
  const { rows } = await database.pool.query("SELECT table_schema, table_name FROM information_schema.tables WHERE table_name IN ('tenants', 'contexts', 'idempotence_migrations') ORDER BY 1, 2");
  t.deepEqual(rows, [
    { table_schema: 'engine', table_name: 'contexts' },
    { table_schema: 'engine', table_name: 'idempotence_migrations' },
    { table_schema: 'engine', table_name: 'tenants' },
    { table_schema: 'public', table_name: 'tenants' },
  ]);
  t.is((await database.pool.query("SELECT count(*)::int AS n FROM information_schema.columns WHERE table_schema = 'public' AND table_name = 'tenants'")).rows[0].n, 2);
});

test('the engine\'s own bookkeeping from before the rename (schema_migrations with its file names) is adopted', async (t) => {
  const database = await createTestDatabase(2, { empty: true });
  t.teardown(() => database.drop());
  const migrations = await loadMigrations();
  // As the old migrate() left a database: the tables of the first three, recorded in schema_migrations.
  await database.pool.query('CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())');
  for (const migration of migrations.slice(0, 3)) {
    await database.pool.query(migration.sql);
    await database.pool.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [migration.version, migration.name]);
  }
  t.deepEqual(await migrate(database.pool), migrations.slice(3).map((migration) => migration.name), 'only the ones not applied yet');
});

test('in public beside a host\'s tenants table, the failure says what to do', async (t) => {
  const database = await createTestDatabase(2, { empty: true });
  t.teardown(() => database.drop());
  await database.pool.query('CREATE TABLE tenants (id serial PRIMARY KEY, email text)');
  const error = await t.throwsAsync(migrate(database.pool));
  t.regex(error?.message ?? '', /relation "tenants" already exists — schema public has a table of that name already: give the engine a schema of its own/);
});

test('migration numbers rise, each used once; a gap (another branch\'s number, not merged yet) is allowed', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'idem-migrations-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeFile(path.join(dir, '001_first.sql'), 'SELECT 1;');
  await writeFile(path.join(dir, '003_third.sql'), 'SELECT 3;');
  t.deepEqual((await loadMigrations(dir)).map((migration) => migration.version), [1, 3]);
  await writeFile(path.join(dir, '003_again.sql'), 'SELECT 3;');
  await t.throwsAsync(loadMigrations(dir), { message: /003_third\.sql repeats or goes below number 3/ });
});
