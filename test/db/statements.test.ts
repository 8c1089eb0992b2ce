// Named statements (src/db/prepared-statements.ts) and queries compiled once
// (src/db/compiled-query.ts), against a real database.
import test from 'ava';
import { sql } from 'kysely';
import { compileOnce } from '../../src/db/compiled-query.ts';
import { createDatabase, createPool } from '../../src/db/database.ts';
import { StatementNames } from '../../src/db/prepared-statements.ts';
import { createTestDatabase } from '../helpers/database.ts';

test('statement names: one per text, the same in every process, none past the limit', (t) => {
  const names = new StatementNames(2);
  const first = names.nameFor('select 1');
  t.regex(first ?? '', /^k_[\w-]{22}$/);
  t.is(names.nameFor('select 1'), first);
  t.is(new StatementNames().nameFor('select 1'), first, 'derived from the text alone');
  t.not(names.nameFor('select 2'), first);
  t.is(names.nameFor('select 3'), undefined, 'past the limit a text runs unnamed');
  t.is(names.nameFor('select 1'), first, 'known texts keep their name');
});

test('queries through Kysely are prepared once per connection; a compiled query binds its arguments', async (t) => {
  const database = await createTestDatabase();
  const pool = createPool(database.url, 1); // one connection: the one that prepared them
  const db = createDatabase(pool);
  try {
    const twice = compileOnce(2, (_builder, a: number, b: string) => sql<{ a: number; b: string }>`SELECT ${a}::int AS a, ${b}::text AS b`);
    t.deepEqual((await twice(db, 7, 'x')).rows, [{ a: 7, b: 'x' }]);
    t.deepEqual((await twice(db, 8, 'y')).rows, [{ a: 8, b: 'y' }], 'the same compiled query, other values');
    const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM pg_prepared_statements WHERE name LIKE 'k\\_%'`.execute(db);
    t.true((rows[0]?.n ?? 0) >= 1, 'statements were prepared on the connection');
    t.throws(() => compileOnce(1, (_builder, _unused: number) => sql`SELECT 1`), { message: /does not bind each/ });
  } finally {
    await db.destroy();
    await database.drop();
  }
});
