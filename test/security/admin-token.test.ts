// POST /tenants needs ADMIN_TOKEN, exactly. test/tenants/tenants.test.ts covers no token, a
// tenant's key, the token plus a character, and the route being off without ADMIN_TOKEN; this
// file adds the other near misses, the token in the wrong places, the token as an API key, that
// a refusal creates nothing and says nothing about the token, and that an unconfigured server
// answers 404 whatever is sent.
import test from 'ava';
import { pino } from 'pino';
import { ADMIN_TOKEN, at, send, startTestServer, type TestServer } from '../helpers/server.ts';

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

async function tenantCount(target: TestServer): Promise<number> {
  const { rows } = await target.database.pool.query<{ count: string }>('SELECT count(*)::text AS count FROM tenants');
  return Number(rows[0]?.count);
}

test.serial('near misses and misplaced tokens → 401 problem+json with a Bearer challenge; nothing is created', async (t) => {
  const before = await tenantCount(server);
  const body = { name: 'intruder' };
  const attempts: [string, Record<string, string>][] = [
    ['prefix', { authorization: `Bearer ${ADMIN_TOKEN.slice(0, -1)}` }],
    ['first half', { authorization: `Bearer ${ADMIN_TOKEN.slice(0, ADMIN_TOKEN.length / 2)}` }],
    ['upper case', { authorization: `Bearer ${ADMIN_TOKEN.toUpperCase()}` }],
    ['one character changed', { authorization: `Bearer ${ADMIN_TOKEN.slice(0, -1)}${ADMIN_TOKEN.endsWith('9') ? '8' : '9'}` }],
    ['Basic scheme', { authorization: `Basic ${ADMIN_TOKEN}` }],
    ['Basic, encoded', { authorization: `Basic ${Buffer.from(`admin:${ADMIN_TOKEN}`).toString('base64')}` }],
    ['no scheme', { authorization: ADMIN_TOKEN }],
    ['quoted', { authorization: `Bearer "${ADMIN_TOKEN}"` }],
    ['two tokens', { authorization: `Bearer ${ADMIN_TOKEN} ${ADMIN_TOKEN}` }],
    ['another header', { 'x-admin-token': ADMIN_TOKEN }],
    ['a cookie', { cookie: `token=${ADMIN_TOKEN}` }],
    ['empty bearer', { authorization: 'Bearer ' }],
  ];
  for (const [label, headers] of attempts) {
    const reply = await send(server.base, 'POST', '/tenants', { headers, body });
    t.is(reply.status, 401, label);
    t.is(reply.headers.get('content-type'), 'application/problem+json', label);
    t.regex(reply.headers.get('www-authenticate') ?? '', /^Bearer realm="api"/, label);
    t.false(reply.text.includes(ADMIN_TOKEN.slice(0, 8)), `${label}: the answer says nothing about the token`);
  }
  const inQuery = await send(server.base, 'POST', `/tenants?token=${ADMIN_TOKEN}&access_token=${ADMIN_TOKEN}`, { body });
  t.is(inQuery.status, 401, 'a token in the query string is not a credential');
  t.is(await tenantCount(server), before, 'no tenant was created');
});

test.serial('a token that was sent but is wrong is named invalid_token in the challenge (RFC 6750 §3)', async (t) => {
  const wrong = await send(server.base, 'POST', '/tenants', { key: `${ADMIN_TOKEN}0`, body: { name: 'x' } });
  t.regex(wrong.headers.get('www-authenticate') ?? '', /error="invalid_token"/);
  const missing = await send(server.base, 'POST', '/tenants', { body: { name: 'x' } });
  t.is(missing.headers.get('www-authenticate'), 'Bearer realm="api"');
});

test.serial('the admin token is not an API key: every tenant route refuses it', async (t) => {
  for (const [method, path] of [['GET', '/contexts'], ['POST', '/contexts'], ['GET', '/accounts'], ['POST', '/accounts'], ['GET', '/webhooks'], ['GET', '/']] as const) {
    const reply = await send(server.base, method, path, { key: ADMIN_TOKEN, ...(method === 'POST' ? { body: { name: 'n', currency: 'EUR' } } : {}) });
    t.is(reply.status, 401, `${method} ${path}`);
  }
  // Bearer is case-insensitive (RFC 7235 §2.1): the right token in any spelling of the scheme works.
  const created = await send(server.base, 'POST', '/tenants', { headers: { authorization: `bEaReR ${ADMIN_TOKEN}` }, body: { name: 'scheme' } });
  t.is(created.status, 201);
  t.regex(at(created.json, 'apiKey'), /^idem_/);
});

test.serial('without ADMIN_TOKEN the route answers 404 to everyone, token or not, and creates nothing', async (t) => {
  const before = await tenantCount(withoutAdmin);
  for (const headers of [{}, { authorization: `Bearer ${ADMIN_TOKEN}` }, { authorization: 'Bearer ' }, { authorization: `Bearer ${withoutAdmin.tenant.apiKey}` }, { authorization: 'Basic x' }]) {
    const reply = await send(withoutAdmin.base, 'POST', '/tenants', { headers, body: { name: 'x' } });
    t.is(reply.status, 404, JSON.stringify(headers));
    t.is(reply.headers.get('www-authenticate'), null, 'no challenge: there is nothing to authenticate for');
    t.is(reply.headers.get('content-type'), 'application/problem+json');
  }
  t.is(await tenantCount(withoutAdmin), before);
});
