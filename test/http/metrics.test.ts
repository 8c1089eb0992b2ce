// GET /metrics: after a few requests of the protocol — a PUT that executes, its replay, a 412, a
// 428, a 401 and an unknown path — the counters and the histogram carry them by method, route
// template and status; the gauges read on scrape show the contexts by state, the worker's lag
// and the failing webhook deliveries; and no raw URL becomes a label.
import test from 'ava';
import pg from 'pg';
import { pino } from 'pino';
import { createApp } from '../../src/app.ts';
import { createDatabase } from '../../src/db/database.ts';
import { ServiceMetrics } from '../../src/http/metrics.ts';
import { checkReply } from '../helpers/spec.ts';
import { withTestServer } from '../helpers/server.ts';

const server = withTestServer(test);

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses the text exposition format (0.0.4): one sample per line that is not a comment. */
function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const label of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[label[1] ?? ''] = label[2] ?? '';
    samples.push({ name: match[1] ?? '', labels, value: Number(match[3]) });
  }
  return samples;
}

/** The value of the one sample with this name and (at least) these labels; undefined when there is none. */
function value(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const found = samples.filter((sample) => sample.name === name && Object.entries(labels).every(([key, v]) => sample.labels[key] === v));
  if (found.length > 1) throw new Error(`${found.length} samples of ${name} ${JSON.stringify(labels)}`);
  return found[0]?.value;
}

async function scrape(): Promise<{ samples: Sample[]; text: string }> {
  const reply = await server.request('GET', '/metrics');
  if (reply.status !== 200) throw new Error(`GET /metrics: ${reply.status} ${reply.text}`);
  return { samples: parseExposition(reply.text), text: reply.text };
}

