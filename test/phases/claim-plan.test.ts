// A worker's claim reads the index in due order and stops at the first free job, however long the
// backlog: no sort of every due row (which `= ANY(types)` caused — 3.2 ms a claim at 10,000 due,
// a third of the Postgres CPU of a payment). Checked on the plan, not by timing.
import test from 'ava';
import { sql } from 'kysely';
import { claimDueStatement } from '../../src/phases/jobs.ts';
import { withTestServer } from '../helpers/server.ts';

const server = withTestServer(test);

test('the claim of a due job is an ordered index scan that reads a handful of rows, not the backlog', async (t) => {
  const pool = server.database.pool;
  await pool.query(
    `INSERT INTO contexts (tenant_id, id, state, version, action, fingerprint, response_body, expires_at, run_after, recovery_point)
     SELECT $1, gen_random_uuid(), 'processing', 2, '{"type":"payment"}', 'f', '{}', now() + interval '1 day', now() - (g || ' ms')::interval, 'accepted'
       FROM generate_series(1, 5000) g`,
    [server.tenant.id],
  );
  await pool.query('ANALYZE contexts');
  const explained = await sql<{ 'QUERY PLAN': string }>`EXPLAIN (ANALYZE, BUFFERS, FORMAT TEXT) ${claimDueStatement('plan-test', 5, 'payment')}`.execute(server.database.db);
  const plan = explained.rows.map((row) => row['QUERY PLAN']).join('\n');
  t.log(plan);
  t.regex(plan, /Index Scan using contexts_runnable/);
  t.notRegex(plan, /Sort/, 'no sort of the due rows');
  const scanned = /Index Scan using contexts_runnable.*actual time=[\d.]+\.\.[\d.]+ rows=(\d+)/.exec(plan)?.[1];
  t.true(Number(scanned) <= 10, `the scan stops at the first free row (read ${scanned})`);

  // A busy worker's batch: the same scan, stopping after the batch.
  const batch = await sql<{ 'QUERY PLAN': string }>`EXPLAIN (ANALYZE, BUFFERS, FORMAT TEXT) ${claimDueStatement('plan-test-batch', 5, 'payment', 16)}`.execute(server.database.db);
  const batchPlan = batch.rows.map((row) => row['QUERY PLAN']).join('\n');
  t.regex(batchPlan, /Index Scan using contexts_runnable/);
  t.notRegex(batchPlan, /Sort/, 'no sort of the due rows for a batch either');
  const batchScanned = /Index Scan using contexts_runnable.*actual time=[\d.]+\.\.[\d.]+ rows=(\d+)/.exec(batchPlan)?.[1];
  t.true(Number(batchScanned) <= 30, `the batch's scan stops after its 16 rows (read ${batchScanned})`);
  t.throws(() => claimDueStatement('plan-test', 5, 'payment', 0), { instanceOf: RangeError });
});
