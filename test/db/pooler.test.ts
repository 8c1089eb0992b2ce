// The service behind PgBouncer in transaction mode, with its defaults: PgBouncer 1.18 (Debian
// bookworm) hands each transaction to any server connection, so a statement prepared on one is
// unknown on the next (26000) or already there under its name (42P05), and LISTEN reaches a
// server connection that no client is linked to when the NOTIFY comes. The API and the worker
// run as processes of src/main.ts; the test talks to them over HTTP and checks the database.
import { randomUUID } from 'node:crypto';
import test from 'ava';
import { ManagedProcess } from '../../scripts/chaos/processes.ts';
import { freePort } from '../../scripts/free-port.ts';
import { findPgBouncer, startPgBouncer, type RunningPgBouncer } from '../../scripts/pgbouncer.ts';
import { startProcessor, type RunningProcessor } from '../../src/processor/server.ts';
import { generateApiKey, hashApiKey } from '../../src/tenants/api-keys.ts';
import { insertTenant } from '../../src/tenants/repository.ts';
import { createTestDatabase, serverUrl, type TestDatabase } from '../helpers/database.ts';
import { at, send, type Reply } from '../helpers/server.ts';

const found = findPgBouncer();
const suite = 'binary' in found ? test.serial : test.serial.skip;
if ('missing' in found) console.error(`# test/db/pooler.test.ts skipped: ${found.missing}`);

let bouncer: RunningPgBouncer | undefined;
let database: TestDatabase | undefined;
let processor: RunningProcessor | undefined;
const processes: ManagedProcess[] = [];
const bases: Record<'pooled' | 'direct', string> = { pooled: '', direct: '' };
let apiKey = '';

/** Reads from the database directly (not through PgBouncer), as an operator would. */
const direct = () => (database as TestDatabase).pool;

async function startApi(name: string, env: Record<string, string>): Promise<string> {
  const port = await freePort();
  const api = new ManagedProcess(name, 'api', { ...env, PORT: String(port), HOST: '127.0.0.1' }, port);
  processes.push(api);
  await api.start();
  return `http://127.0.0.1:${port}`;
}

if ('binary' in found) {
  test.before(async () => {
    bouncer = await startPgBouncer(found.binary, serverUrl());
    database = await createTestDatabase(4);
    processor = await startProcessor({ pool: database.pool, port: 0 });
    apiKey = generateApiKey();
    await insertTenant(database.db, 'pooler', hashApiKey(apiKey));
    const pooledUrl = bouncer.through(database.url);
    // Defaults, but for the database: everything through PgBouncer, LISTEN too.
    bases.pooled = await startApi('api-pooled', { DATABASE_URL: pooledUrl });
    // LISTEN past the pooler; a fallback timer far longer than the wait bound below, so a wake within it is the notification's.
    bases.direct = await startApi('api-direct', { DATABASE_URL: pooledUrl, DATABASE_LISTEN_URL: database.url, LONG_POLL_RECHECK_MS: '30000' });
    const worker = new ManagedProcess('worker', 'worker', { DATABASE_URL: pooledUrl, PROCESSOR_URL: processor.url });
    processes.push(worker);
    await worker.start();
  });

  test.after.always(async () => {
    await Promise.all(processes.map((child) => child.stop()));
    await processor?.close();
    await bouncer?.stop(); // by its PID
    await database?.drop();
  });
}

const request = (base: string, method: string, path: string, options: { headers?: Record<string, string>; body?: unknown } = {}): Promise<Reply> =>
  send(base, method, path, { ...options, key: apiKey });

async function account(base: string, deposit = 0): Promise<string> {
  const created = await request(base, 'POST', '/accounts', { body: { name: 'pooler', currency: 'EUR' } });
  if (created.status !== 201) throw new Error(`account: ${created.status} ${created.text}`);
  const id = at(created.json, 'id');
  if (deposit > 0) {
    const reply = await request(base, 'PUT', `/contexts/${randomUUID()}`, { headers: { 'if-none-match': '*' }, body: { action: { type: 'deposit', account: id, amount: deposit } } });
    if (reply.status !== 201) throw new Error(`deposit: ${reply.status} ${reply.text}`);
  }
  return id;
}

function countByStatus(replies: Reply[]): Record<number, number> {
  const counts: Record<number, number> = {};
  for (const reply of replies) counts[reply.status] = (counts[reply.status] ?? 0) + 1;
  return counts;
}

suite('200 concurrent one-shot transfers through PgBouncer (transaction mode, defaults) each succeed once', async (t) => {
  t.timeout(120_000);
  const base = bases.pooled;
  const from = await account(base, 1_000_000);
  const to = await account(base);
  const ids = Array.from({ length: 200 }, () => randomUUID());
  const started = Date.now();
  const replies = await Promise.all(
    ids.map((id, i) => request(base, 'PUT', `/contexts/${id}`, { headers: { 'if-none-match': '*' }, body: { action: { type: 'transfer', from, to, amount: i + 1 } } })),
  );
  const counts = countByStatus(replies);
  t.log(`200 concurrent transfers in ${Date.now() - started} ms: ${JSON.stringify(counts)}`);
  const other = replies.find((reply) => reply.status !== 201);
  t.deepEqual(counts, { 201: 200 }, other && `${other.status}: ${other.text}`);
  const sum = (200 * 201) / 2;
  const { rows } = await direct().query(
    `SELECT (SELECT balance FROM accounts WHERE id = $1)::bigint AS source, (SELECT balance FROM accounts WHERE id = $2)::bigint AS target,
            (SELECT count(*)::int FROM entries WHERE context_id = ANY($3::uuid[])) AS entries`,
    [from, to, ids],
  );
  t.deepEqual(rows[0], { source: 1_000_000 - sum, target: sum, entries: 400 }, 'each transfer moved its amount exactly once');
});

