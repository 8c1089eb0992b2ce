// The engine as a library: examples/embed-in-koa.ts mounted on a database of this file's own,
// with its own action, its own authentication and a built-in action registered beside it.
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import test from 'ava';
import { sql } from 'kysely';
import pg from 'pg';
import { createShopApp } from '../../examples/embed-in-koa.ts';
import { runConformance } from '../../src/conformance/index.ts';
import { createContextEngine, createTenant, type ContextEngine } from '../../src/index.ts';
import { findAccount, insertAccount } from '../../src/ledger/repository.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';
import { at, send, type Reply, type RequestOptions } from '../helpers/server.ts';

let database: TestDatabase;
let engine: ContextEngine;
let listener: http.Server;
let base: string;
let shop: string; // tenant ids of two shops, each with a session of the host's own
let other: string;

test.before(async () => {
  database = await createTestDatabase();
  shop = (await createTenant(database.db, 'shop')).id;
  other = (await createTenant(database.db, 'other shop')).id;
  const sessions = new Map([['session-of-shop', shop], ['session-of-other', other]]);
  const built = await createShopApp(database.pool, sessions);
  engine = built.engine;
  listener = http.createServer(built.app.callback());
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(listener.address() as AddressInfo).port}`;
});

test.after.always(async () => {
  listener?.closeAllConnections();
  await new Promise<void>((resolve) => (listener ? listener.close(() => resolve()) : resolve()));
  await engine?.close();
  await database?.drop();
});

function as(session: string | undefined, method: string, path: string, options: RequestOptions = {}): Promise<Reply> {
  const headers = { ...options.headers, ...(session ? { cookie: `session=${session}` } : {}) };
  return send(base, method, path, { ...options, headers });
}
const shopRequest = (method: string, path: string, options: RequestOptions = {}) => as('session-of-shop', method, path, options);

async function greetingsOf(contextId: string): Promise<number> {
  const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM greetings WHERE context_id = ${contextId}`.execute(database.db);
  return rows[0]?.n ?? -1;
}

const greet = (name: string) => ({ action: { type: 'greet', name } });

test('the custom action runs once through create + PUT with If-Match; a retry replays, a different action is 412', async (t) => {
  const created = await shopRequest('POST', '/contexts');
  t.is(created.status, 201);
  t.is(created.headers.get('etag'), '"1"');
  const id = at(created.json, 'id');

  const first = await shopRequest('PUT', `/contexts/${id}`, { headers: { 'if-match': '"1"' }, body: greet('Ada') });
  t.is(first.status, 200);
  t.is(at(first.json, 'state'), 'succeeded');
  t.is(at(first.json, 'result', 'greeting'), 'Hello, Ada!');
  t.is(first.headers.get('idempotent-replayed'), null);

  const retry = await shopRequest('PUT', `/contexts/${id}`, { headers: { 'if-match': '"1"' }, body: greet('Ada') });
  t.is(retry.status, 200);
  t.is(retry.headers.get('idempotent-replayed'), 'true');
  t.is(retry.text, first.text, 'the recorded representation, byte for byte');

  const conflict = await shopRequest('PUT', `/contexts/${id}`, { headers: { 'if-match': '"1"' }, body: greet('Grace') });
  t.is(conflict.status, 412);
  t.is(conflict.headers.get('content-type'), 'application/problem+json');
  t.is(conflict.headers.get('etag'), '"2"');
  t.is(await greetingsOf(id), 1, 'the handler wrote exactly once');
});

