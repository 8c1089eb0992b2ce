import http from 'node:http';
import type { AddressInfo } from 'node:net';
import test from 'ava';
import { pino } from 'pino';
import { createApp } from '../../src/app.ts';
import { createDatabase, createPool } from '../../src/db/database.ts';
import { at, send, withTestServer } from '../helpers/server.ts';

const server = withTestServer(test);

test('unknown routes are 404 and wrong methods 405 with Allow, both problem+json', async (t) => {
  const missing = await server.tenant.request('GET', '/nothing-here');
  t.is(missing.status, 404);
  t.is(missing.headers.get('content-type'), 'application/problem+json');
  t.is(at(missing.json, 'type'), 'https://idempotence.dev/problems/not-found');
  const wrong = await server.tenant.request('PATCH', '/contexts');
  t.is(wrong.status, 405);
  t.regex(wrong.headers.get('allow') ?? '', /POST/);
  t.is(wrong.headers.get('content-type'), 'application/problem+json');
});

test('a database that cannot be reached gives 503 problem+json with Retry-After, quickly', async (t) => {
  // Nothing listens on port 1; the pool fails to connect at once.
  const pool = createPool('postgres://postgres@127.0.0.1:1/none', 2);
  const app = createApp({ pool, db: createDatabase(pool), config: { adminToken: undefined, contextTtlSeconds: 60 }, logger: pino({ level: 'silent' }) });
  const listener = http.createServer(app.callback());
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(listener.address() as AddressInfo).port}`;
  try {
    const started = Date.now();
    const reply = await send(base, 'GET', '/contexts', { key: 'idem_anything' });
    t.is(reply.status, 503);
    t.is(reply.headers.get('retry-after'), '1');
    t.is(reply.headers.get('content-type'), 'application/problem+json');
    t.true(Date.now() - started < 6_000);
    t.is((await send(base, 'GET', '/readyz')).status, 503);
    t.is((await send(base, 'GET', '/healthz')).status, 200, 'liveness does not depend on the database');
  } finally {
    listener.closeAllConnections();
    await new Promise<void>((resolve) => listener.close(() => resolve()));
    await pool.end();
  }
});

test('SQL-looking input in ids, queries and bodies is just data', async (t) => {
  const account = await server.tenant.createAccount();
  for (const path of [
    "/contexts/'%20OR%201=1--",
    '/accounts/1;DROP%20TABLE%20accounts',
    "/contexts?state=open'--",
    "/contexts?cursor=' OR 1=1",
  ]) {
    const reply = await server.tenant.request('GET', path);
    t.true(reply.status === 404 || reply.status === 400, `${path}: ${reply.status}`);
  }
  const name = "Robert'); DROP TABLE accounts;--";
  const created = await server.tenant.request('POST', '/accounts', { body: { name, currency: 'EUR' } });
  t.is(at(created.json, 'name'), name);
  t.is(await server.tenant.balance(account), 0);
});
