// SQL injection attempts in every parameter and header: path ids (every route with one, found in
// the routers), the query parameters, the string members of every body, If-Match,
// If-None-Match, Idempotency-Key, Prefer and Authorization. Each is answered with a 4xx — or with
// a 2xx where the string is just data (an account name, an Idempotency-Key, a webhook URL's query),
// and then it is stored and returned exactly as sent. A refusal changes nothing, no answer is
// slowed down by an injected pg_sleep, every table is still there afterwards, the tenants keep
// their rows and keys, and the other tenant's data is untouched.
import { randomUUID } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import test from 'ava';
import { pino } from 'pino';
import { createRouters } from '../../src/app.ts';
import { problemViolation, rawRequest, snapshotState, tableCounts, type RawRequest } from '../helpers/hostile.ts';
import { ADMIN_TOKEN, at, withTestServer } from '../helpers/server.ts';

const server = withTestServer(test);

const PAYLOADS = [
  "' OR '1'='1",
  "' OR 1=1 --",
  "'; DROP TABLE tenants; --",
  '1; DELETE FROM accounts',
  '" OR ""="',
  "' UNION SELECT encode(api_key_hash, 'hex'), null FROM tenants --",
  "1' AND pg_sleep(10) IS NULL --",
  "'||(SELECT pg_sleep(10))||'",
  '$$; DROP TABLE contexts; $$',
  "\\'; TRUNCATE entries; --",
  '*/ SELECT 1 /*',
  "admin'--",
  "') OR ('a'='a",
  "00000000-0000-0000-0000-000000000000' OR tenant_id IS NOT NULL --",
  "%' OR '%'='",
  '1 OR 1=1',
  '$1',
  "E'\\x27'",
  "'; UPDATE accounts SET balance = 999999 WHERE '1'='1",
  ';COMMIT;DROP TABLE idempotency_keys;--',
  "x' ; COPY tenants TO PROGRAM 'id' --",
];

/** No answer may take this long: an injected pg_sleep(10) would. */
const MAX_MS = 5_000;

interface Case {
  label: string;
  request(payload: string): RawRequest;
  /** The statuses this request may get; 2xx only where the payload is legitimately data. */
  expect: number[];
  /** Checks a 2xx answer: the data came back exactly as sent. */
  verify?(payload: string, json: unknown): string | undefined;
}

