// A connection that goes silent — no answer, no close: the database host vanished, a firewall
// dropped the flow — through a relay that stops forwarding on the connections open at that moment
// while new ones work. Each wait is bounded by the pool's query timeout, and the silent
// connection is destroyed rather than handed out again.
import test from 'ava';
import { sql } from 'kysely';
import type pg from 'pg';
import { pino } from 'pino';
import { ContextChangeListener, CONTEXT_CHANGED_CHANNEL } from '../../src/contexts/change-listener.ts';
import { createDatabase, createPool, poolForSchema } from '../../src/db/database.ts';
import { inTransaction } from '../../src/db/transaction.ts';
import { isDatabaseUnavailable } from '../../src/http/errors.ts';
import { JobNotifier, JOBS_DUE_CHANNEL } from '../../src/phases/job-notifier.ts';
import { TcpRelay } from '../../scripts/chaos/relay.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';

const QUERY_MS = 1_000;
const BOUNDS = { connectMs: 2_000, queryMs: QUERY_MS, statementMs: 800, idleInTransactionMs: 2_000 };

let database: TestDatabase;
test.before(async () => {
  database = await createTestDatabase(2);
});
test.after.always(async () => {
  await database.drop();
});

async function relayed(t: { teardown(fn: () => Promise<void>): void }, max: number): Promise<{ relay: TcpRelay; pool: pg.Pool }> {
  const target = new URL(database.url);
  const relay = await TcpRelay.start({ host: target.hostname, port: Number(target.port || 5432) });
  const pool = createPool(relay.url(database.url), max, BOUNDS);
  t.teardown(async () => {
    await relay.close();
    await pool.end().catch(() => undefined);
  });
  return { relay, pool };
}

/** Resolves with the milliseconds until `condition` holds, or rejects after `ms`. */
async function within(ms: number, condition: () => boolean | Promise<boolean>): Promise<number> {
  const started = Date.now();
  while (!(await condition())) {
    if (Date.now() - started > ms) throw new Error(`not within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return Date.now() - started;
}

for (const preparedStatements of [true, false]) {
  test(`a transaction on a silent connection fails within one query bound, and the connection is destroyed, not pooled again (${preparedStatements ? 'named' : 'unnamed'} statements)`, async (t) => {
    // One connection in all: were the silent one returned to the pool, every later statement would queue behind its lost answer.
    const { relay, pool } = await relayed(t, 1);
    const db = createDatabase(pool, { preparedStatements });
    await sql`SELECT 1`.execute(db);
    relay.silence({ newConnections: 'forward' });

    const started = Date.now();
    const error = await t.throwsAsync(inTransaction(db, (trx) => sql`SELECT 1`.execute(trx)));
    const elapsed = Date.now() - started;
    t.true(isDatabaseUnavailable(error), `answered as unavailable (503): ${error?.message}`);
    t.regex(error?.message ?? '', /did not answer within 1000 ms/);
    // The ROLLBACK after it fails at once instead of waiting a second bound on the same connection.
    t.true(elapsed < 2 * QUERY_MS, `failed after ${elapsed} ms`);
    t.is(pool.totalCount, 0, 'the silent connection left the pool');

    for (let i = 0; i < 5; i++) t.deepEqual((await sql<{ n: number }>`SELECT ${i}::int AS n`.execute(db)).rows, [{ n: i }]);
  });
}

test('pool.query on a silent connection fails within the bound and the pool drops the connection (pg-pool: release(err) destroys it)', async (t) => {
  const { relay, pool } = await relayed(t, 1);
  await pool.query('SELECT 1');
  relay.silence({ newConnections: 'forward' });
  const started = Date.now();
  const error = await t.throwsAsync(pool.query('SELECT 1'));
  t.true(isDatabaseUnavailable(error), error?.message);
  t.true(Date.now() - started < 2 * QUERY_MS);
  t.is(pool.totalCount, 0);
  t.is((await pool.query<{ n: number }>('SELECT 2::int AS n')).rows[0]?.n, 2);
});

test('with every connection silent, new ones included, a statement fails within the connect bound and the pool recovers on resume', async (t) => {
  const { relay, pool } = await relayed(t, 2);
  const db = createDatabase(pool);
  relay.silence();
  const started = Date.now();
  const error = await t.throwsAsync(sql`SELECT 1`.execute(db));
  t.true(isDatabaseUnavailable(error), error?.message);
  t.true(Date.now() - started < BOUNDS.connectMs + QUERY_MS);
  relay.resume();
  await within(5_000, async () => (await sql`SELECT 1`.execute(db).then(() => true, () => false)));
  t.pass();
});

test('the long-poll listener finds its silent connection, wakes every waiter to re-read, and listens again on a new one', async (t) => {
  const { relay, pool } = await relayed(t, 1);
  const listener = ContextChangeListener.forPool(pool, pino({ level: 'silent' }));
  t.teardown(() => listener.close());
  const first = await listener.subscribe('tenant', 'context-1');
  let woken = false;
  void first.changed.then(() => (woken = true));
  relay.silence({ newConnections: 'forward' });
  // One check after at most a bound, which gets no answer within another.
  const after = await within(2 * QUERY_MS + 1_500, () => woken);
  t.log(`waiter woken ${after} ms after the connection went silent`);

  // Listening again on a new connection (a notification sent before that is covered by the waiters' recheck).
  await within(5_000, () => listener.health.state === 'listening' && listener.health.reconnects > 0);
  const second = await listener.subscribe('tenant', 'context-2');
  await database.pool.query('SELECT pg_notify($1, $2)', [CONTEXT_CHANGED_CHANNEL, 'tenant:context-2']);
  await Promise.race([second.changed, new Promise((_, reject) => setTimeout(() => reject(new Error('no notification')), 5_000))]);
  t.pass();
});

test('the worker\'s notifier finds its silent connection, wakes the worker, and listens again', async (t) => {
  const { relay, pool } = await relayed(t, 1);
  const notifier = JobNotifier.forPool(pool, pino({ level: 'silent' }));
  t.teardown(() => notifier.close());
  const woken: string[] = [];
  notifier.subscribe((type) => woken.push(type));
  await within(5_000, () => notifier.listening);
  relay.silence({ newConnections: 'forward' });
  await within(2 * QUERY_MS + 1_500, () => woken.includes(''));
  t.false(notifier.listening, 'the silent connection was dropped');
  await within(5_000, () => notifier.listening);
  await database.pool.query('SELECT pg_notify($1, $2)', [JOBS_DUE_CHANNEL, 'payment']);
  await within(5_000, () => woken.includes('payment'));
  t.pass();
});

test('the server-side bounds are set on every connection of the pool, and of a pool made for a schema', async (t) => {
  // Set by a statement when the connection opens, not as startup parameters (which PgBouncer refuses).
  const pool = createPool(database.url, 2, BOUNDS);
  t.teardown(() => pool.end());
  const { rows } = await pool.query<{ statement: string; idle: string }>(
    `SELECT current_setting('statement_timeout') AS statement, current_setting('idle_in_transaction_session_timeout') AS idle`,
  );
  t.deepEqual(rows[0], { statement: '800ms', idle: '2s' });
  const schemaPool = poolForSchema(pool, 'public');
  t.teardown(() => schemaPool.end());
  const again = await schemaPool.query<{ statement: string }>(`SELECT current_setting('statement_timeout') AS statement`);
  t.is(again.rows[0]?.statement, '800ms');
});