test('the custom action runs once through PUT with If-None-Match: *; a retry replays, a different action is 412', async (t) => {
  const id = randomUUID();
  const first = await shopRequest('PUT', `/contexts/${id}`, { headers: { 'if-none-match': '*' }, body: greet('Lin') });
  t.is(first.status, 201);
  t.is(first.headers.get('location'), `/contexts/${id}`);
  const retry = await shopRequest('PUT', `/contexts/${id}`, { headers: { 'if-none-match': '*' }, body: greet('Lin') });
  t.is(retry.status, 200);
  t.is(retry.headers.get('idempotent-replayed'), 'true');
  t.is(at(retry.json, 'result', 'greeting'), 'Hello, Lin!');
  const conflict = await shopRequest('PUT', `/contexts/${id}`, { headers: { 'if-none-match': '*' }, body: greet('Someone else') });
  t.is(conflict.status, 412);
  t.is(await greetingsOf(id), 1);

  // Concurrent identical requests on a fresh id: one executes, the others wait and replay.
  const raced = randomUUID();
  const replies = await Promise.all(
    Array.from({ length: 5 }, () => shopRequest('PUT', `/contexts/${raced}`, { headers: { 'if-none-match': '*' }, body: greet('Race') })),
  );
  t.deepEqual(replies.map((reply) => reply.status).sort(), [200, 200, 200, 200, 201]);
  t.is(await greetingsOf(raced), 1);
});

test('a built-in deposit registered beside it still works; an unregistered type is 422', async (t) => {
  const account = await insertAccount(database.db, shop, 'till', 'EUR');
  const id = randomUUID();
  const deposit = { action: { type: 'deposit', account: account.id, amount: 1250 } };
  const first = await shopRequest('PUT', `/contexts/${id}`, { headers: { 'if-none-match': '*' }, body: deposit });
  t.is(first.status, 201);
  t.is(at(first.json, 'state'), 'succeeded');
  t.is(at<number>(first.json, 'result', 'entries', 0, 'balanceAfter'), 1250);
  const retry = await shopRequest('PUT', `/contexts/${id}`, { headers: { 'if-none-match': '*' }, body: deposit });
  t.is(retry.headers.get('idempotent-replayed'), 'true');
  t.is((await findAccount(database.db, shop, account.id))?.balance, 1250);

  const transfer = { action: { type: 'transfer', from: account.id, to: randomUUID(), amount: 1 } };
  const unknown = await shopRequest('PUT', `/contexts/${randomUUID()}`, { headers: { 'if-none-match': '*' }, body: transfer });
  t.is(unknown.status, 422);
  t.regex(at(unknown.json, 'detail'), /known types: greet, deposit/);
});

test('the host decides the tenant: no or an unknown session is 401, another tenant sees 404', async (t) => {
  const none = await as(undefined, 'POST', '/contexts');
  t.is(none.status, 401);
  t.is(none.headers.get('content-type'), 'application/problem+json');
  t.is(none.headers.get('www-authenticate'), 'Cookie name="session"', 'the host\'s challenge, not the engine\'s Bearer');
  t.is((await as('forged', 'GET', '/contexts')).status, 401);

  const id = at((await shopRequest('POST', '/contexts')).json, 'id');
  t.is((await as('session-of-other', 'GET', `/contexts/${id}`)).status, 404);
  t.is((await shopRequest('GET', `/contexts/${id}`)).status, 200);
  t.is((await shopRequest('GET', '/contexts')).status, 200);
});

test('the host keeps its own routes and error handling; the engine only answers /contexts', async (t) => {
  const greetings = await shopRequest('GET', '/greetings');
  t.is(greetings.status, 200);
  t.true(Array.isArray(greetings.json));
  const missing = await shopRequest('GET', '/nothing');
  t.is(missing.status, 404);
  t.not(missing.headers.get('content-type'), 'application/problem+json', 'not wrapped by the engine');
  const wrongMethod = await shopRequest('PATCH', '/contexts');
  t.is(wrongMethod.status, 405);
  t.is(wrongMethod.headers.get('content-type'), 'application/problem+json');
});

test('a pool that parses int8 as strings is refused', (t) => {
  const pool = new pg.Pool({ connectionString: database.url });
  t.throws(() => createContextEngine({ pool }), { instanceOf: TypeError, message: /createPool/ });
  return pool.end();
});

test('idempotence-conformance passes against the embedded engine with the host\'s own cookie authentication', async (t) => {
  t.timeout(60_000);
  const report = await runConformance({
    base,
    headers: { Cookie: 'session=session-of-shop' },
    action: { type: 'greet', name: 'Conformance' },
    otherAction: { type: 'greet', name: 'Other' },
    log: (line) => t.log(line),
  });
  t.is(report.failed, 0);
});