/** Opens a context, holds a long-poll on it, changes it; how long after the change's answer the poll answered. */
async function wakeAfterChange(base: string, target: string): Promise<{ ms: number; reply: Reply }> {
  const created = await request(base, 'POST', '/contexts');
  const id = at(created.json, 'id');
  const etag = created.headers.get('etag') ?? '';
  const waiting = request(base, 'GET', `/contexts/${id}`, { headers: { prefer: 'wait=20', 'if-none-match': etag } });
  await new Promise((resolve) => setTimeout(resolve, 500)); // the poll is held by now
  const put = await request(base, 'PUT', `/contexts/${id}`, { headers: { 'if-match': etag }, body: { action: { type: 'deposit', account: target, amount: 1 } } });
  if (put.status !== 200) throw new Error(`change: ${put.status} ${put.text}`);
  const changed = Date.now();
  const reply = await waiting;
  return { ms: Date.now() - changed, reply };
}

suite('a long-poll wakes within 1 s of a change when DATABASE_LISTEN_URL bypasses PgBouncer', async (t) => {
  t.timeout(60_000);
  const target = await account(bases.direct);
  const wakes: number[] = [];
  for (let i = 0; i < 5; i++) {
    const { ms, reply } = await wakeAfterChange(bases.direct, target);
    t.is(reply.status, 200);
    t.is(at(reply.json, 'state'), 'succeeded');
    wakes.push(ms);
  }
  t.log(`wake after the change, LISTEN direct (fallback timer 30 s): ${wakes.join(', ')} ms`);
  t.true(Math.max(...wakes) < 1_000, `woken ${wakes.join(', ')} ms after the change`);
  const ready = await send(bases.direct, 'GET', '/readyz');
  t.is(at(ready.json, 'checks', 'notifications'), 'listening');
  t.regex((await send(bases.direct, 'GET', '/metrics')).text, /^idempotence_notifications_listening\{channel="context_changed"\} 1$/m);
});

suite('a long-poll whose LISTEN goes through PgBouncer still wakes, within the fallback timer (1 s by default)', async (t) => {
  t.timeout(60_000);
  const target = await account(bases.pooled);
  const wakes: number[] = [];
  for (let i = 0; i < 5; i++) {
    const { ms, reply } = await wakeAfterChange(bases.pooled, target);
    t.is(reply.status, 200);
    t.is(at(reply.json, 'state'), 'succeeded');
    wakes.push(ms);
  }
  t.log(`wake after the change, LISTEN through PgBouncer (fallback timer 1 s): ${wakes.join(', ')} ms`);
  // The timer's period, plus the re-read itself and a loaded 2-core machine's scheduling.
  t.true(Math.max(...wakes) < 1_800, `woken ${wakes.join(', ')} ms after the change`);
  // Ready all the same (nothing is wrong, only slower), and saying why it is slower.
  const ready = await send(bases.pooled, 'GET', '/readyz');
  t.is(ready.status, 200);
  t.like(ready.json as object, { status: 'ready', checks: { statements: 'unnamed', notifications: 'deaf' } });
  const metrics = (await send(bases.pooled, 'GET', '/metrics')).text;
  t.regex(metrics, /^idempotence_notifications_listening\{channel="context_changed"\} 0$/m);
  t.regex(metrics, /^idempotence_db_named_statements 0$/m);
});

suite('the worker drains payments through PgBouncer: every one charged once and credited once', async (t) => {
  t.timeout(60_000);
  const base = bases.pooled;
  const target = await account(base);
  const ids = Array.from({ length: 10 }, () => randomUUID());
  const started = Date.now();
  const accepted = await Promise.all(
    ids.map((id) => request(base, 'PUT', `/contexts/${id}`, { headers: { 'if-none-match': '*' }, body: { action: { type: 'payment', account: target, amount: 100, source: 'tok_ok' } } })),
  );
  t.deepEqual(countByStatus(accepted), { 202: 10 });
  let left = ids.length;
  while (left > 0 && Date.now() - started < 30_000) {
    const { rows } = await direct().query(`SELECT count(*)::int AS n FROM contexts WHERE id = ANY($1::uuid[]) AND state = 'processing'`, [ids]);
    left = rows[0].n;
    if (left > 0) await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const drained = Date.now() - started;
  const { rows } = await direct().query(
    `SELECT c.state, c.attempts,
            (SELECT count(*)::int FROM entries e WHERE e.context_id = c.id) AS credits,
            (SELECT count(*)::int FROM processor.charges ch JOIN payments p ON p.processor_key = ch.idempotency_key WHERE p.context_id = c.id) AS charges
       FROM contexts c WHERE c.id = ANY($1::uuid[])`,
    [ids],
  );
  t.log(`10 payments drained in ${drained} ms; attempts per payment: ${rows.map((row) => row.attempts).join(', ')}`);
  t.deepEqual(
    rows.map((row) => ({ state: row.state, credits: row.credits, charges: row.charges })),
    ids.map(() => ({ state: 'succeeded', credits: 1, charges: 1 })),
  );
  t.is(await request(base, 'GET', `/accounts/${target}`).then((reply) => at<number>(reply.json, 'balance')), 1_000);
});
