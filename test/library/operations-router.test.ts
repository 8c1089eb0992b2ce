// A host mounts the engine under /api and its operator console beside it: the console's page
// and admin API answer under /api, with the host's admin credential only, and show the host's
// own requests and its workers' phases.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import test from 'ava';
import Koa from 'koa';
import { pino } from 'pino';
import { createContextEngine, createTenant, type ContextEngine } from '../../src/index.ts';
import { insertAccount } from '../../src/ledger/repository.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';
import { at, send } from '../helpers/server.ts';

const HOST_ADMIN = 'host-admin-credential-0123';
let database: TestDatabase;
let engine: ContextEngine;
let listener: http.Server;
let base: string;
let tenant: { id: string; apiKey: string };

test.before(async () => {
  database = await createTestDatabase();
  tenant = await createTenant(database.db, 'host tenant');
  engine = createContextEngine({ pool: database.pool, prefix: '/api', logger: pino({ level: 'silent' }) });
  const operations = engine.operationsRouter({ adminToken: HOST_ADMIN });
  const app = new Koa();
  app.use(engine.middleware).use(engine.router.routes()).use(engine.router.allowedMethods());
  app.use(operations.routes()).use(operations.allowedMethods());
  listener = http.createServer(app.callback());
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(listener.address() as AddressInfo).port}`;
});

test.after.always(async () => {
  listener?.closeAllConnections();
  await new Promise<void>((resolve) => (listener ? listener.close(() => resolve()) : resolve()));
  await engine?.close();
  await database?.drop();
});

test('the console and the admin API under the host prefix, with the host admin credential only', async (t) => {
  const page = await send(base, 'GET', '/api/console');
  t.is(page.status, 200);
  t.true(page.text.includes('src="/api/console/app.js"'));
  t.is((await send(base, 'GET', '/api/console/app.js')).status, 200);
  t.is((await send(base, 'GET', '/api/console/api.js')).status, 200);
  t.is((await send(base, 'GET', '/api/admin/attention', { key: tenant.apiKey })).status, 401);

  const account = await insertAccount(database.db, tenant.id, 'Ada', 'EUR');
  const created = await send(base, 'POST', '/api/contexts', { key: tenant.apiKey });
  const id = at(created.json, 'id');
  const put = await send(base, 'PUT', `/api/contexts/${id}`, { key: tenant.apiKey, headers: { 'if-match': created.headers.get('etag') ?? '' }, body: { action: { type: 'deposit', account: account.id, amount: 5 } } });
  t.is(put.status, 200, put.text);
  await engine.journal.flush();

  const found = await send(base, 'GET', `/api/admin/contexts?id=${id}`, { key: HOST_ADMIN });
  t.is(found.status, 200, found.text);
  t.is(at(found.json, 'items', 0, '_links', 'self', 'href'), `/api/admin/tenants/${tenant.id}/contexts/${id}`);
  const timeline = await send(base, 'GET', `/api/admin/tenants/${tenant.id}/contexts/${id}/timeline`, { key: HOST_ADMIN });
  const outcomes = at<{ kind: string; outcome: string }[]>(timeline.json, 'entries').map((entry) => `${entry.kind}:${entry.outcome}`);
  t.deepEqual(outcomes, ['request:created', 'created:created', 'request:executed', 'finished:succeeded']);
});