// Serial: the second test reads what the first left, and counts must not mix.
test.serial('the protocol\'s requests are counted by method, route template and status', async (t) => {
  const tenant = server.tenant;
  const account = await tenant.createAccount();
  const webhook = await tenant.request('POST', '/webhooks', { body: { url: 'https://example.com/hook' } });
  t.is(webhook.status, 201);
  const { id, etag } = await tenant.createContext();
  const deposit = { action: { type: 'deposit', account, amount: 100 } };

  const executed = await tenant.request('PUT', `/contexts/${id}`, { headers: { 'if-match': etag }, body: deposit });
  t.is(executed.status, 200);
  const replayed = await tenant.request('PUT', `/contexts/${id}`, { headers: { 'if-match': etag }, body: deposit });
  t.is(replayed.status, 200);
  t.is(replayed.headers.get('idempotent-replayed'), 'true');
  const stale = await tenant.request('PUT', `/contexts/${id}`, { headers: { 'if-match': etag }, body: { action: { type: 'deposit', account, amount: 7 } } });
  t.is(stale.status, 412);
  const bare = await tenant.request('PUT', `/contexts/${id}`, { body: deposit });
  t.is(bare.status, 428);
  t.is((await tenant.request('GET', `/contexts/${id}`, { key: null })).status, 401);
  t.is((await tenant.request('GET', '/no/such/path')).status, 404);
  await tenant.createContext(); // stays open

  const metrics = await server.request('GET', '/metrics', { key: null });
  t.is(metrics.status, 200, 'no key needed');
  t.is(metrics.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
  t.deepEqual(checkReply('GET', '/metrics', metrics), []);
  const samples = parseExposition(metrics.text);
  const put = (status: string) => ({ method: 'PUT', route: '/contexts/:id', status });

  t.is(value(samples, 'http_requests_total', put('200')), 2, 'the execution and its replay');
  t.is(value(samples, 'http_requests_total', put('412')), 1);
  t.is(value(samples, 'http_requests_total', put('428')), 1);
  t.is(value(samples, 'http_requests_total', { method: 'GET', route: '/contexts/:id', status: '401' }), 1, 'a 401 is labelled with the route it was for');
  t.is(value(samples, 'http_requests_total', { method: 'POST', route: '/contexts', status: '201' }), 2);
  t.is(value(samples, 'http_requests_total', { method: 'GET', route: 'unmatched', status: '404' }), 1);
  t.is(value(samples, 'http_request_duration_seconds_count', put('200')), 2);
  t.is(value(samples, 'http_request_duration_seconds_bucket', { ...put('200'), le: '+Inf' }), 2);
  t.is(value(samples, 'http_request_duration_seconds_bucket', { ...put('412'), le: '30' }), 1);
  t.true((value(samples, 'http_request_duration_seconds_sum', put('200')) ?? 0) > 0);

  t.is(value(samples, 'idempotence_replays_total', put('200')), 1);
  t.is(value(samples, 'idempotence_replays_total', put('412')), undefined);
  t.is(value(samples, 'idempotence_precondition_outcomes_total', { outcome: 'precondition_failed' }), 1);
  t.is(value(samples, 'idempotence_precondition_outcomes_total', { outcome: 'precondition_required' }), 1);
  t.is(value(samples, 'idempotence_precondition_outcomes_total', { outcome: 'already_executed' }), 0);

  t.is(value(samples, 'idempotence_contexts', { state: 'succeeded' }), 1);
  t.is(value(samples, 'idempotence_contexts', { state: 'open' }), 1);
  for (const state of ['processing', 'failed', 'cancelled']) t.is(value(samples, 'idempotence_contexts', { state }), 0, state);
  t.is(value(samples, 'idempotence_database_up'), 1);
  t.true((value(samples, 'idempotence_db_pool_total_clients') ?? 0) >= 1);
  t.is(typeof value(samples, 'idempotence_db_pool_idle_clients'), 'number');
  t.is(value(samples, 'idempotence_db_pool_waiting_requests'), 0, 'the scrape does not count its own query');
  t.is(value(samples, 'idempotence_worker_lease_takeovers_total'), 0);
  t.is(value(samples, 'idempotence_webhook_delivery_failures_total'), 0);
  t.is(typeof value(samples, 'process_cpu_user_seconds_total'), 'number', 'process metrics');

  // Labels are templates: no context id, no raw path.
  t.false(metrics.text.includes(id));
  t.false(metrics.text.includes('/no/such/path'));
});

test.serial('worker lag and failing webhook deliveries are read from the database on scrape', async (t) => {
  const tenant = server.tenant;
  const account = await tenant.createAccount();
  const before = await scrape();
  t.is(value(before.samples, 'idempotence_worker_due_jobs'), 0);
  t.is(value(before.samples, 'idempotence_worker_lag_seconds'), 0);

  // A payment no worker picks up (none runs here), due for a minute already.
  const { id, etag } = await tenant.createContext();
  const accepted = await tenant.request('PUT', `/contexts/${id}`, { headers: { 'if-match': etag }, body: { action: { type: 'payment', account, amount: 5, source: 'tok_ok' } } });
  t.is(accepted.status, 202);
  await server.database.pool.query("UPDATE contexts SET run_after = now() - interval '60 seconds' WHERE id = $1", [id]);
  // A delivery that has failed once (the deposit's event to the endpoint of the first test).
  const failing = await server.database.pool.query('UPDATE webhook_deliveries SET attempts = 1 WHERE delivered_at IS NULL');
  t.true((failing.rowCount ?? 0) >= 1, 'the first test wrote a webhook delivery');

  const after = await scrape();
  t.is(value(after.samples, 'idempotence_contexts', { state: 'processing' }), 1);
  t.is(value(after.samples, 'idempotence_worker_due_jobs'), 1);
  const lag = value(after.samples, 'idempotence_worker_lag_seconds') ?? 0;
  t.true(lag >= 60 && lag < 120, `lag ${lag}`);
  t.is(value(after.samples, 'idempotence_webhook_deliveries_failing'), failing.rowCount ?? 0);

  // A leased job is not waiting for a worker.
  await server.database.pool.query("UPDATE contexts SET locked_by = 'w', locked_until = now() + interval '1 minute' WHERE id = $1", [id]);
  const leased = await scrape();
  t.is(value(leased.samples, 'idempotence_worker_due_jobs'), 0);
  t.is(value(leased.samples, 'idempotence_worker_lag_seconds'), 0);
});

test.serial('every app has its own registry: two apps in one process count apart, and a lost database shows as idempotence_database_up 0', async (t) => {
  const deps = { pool: server.database.pool, db: server.database.db, logger: pino({ level: 'silent' }), config: { adminToken: undefined, contextTtlSeconds: 60 } };
  const first = new ServiceMetrics({ ...deps, processMetrics: false });
  const second = new ServiceMetrics({ ...deps, processMetrics: false });
  createApp({ ...deps, metrics: first });
  createApp({ ...deps, metrics: second });
  first.httpRequests.inc({ method: 'GET', route: '/', status: '200' });
  const one = parseExposition((await first.exposition()).text);
  const other = parseExposition((await second.exposition()).text);
  t.is(value(one, 'http_requests_total', { route: '/' }), 1);
  t.is(value(other, 'http_requests_total', { route: '/' }), undefined);
  t.is(value(one, 'process_cpu_user_seconds_total'), undefined, 'process metrics can be left out');

  const unreachable = new pg.Pool({ connectionString: 'postgres://nobody@127.0.0.1:1/none', connectionTimeoutMillis: 1_000 });
  t.teardown(() => unreachable.end());
  const lost = new ServiceMetrics({ pool: unreachable, db: createDatabase(unreachable), processMetrics: false });
  const samples = parseExposition((await lost.exposition()).text);
  t.is(value(samples, 'idempotence_database_up'), 0);
  t.is(value(samples, 'idempotence_contexts', { state: 'open' }), undefined);
  t.is(value(samples, 'idempotence_db_pool_waiting_requests'), 0);
});
