// Named statements (src/db/prepared-statements.ts) and queries compiled once
// (src/db/compiled-query.ts), against a real database.
import test from 'ava';
import { sql } from 'kysely';
import { compileOnce } from '../../src/db/compiled-query.ts';
import { createDatabase, createPool, sendsNamedStatements } from '../../src/db/database.ts';
import { inTransaction } from '../../src/db/transaction.ts';
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

// What a pooler in transaction mode does to named statements, done by hand on one connection:
// DEALLOCATE ALL leaves pg believing its statements are prepared (26000 on the next Bind); a
// PREPARE under the name pg is about to use makes its Parse collide (42P05).
test('a lost named statement (26000) outside a transaction is sent again unnamed, and the process stops naming', async (t) => {
  const database = await createTestDatabase();
  const pool = createPool(database.url, 1);
  const lost: unknown[] = [];
  const db = createDatabase(pool, { onNamedStatementsLost: (error) => lost.push(error) });
  try {
    const query = () => sql<{ n: number }>`SELECT ${41}::int + 1 AS n`.execute(db);
    t.deepEqual((await query()).rows, [{ n: 42 }]);
    t.true(sendsNamedStatements(db));
    await pool.query('DEALLOCATE ALL'); // the pool's one connection: the one that prepared it
    t.deepEqual((await query()).rows, [{ n: 42 }], 'answered, not an error');
    t.is(lost.length, 1);
    t.is((lost[0] as { code?: string }).code, '26000');
    t.false(sendsNamedStatements(db), 'every statement unnamed from now on');
    await pool.query('DEALLOCATE ALL');
    t.deepEqual((await query()).rows, [{ n: 42 }]);
    t.is(lost.length, 1, 'told once');
  } finally {
    await db.destroy();
    await database.drop();
  }
});

test('a named statement that the server already has (42P05) inside a transaction: the transaction runs again, once, unnamed', async (t) => {
  const database = await createTestDatabase();
  const pool = createPool(database.url, 1);
  const db = createDatabase(pool);
  try {
    const text = 'SELECT $1::int + 1 AS n';
    const name = new StatementNames().nameFor(text) ?? '';
    await pool.query(`PREPARE "${name}" (int) AS ${text}`); // as another client of the pooler would have
    let attempts = 0;
    const result = await inTransaction(db, async (trx) => {
      attempts++;
      await sql`SELECT set_config('idem.test', 'written', true)`.execute(trx);
      return (await sql<{ n: number }>`SELECT ${41}::int + 1 AS n`.execute(trx)).rows;
    });
    t.deepEqual(result, [{ n: 42 }]);
    t.is(attempts, 2, 'the aborted transaction ran again whole');
    t.false(sendsNamedStatements(db));
  } finally {
    await db.destroy();
    await database.drop();
  }
});
