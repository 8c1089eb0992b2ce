// db/schema.sql must describe exactly what db/migrations builds. Compared through the catalogs,
// not as text, so the check holds whatever pg_dump or server version produced the snapshot.
import { readFile } from 'node:fs/promises';
import test from 'ava';
import pg from 'pg';
import { createTestDatabase, databaseUrl, serverUrl } from '../helpers/database.ts';

const DESCRIBE = [
  `SELECT table_name, column_name, data_type, is_nullable, column_default, is_identity, identity_generation
     FROM information_schema.columns WHERE table_schema = 'public' ORDER BY 1, 2`,
  `SELECT conrelid::regclass::text AS rel, conname, pg_get_constraintdef(oid) AS def
     FROM pg_constraint WHERE connamespace = 'public'::regnamespace ORDER BY 1, 2`,
  `SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1, 2`,
  `SELECT proname, pg_get_functiondef(oid) AS def FROM pg_proc WHERE pronamespace = 'public'::regnamespace ORDER BY 1`,
  `SELECT tgrelid::regclass::text AS rel, tgname, pg_get_triggerdef(oid) AS def FROM pg_trigger WHERE NOT tgisinternal ORDER BY 1, 2`,
];

async function describe(url: string): Promise<unknown[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const out: unknown[] = [];
    for (const query of DESCRIBE) out.push((await client.query(query)).rows);
    return out;
  } finally {
    await client.end();
  }
}

test('db/schema.sql matches the migrations', async (t) => {
  const migrated = await createTestDatabase(1);
  const name = `idem_snapshot_${process.pid}`;
  const admin = new pg.Client({ connectionString: serverUrl() });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE "${name}"`);
    const snapshot = new pg.Client({ connectionString: databaseUrl(name) });
    await snapshot.connect();
    await snapshot.query(await readFile('db/schema.sql', 'utf8'));
    await snapshot.end();
    const [fromMigrations, fromSnapshot] = await Promise.all([describe(migrated.url), describe(databaseUrl(name))]);
    t.deepEqual(fromSnapshot, fromMigrations, 'run `npm run db:schema` after adding a migration');
  } finally {
    await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    await admin.end();
    await migrated.drop();
  }
});
