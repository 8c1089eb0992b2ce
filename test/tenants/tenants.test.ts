import test from 'ava';
import { pino } from 'pino';
import { at, ADMIN_TOKEN, send, startTestServer, type TestServer } from '../helpers/server.ts';

let server: TestServer;
let withoutAdmin: TestServer;
test.before(async () => {
  server = await startTestServer();
  withoutAdmin = await startTestServer({ config: { adminToken: undefined, contextTtlSeconds: 86_400 }, logger: pino({ level: 'silent' }) });
});
test.after.always(async () => {
  await server?.close();
  await withoutAdmin?.close();
});

test('POST /tenants with the admin token returns the key once; the key works and is stored only as a hash', async (t) => {
  const reply = await server.request('POST', '/tenants', { key: ADMIN_TOKEN, body: { name: 'acme' } });
  t.is(reply.status, 201);
  t.is(reply.headers.get('cache-control'), 'no-store');
  const apiKey = at(reply.json, 'apiKey');
  t.regex(apiKey, /^idem_[A-Za-z0-9_-]{43}$/);
  t.is((await send(server.base, 'GET', '/contexts', { key: apiKey })).status, 200);
  const { rows } = await server.database.pool.query('SELECT api_key_hash FROM tenants WHERE id = $1', [at(reply.json, 'id')]);
  t.false(JSON.stringify(rows).includes(apiKey));
  t.is(rows[0].api_key_hash.length, 32);
});

test('POST /tenants refuses tenant keys, wrong tokens and bad bodies', async (t) => {
  t.is((await server.request('POST', '/tenants', { body: { name: 'x' } })).status, 401);
  t.is((await server.request('POST', '/tenants', { key: server.tenant.apiKey, body: { name: 'x' } })).status, 401);
  t.is((await server.request('POST', '/tenants', { key: `${ADMIN_TOKEN}x`, body: { name: 'x' } })).status, 401);
  t.is((await server.request('POST', '/tenants', { key: ADMIN_TOKEN, body: { name: '' } })).status, 422);
  t.is((await server.request('POST', '/tenants', { key: ADMIN_TOKEN, body: '{' , headers: { 'content-type': 'application/json' } })).status, 400);
});

test('without ADMIN_TOKEN, tenant administration is off (404)', async (t) => {
  const reply = await withoutAdmin.request('POST', '/tenants', { key: ADMIN_TOKEN, body: { name: 'x' } });
  t.is(reply.status, 404);
  t.is(reply.headers.get('content-type'), 'application/problem+json');
});

test('health probes need no key; readiness checks the database and migrations', async (t) => {
  const health = await server.request('GET', '/healthz');
  t.is(health.status, 200);
  const ready = await server.request('GET', '/readyz');
  t.is(ready.status, 200);
  t.like(ready.json as object, { status: 'ready' });
  const spec = await server.request('GET', '/openapi.yaml');
  t.is(spec.status, 200);
  t.regex(spec.text, /^openapi: 3\.1/m);
});

test('one tenant never sees another\'s data: every id-bearing endpoint answers 404', async (t) => {
  const owner = await server.newTenant('owner');
  const intruder = await server.newTenant('intruder');
  const account = await owner.createAccount();
  const context = await owner.createContext();
  const executed = at((await owner.deposit(account, 10)).json, 'id');
  for (const [method, path, options] of [
    ['GET', `/accounts/${account}`, {}],
    ['GET', `/accounts/${account}/entries`, {}],
    ['GET', `/contexts/${context.id}`, {}],
    ['GET', `/contexts/${executed}`, {}],
    ['PUT', `/contexts/${context.id}`, { headers: { 'if-match': context.etag }, body: { action: { type: 'deposit', account, amount: 1 } } }],
    ['PUT', `/contexts/${executed}`, { headers: { 'if-match': '"2"' }, body: { action: { type: 'deposit', account, amount: 10 } } }],
    ['DELETE', `/contexts/${context.id}`, { headers: { 'if-match': context.etag } }],
  ] as const) {
    t.is((await intruder.request(method, path, options)).status, 404, `${method} ${path}`);
  }
  // Their account is unknown inside the intruder's own actions, too.
  const mine = await intruder.createContext();
  const steal = await intruder.request('PUT', `/contexts/${mine.id}`, {
    headers: { 'if-match': mine.etag },
    body: { action: { type: 'transfer', from: account, to: await intruder.createAccount(), amount: 5 } },
  });
  t.is(steal.status, 422);
  t.is(await owner.balance(account), 10);
});