test.serial('SQL injection in ids, query parameters, bodies and headers: refused or kept as data, never executed', async (t) => {
  t.timeout(60_000);
  const attacker = server.tenant;
  const victim = await server.newTenant('victim');
  const victimAccount = await victim.createAccount();
  await victim.deposit(victimAccount, 1_000);
  await victim.createContext();
  await victim.request('POST', '/webhooks', { body: { url: 'https://victim.example/hook' } });

  const account = await attacker.createAccount();
  await attacker.deposit(account, 1_000);
  const webhook = at((await attacker.request('POST', '/webhooks', { body: { url: 'https://attacker.example/hook' } })).json, 'id');
  const open = async () => (await attacker.createContext()).id;
  const auth = { authorization: `Bearer ${attacker.apiKey}` };
  const jsonHeaders = { ...auth, 'content-type': 'application/json' };
  const body = (value: unknown) => JSON.stringify(value);
  const deposit = (extra: Record<string, unknown>) => body({ action: { type: 'deposit', account, amount: 1, ...extra } });
  const sameString = (member: string) => (payload: string, json: unknown) => (at(json, member) === payload ? undefined : `${member} came back as ${JSON.stringify(at(json, member))}`);

  const victimBefore = await snapshotState(server.database.pool, victim.id);
  const tablesBefore = await tableCounts(server.database.pool);
  const tenantsBefore = (await server.database.pool.query<{ id: string; hash: string }>(`SELECT id, encode(api_key_hash, 'hex') AS hash FROM tenants ORDER BY id`)).rows;

  // Every route with a path parameter, found in the routers: a new one is attacked too.
  const routers = createRouters({ pool: server.database.pool, db: server.database.db, config: { adminToken: undefined, contextTtlSeconds: 60 }, logger: pino({ level: 'silent' }) });
  const idRoutes: { method: string; path: string }[] = [];
  for (const router of routers) {
    for (const layer of router.stack) {
      for (const method of layer.methods) if (method !== 'HEAD' && String(layer.path).includes(':')) idRoutes.push({ method, path: String(layer.path) });
    }
  }
  t.true(idRoutes.length >= 7, JSON.stringify(idRoutes));

  const cases: Case[] = [
    ...idRoutes.map((route): Case => ({
      label: `${route.method} ${route.path} with the payload as id`,
      request: (payload) => ({
        method: route.method,
        path: route.path.replace(/:\w+/g, encodeURIComponent(payload)),
        // The admin API's routes take the admin token; the rest the attacker's own tenant key.
        headers: { ...jsonHeaders, 'if-match': '"1"', ...(route.path.startsWith('/admin/') ? { authorization: `Bearer ${ADMIN_TOKEN}` } : {}) },
        ...(route.method === 'PUT' ? { body: deposit({}) } : {}),
      }),
      expect: [404],
    })),
    { label: 'PUT with If-None-Match: * and the payload as id', request: (p) => ({ method: 'PUT', path: `/contexts/${encodeURIComponent(p)}`, headers: { ...jsonHeaders, 'if-none-match': '*' }, body: deposit({}) }), expect: [404] },
    ...['/contexts', '/accounts', '/webhooks', '/accounts/{account}/entries'].flatMap((list) =>
      ['limit', 'cursor', ...(list === '/contexts' ? ['state'] : [])].map((parameter): Case => ({
        label: `GET ${list}?${parameter}=payload`,
        request: (p) => ({ method: 'GET', path: `${list.replace('{account}', account)}?${parameter}=${encodeURIComponent(p)}`, headers: auth }),
        expect: [400],
      })),
    ),
    ...['id', 'tenant', 'state'].map((parameter): Case => ({
      label: `GET /admin/contexts?${parameter}=payload`,
      request: (p) => ({ method: 'GET', path: `/admin/contexts?tenant=${attacker.id}&${parameter}=${encodeURIComponent(p)}`, headers: { authorization: `Bearer ${ADMIN_TOKEN}` } }),
      expect: [400],
    })),
    {
      label: 'GET /admin/contexts?idempotencyKey=payload (a key to look for: data)',
      request: (p) => ({ method: 'GET', path: `/admin/contexts?idempotencyKey=${encodeURIComponent(p)}`, headers: { authorization: `Bearer ${ADMIN_TOKEN}` } }),
      expect: [200],
      verify: (_p, json) => (at<unknown[]>(json, 'items').length === 0 ? undefined : 'found contexts'),
    },
    {
      label: 'GET /contexts?idempotencyKey=payload (a key to look for: data)',
      request: (p) => ({ method: 'GET', path: `/contexts?idempotencyKey=${encodeURIComponent(p)}`, headers: auth }),
      expect: [200],
      verify: (_p, json) => (at<number>(json, 'count') === 0 ? undefined : `found ${at<number>(json, 'count')} contexts`),
    },
    { label: 'POST /accounts name=payload (data)', request: (p) => ({ method: 'POST', path: '/accounts', headers: jsonHeaders, body: body({ name: p, currency: 'EUR' }) }), expect: [201], verify: sameString('name') },
    { label: 'POST /accounts currency=payload', request: (p) => ({ method: 'POST', path: '/accounts', headers: jsonHeaders, body: body({ name: 'n', currency: p }) }), expect: [422] },
    { label: 'POST /webhooks url=payload', request: (p) => ({ method: 'POST', path: '/webhooks', headers: jsonHeaders, body: body({ url: p }) }), expect: [422] },
    {
      label: 'POST /webhooks with the payload in the URL query (data)',
      request: (p) => ({ method: 'POST', path: '/webhooks', headers: jsonHeaders, body: body({ url: `https://example.com/hook?q=${encodeURIComponent(p)}` }) }),
      expect: [201],
      verify: (p, json) => (new URL(at(json, 'url')).searchParams.get('q') === p ? undefined : `url came back as ${String(at(json, 'url'))}`),
    },
    { label: 'POST /contexts ttlSeconds=payload', request: (p) => ({ method: 'POST', path: '/contexts', headers: jsonHeaders, body: body({ ttlSeconds: p }) }), expect: [422] },
    { label: 'one-shot POST /contexts with action.account=payload', request: (p) => ({ method: 'POST', path: '/contexts', headers: { ...jsonHeaders, 'idempotency-key': randomUUID() }, body: deposit({ account: p }) }), expect: [422] },
  ];
  for (const [member, extra] of [
    ['account', (p: string) => ({ account: p })],
    ['type', (p: string) => ({ type: p })],
    ['currency', (p: string) => ({ currency: p })],
    ['from', (p: string) => ({ type: 'transfer', from: p, to: account, account: undefined })],
    ['to', (p: string) => ({ type: 'transfer', from: account, to: p, account: undefined })],
    ['source', (p: string) => ({ type: 'payment', source: p })],
  ] as const) {
    cases.push({
      label: `PUT /contexts/{id} with action.${member}=payload`,
      request: (p) => ({ method: 'PUT', path: `/contexts/${randomUUID()}`, headers: { ...jsonHeaders, 'if-none-match': '*' }, body: deposit(extra(p)) }),
      expect: [422],
    });
  }
  const openForIfMatch = await open();
  cases.push(
    { label: 'PUT with If-Match: payload', request: (p) => ({ method: 'PUT', path: `/contexts/${openForIfMatch}`, headers: { ...jsonHeaders, 'if-match': p }, body: deposit({}) }), expect: [412] },
    { label: 'DELETE with If-Match: payload', request: (p) => ({ method: 'DELETE', path: `/contexts/${openForIfMatch}`, headers: { ...auth, 'if-match': p } }), expect: [412] },
    { label: 'GET with If-None-Match: payload', request: (p) => ({ method: 'GET', path: `/contexts/${openForIfMatch}`, headers: { ...auth, 'if-none-match': p } }), expect: [200] },
    { label: 'GET with Prefer: payload', request: (p) => ({ method: 'GET', path: `/webhooks/${webhook}`, headers: { ...auth, prefer: p } }), expect: [200] },
    {
      label: 'POST /accounts with Idempotency-Key: payload (a key: data, or malformed)',
      request: (p) => ({ method: 'POST', path: '/accounts', headers: { ...jsonHeaders, 'idempotency-key': p }, body: body({ name: 'keyed', currency: 'EUR' }) }),
      expect: [201, 400],
    },
    { label: 'Authorization: Bearer payload', request: (p) => ({ method: 'GET', path: '/accounts', headers: { authorization: `Bearer ${p}` } }), expect: [401] },
    { label: 'Authorization: payload', request: (p) => ({ method: 'GET', path: '/contexts', headers: { authorization: p } }), expect: [401] },
    { label: 'Authorization: Bearer key+payload', request: (p) => ({ method: 'GET', path: '/accounts', headers: { authorization: `Bearer ${attacker.apiKey}${p.replace(/\s/g, '')}` } }), expect: [401] },
    { label: 'POST /tenants with Authorization: Bearer payload', request: (p) => ({ method: 'POST', path: '/tenants', headers: { 'content-type': 'application/json', authorization: `Bearer ${p}` }, body: body({ name: 'x' }) }), expect: [401] },
  );

  const failures: string[] = [];
  let requests = 0;
  for (const payload of PAYLOADS) {
    for (const testCase of cases) {
      const request = testCase.request(payload);
      const before = await snapshotState(server.database.pool);
      const started = Date.now();
      const reply = await rawRequest(server.base, request);
      const ms = Date.now() - started;
      requests++;
      const where = `${testCase.label} [${payload}] → ${reply.status}`;
      const violation = problemViolation(reply.status, reply.headers['content-type'], reply.text);
      if (violation) failures.push(`${where}: ${violation}`);
      if (!testCase.expect.includes(reply.status)) failures.push(`${where}: expected ${testCase.expect.join(' or ')}: ${reply.text.slice(0, 200)}`);
      if (ms > MAX_MS) failures.push(`${where}: took ${ms} ms`);
      if (reply.status >= 400 && !isDeepStrictEqual(await snapshotState(server.database.pool), before)) failures.push(`${where}: the refusal changed the state`);
      if (reply.status < 300 && testCase.verify) {
        const problem = testCase.verify(payload, JSON.parse(reply.text) as unknown);
        if (problem) failures.push(`${where}: ${problem}`);
      }
    }
  }
  t.deepEqual(failures, [], `${failures.length} of ${requests} requests went wrong`);

  // Names are data all the way: what was stored is what was sent.
  const names = (await server.database.pool.query<{ name: string }>('SELECT name FROM accounts WHERE tenant_id = $1', [attacker.id])).rows.map((row) => row.name);
  for (const payload of PAYLOADS) t.true(names.includes(payload), `account named ${payload} stored as sent`);

  // Nothing was dropped or emptied; the tenants keep their rows and keys; the victim is untouched.
  const tablesAfter = await tableCounts(server.database.pool);
  t.deepEqual(Object.keys(tablesAfter), Object.keys(tablesBefore), 'every table is still there');
  for (const [table, count] of Object.entries(tablesBefore)) t.true((tablesAfter[table] ?? -1) >= count, `${table}: ${count} → ${tablesAfter[table]}`);
  const tenantsAfter = (await server.database.pool.query<{ id: string; hash: string }>(`SELECT id, encode(api_key_hash, 'hex') AS hash FROM tenants ORDER BY id`)).rows;
  t.deepEqual(tenantsAfter, tenantsBefore);
  t.deepEqual(await snapshotState(server.database.pool, victim.id), victimBefore);
  t.is(await victim.balance(victimAccount), 1_000);
  t.is((await victim.request('GET', '/accounts')).status, 200, 'the victim\'s key still works');
});

test.serial('SQL injection in the admin token and a tenant name: refused, or the name kept as data', async (t) => {
  const before = await tableCounts(server.database.pool);
  for (const payload of PAYLOADS) {
    const refused = await rawRequest(server.base, { method: 'POST', path: '/tenants', headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN_TOKEN}${payload.replace(/\s/g, '')}` }, body: JSON.stringify({ name: 'x' }) });
    t.is(refused.status, 401, payload);
    const created = await rawRequest(server.base, { method: 'POST', path: '/tenants', headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN_TOKEN}` }, body: JSON.stringify({ name: payload }) });
    t.is(created.status, 201, payload);
    t.is(at(JSON.parse(created.text) as unknown, 'name'), payload);
  }
  const after = await tableCounts(server.database.pool);
  t.is(after['tenants'], (before['tenants'] ?? 0) + PAYLOADS.length, 'one tenant per accepted request, no more, no fewer');
});
