// The status table of docs/protocol.md, row by row, over real HTTP against real Postgres.
import { randomUUID } from 'node:crypto';
import test from 'ava';
import { sql } from 'kysely';
import { at, type TenantClient, withTestServer } from '../helpers/server.ts';

const server = withTestServer(test);

const PROBLEM = 'application/problem+json';

async function funded(tenant: TenantClient, amount = 1_000): Promise<{ from: string; to: string }> {
  const from = await tenant.createAccount();
  const to = await tenant.createAccount();
  if (amount > 0) await tenant.deposit(from, amount);
  return { from, to };
}

function transfer(from: string, to: string, amount: number) {
  return { action: { type: 'transfer', from, to, amount } };
}

test('401 + WWW-Authenticate: Bearer without a valid key, on every kind of request', async (t) => {
  const context = await server.tenant.createContext();
  for (const [method, path] of [
    ['GET', '/'],
    ['GET', '/contexts'],
    ['POST', '/contexts'],
    ['GET', `/contexts/${context.id}`],
    ['PUT', `/contexts/${context.id}`],
    ['DELETE', `/contexts/${context.id}`],
    ['GET', '/accounts'],
    ['GET', '/no-such-route'],
  ] as const) {
    for (const key of [null, 'idem_wrong']) {
      const reply = await server.tenant.request(method, path, { key });
      t.is(reply.status, 401, `${method} ${path}`);
      t.regex(reply.headers.get('www-authenticate') ?? '', /^Bearer /);
      t.is(reply.headers.get('content-type'), PROBLEM);
    }
  }
  const basic = await server.tenant.request('GET', '/contexts', { key: null, headers: { authorization: 'Basic Zm9vOmJhcg==' } });
  t.is(basic.status, 401);
});

test('POST /contexts → 201, Location, strong ETag, state open, HAL links', async (t) => {
  const reply = await server.tenant.request('POST', '/contexts');
  t.is(reply.status, 201);
  const id = at(reply.json, 'id');
  t.is(reply.headers.get('location'), `/contexts/${id}`);
  t.is(reply.headers.get('etag'), '"1"');
  t.is(reply.headers.get('content-type'), 'application/hal+json');
  t.like(reply.json as object, { state: 'open', version: 1, action: null, result: null, error: null });
  t.is(at(reply.json, '_links', 'execute', 'href'), `/contexts/${id}`);
  t.is(at(reply.json, '_links', 'cancel', 'href'), `/contexts/${id}`);
  const ttl = Date.parse(at(reply.json, 'expiresAt')) - Date.parse(at(reply.json, 'createdAt'));
  t.is(ttl, 86_400_000, 'default lifetime is 24 h');
});

test('POST /contexts honours ttlSeconds and rejects bad bodies', async (t) => {
  const reply = await server.tenant.request('POST', '/contexts', { body: { ttlSeconds: 60 } });
  t.is(Date.parse(at(reply.json, 'expiresAt')) - Date.parse(at(reply.json, 'createdAt')), 60_000);
  for (const body of [{ ttlSeconds: 0 }, { ttlSeconds: 1.5 }, { ttlSeconds: '60' }, { other: 1 }, []]) {
    const bad = await server.tenant.request('POST', '/contexts', { body });
    t.is(bad.status, 422, JSON.stringify(body));
    t.is(bad.headers.get('content-type'), PROBLEM);
  }
  t.is((await server.tenant.request('POST', '/contexts', { body: '{"ttl', headers: { 'content-type': 'application/json' } })).status, 400);
  t.is((await server.tenant.request('POST', '/contexts', { body: 'ttl=1', headers: { 'content-type': 'text/plain' } })).status, 415);
});

test('PUT / DELETE with neither If-Match nor If-None-Match → 428', async (t) => {
  const { from, to } = await funded(server.tenant);
  const context = await server.tenant.createContext();
  const put = await server.tenant.request('PUT', `/contexts/${context.id}`, { body: transfer(from, to, 1) });
  t.is(put.status, 428);
  t.is(put.headers.get('content-type'), PROBLEM);
  t.is((await server.tenant.request('DELETE', `/contexts/${context.id}`)).status, 428);
  t.is(await server.tenant.balance(from), 1_000, 'no effect');
});

test('unknown id, malformed id, another tenant\'s id → 404 before any precondition', async (t) => {
  const other = await server.newTenant('other');
  const theirs = await other.createContext();
  for (const id of [randomUUID(), 'not-a-uuid', theirs.id, "1' OR '1'='1"]) {
    const path = `/contexts/${encodeURIComponent(id)}`;
    t.is((await server.tenant.request('GET', path)).status, 404, `GET ${id}`);
    t.is((await server.tenant.request('PUT', path, { body: { action: { type: 'deposit' } } })).status, 404, `PUT ${id} (no precondition)`);
    t.is((await server.tenant.request('PUT', path, { headers: { 'if-match': '"1"' }, body: 'x' })).status, 404, `PUT ${id}`);
    t.is((await server.tenant.request('DELETE', path)).status, 404, `DELETE ${id}`);
  }
  const stillOpen = await other.request('GET', `/contexts/${theirs.id}`);
  t.is(at(stillOpen.json, 'state'), 'open');
});

test('PUT, current If-Match, valid action, open → 200 executed, new ETag; the ledger moved', async (t) => {
  const { from, to } = await funded(server.tenant, 500);
  const context = await server.tenant.createContext();
  const reply = await server.tenant.request('PUT', `/contexts/${context.id}`, {
    headers: { 'if-match': context.etag },
    body: transfer(from, to, 200),
  });
  t.is(reply.status, 200);
  t.is(reply.headers.get('etag'), '"2"');
  t.is(reply.headers.get('idempotent-replayed'), null);
  t.like(reply.json as object, { state: 'succeeded', version: 2, error: null, action: { type: 'transfer', amount: 200 } });
  t.is(at<unknown>(reply.json, '_links', 'execute'), undefined, 'no execute link once executed');
  t.is(at<unknown[]>(reply.json, 'result', 'entries').length, 2);
  t.is(await server.tenant.balance(from), 300);
  t.is(await server.tenant.balance(to), 200);
});

test('PUT repeated with the same action → 200 byte-for-byte replay with Idempotent-Replayed, no new effect', async (t) => {
  const { from, to } = await funded(server.tenant, 500);
  const context = await server.tenant.createContext();
  const path = `/contexts/${context.id}`;
  const first = await server.tenant.request('PUT', path, { headers: { 'if-match': context.etag }, body: transfer(from, to, 100) });
  // Same If-Match, the current one, a stale one, garbage, and the same JSON spelled differently.
  const variants = [
    { headers: { 'if-match': context.etag }, body: transfer(from, to, 100) },
    { headers: { 'if-match': '"2"' }, body: transfer(from, to, 100) },
    { headers: { 'if-match': '"17"' }, body: transfer(from, to, 100) },
    { headers: { 'if-match': 'garbage' }, body: transfer(from, to, 100) },
    {
      headers: { 'if-match': context.etag, 'content-type': 'application/json' },
      body: `{ "action" : { "amount": 100.0, "to": "${to}", "type": "transfer", "from": "${from}" } }`,
    },
  ];
  for (const variant of variants) {
    const again = await server.tenant.request('PUT', path, variant);
    t.is(again.status, 200);
    t.is(again.headers.get('idempotent-replayed'), 'true');
    t.is(again.headers.get('etag'), '"2"');
    t.is(again.text, first.text, 'byte-for-byte');
  }
  t.is(await server.tenant.balance(from), 400, 'moved once');
  const got = await server.tenant.request('GET', path);
  t.is(got.text, first.text, 'GET shows the recorded representation');
});

test('an insufficient-funds outcome is recorded (200, failed), consumes the context and replays', async (t) => {
  const { from, to } = await funded(server.tenant, 50);
  const context = await server.tenant.createContext();
  const path = `/contexts/${context.id}`;
  const reply = await server.tenant.request('PUT', path, { headers: { 'if-match': context.etag }, body: transfer(from, to, 80) });
  t.is(reply.status, 200);
  t.like(reply.json as object, { state: 'failed', version: 2, result: null });
  t.is(at(reply.json, 'error', 'type'), 'https://idempotence.dev/problems/insufficient-funds');
  t.is(await server.tenant.balance(from), 50);
  const again = await server.tenant.request('PUT', path, { headers: { 'if-match': context.etag }, body: transfer(from, to, 80) });
  t.is(again.headers.get('idempotent-replayed'), 'true');
  t.is(again.text, reply.text);
  const other = await server.tenant.request('PUT', path, { headers: { 'if-match': '"2"' }, body: transfer(from, to, 10) });
  t.is(other.status, 409, 'the failed context is consumed');
});

test('PUT, stale If-Match, a different action → 412 with the current ETag', async (t) => {
  const { from, to } = await funded(server.tenant);
  const context = await server.tenant.createContext();
  const path = `/contexts/${context.id}`;
  await server.tenant.request('PUT', path, { headers: { 'if-match': context.etag }, body: transfer(from, to, 1) });
  const reply = await server.tenant.request('PUT', path, { headers: { 'if-match': context.etag }, body: transfer(from, to, 2) });
  t.is(reply.status, 412);
  t.is(reply.headers.get('etag'), '"2"');
  t.is(reply.headers.get('content-type'), PROBLEM);
  t.is(at(reply.json, 'type'), 'https://idempotence.dev/problems/precondition-failed');
  const openOne = await server.tenant.createContext();
  const stale = await server.tenant.request('PUT', `/contexts/${openOne.id}`, { headers: { 'if-match': '"5"' }, body: transfer(from, to, 2) });
  t.is(stale.status, 412);
  t.is(stale.headers.get('etag'), '"1"');
  t.is(await server.tenant.balance(from), 999);
});

test('PUT, current If-Match, a different action, already executed → 409', async (t) => {
  const { from, to } = await funded(server.tenant);
  const context = await server.tenant.createContext();
  const path = `/contexts/${context.id}`;
  await server.tenant.request('PUT', path, { headers: { 'if-match': context.etag }, body: transfer(from, to, 1) });
  const reply = await server.tenant.request('PUT', path, { headers: { 'if-match': '"2"' }, body: transfer(from, to, 2) });
  t.is(reply.status, 409);
  t.is(at(reply.json, 'type'), 'https://idempotence.dev/problems/context-already-executed');
  t.is(await server.tenant.balance(from), 999);
});

test('PUT If-None-Match: * on an unknown UUID creates the context and executes (201 + Location); repeats replay; others 412', async (t) => {
  const { from, to } = await funded(server.tenant, 300);
  const id = randomUUID();
  const path = `/contexts/${id}`;
  const created = await server.tenant.request('PUT', path, { headers: { 'if-none-match': '*' }, body: transfer(from, to, 100) });
  t.is(created.status, 201);
  t.is(created.headers.get('location'), path);
  t.is(created.headers.get('etag'), '"2"');
  t.like(created.json as object, { id, state: 'succeeded', version: 2 });
  const replay = await server.tenant.request('PUT', path, { headers: { 'if-none-match': '*' }, body: transfer(from, to, 100) });
  t.is(replay.status, 200);
  t.is(replay.headers.get('idempotent-replayed'), 'true');
  t.is(replay.text, created.text);
  const different = await server.tenant.request('PUT', path, { headers: { 'if-none-match': '*' }, body: transfer(from, to, 5) });
  t.is(different.status, 412);
  t.is(await server.tenant.balance(from), 200);
});

test('PUT If-None-Match: * on another tenant\'s id creates this tenant\'s own context', async (t) => {
  const other = await server.newTenant('other');
  const theirs = await other.createContext();
  const account = await server.tenant.createAccount();
  const reply = await server.tenant.request('PUT', `/contexts/${theirs.id}`, {
    headers: { 'if-none-match': '*' },
    body: { action: { type: 'deposit', account, amount: 5 } },
  });
  t.is(reply.status, 201);
  t.is(at((await other.request('GET', `/contexts/${theirs.id}`)).json, 'state'), 'open', 'theirs is untouched');
});

test('a rejected create (422) leaves nothing behind', async (t) => {
  const id = randomUUID();
  const reply = await server.tenant.request('PUT', `/contexts/${id}`, {
    headers: { 'if-none-match': '*' },
    body: { action: { type: 'deposit', account: randomUUID(), amount: 5 } },
  });
  t.is(reply.status, 422);
  t.is(at(reply.json, 'type'), 'https://idempotence.dev/problems/unknown-account');
  t.is((await server.tenant.request('GET', `/contexts/${id}`)).status, 404);
});

test('GET with a matching If-None-Match → 304 with ETag and no body', async (t) => {
  const context = await server.tenant.createContext();
  const path = `/contexts/${context.id}`;
  const fresh = await server.tenant.request('GET', path, { headers: { 'if-none-match': context.etag } });
  t.is(fresh.status, 304);
  t.is(fresh.text, '');
  t.is(fresh.headers.get('etag'), context.etag);
  t.is((await server.tenant.request('GET', path, { headers: { 'if-none-match': `"0", W/${context.etag}` } })).status, 304);
  const changed = await server.tenant.request('GET', path, { headers: { 'if-none-match': '"0"' } });
  t.is(changed.status, 200);
  t.is(changed.headers.get('cache-control'), 'private, no-cache');
  const head = await server.tenant.request('HEAD', path);
  t.is(head.status, 200);
  t.is(head.headers.get('etag'), context.etag);
});

test('DELETE, current If-Match, open → 204; afterwards GET/PUT/DELETE → 410', async (t) => {
  const { from, to } = await funded(server.tenant);
  const context = await server.tenant.createContext();
  const path = `/contexts/${context.id}`;
  const deleted = await server.tenant.request('DELETE', path, { headers: { 'if-match': context.etag } });
  t.is(deleted.status, 204);
  t.is(deleted.text, '');
  for (const [method, options] of [
    ['GET', {}],
    ['PUT', { headers: { 'if-match': '"2"' }, body: transfer(from, to, 1) }],
    ['PUT', { headers: { 'if-none-match': '*' }, body: transfer(from, to, 1) }],
    ['DELETE', { headers: { 'if-match': '"2"' } }],
  ] as const) {
    const reply = await server.tenant.request(method, path, options);
    t.is(reply.status, 410, method);
    t.is(at(reply.json, 'type'), 'https://idempotence.dev/problems/context-cancelled');
  }
  t.is(await server.tenant.balance(from), 1_000);
});

test('DELETE on an executed context → 409 (history is never deleted); stale If-Match → 412', async (t) => {
  const { from, to } = await funded(server.tenant);
  const context = await server.tenant.createContext();
  const path = `/contexts/${context.id}`;
  await server.tenant.request('PUT', path, { headers: { 'if-match': context.etag }, body: transfer(from, to, 1) });
  t.is((await server.tenant.request('DELETE', path, { headers: { 'if-match': '"2"' } })).status, 409);
  const open = await server.tenant.createContext();
  const stale = await server.tenant.request('DELETE', `/contexts/${open.id}`, { headers: { 'if-match': '"9"' } });
  t.is(stale.status, 412);
  t.is(at((await server.tenant.request('GET', `/contexts/${open.id}`)).json, 'state'), 'open');
});

test('PUT on an open context past expiresAt → 410 context-expired; GET shows state expired', async (t) => {
  const { from, to } = await funded(server.tenant);
  const context = await server.tenant.createContext();
  const path = `/contexts/${context.id}`;
  await sql`UPDATE contexts SET expires_at = now() - interval '1 second' WHERE id = ${context.id}`.execute(server.database.db);
  const put = await server.tenant.request('PUT', path, { headers: { 'if-match': context.etag }, body: transfer(from, to, 1) });
  t.is(put.status, 410);
  t.is(at(put.json, 'type'), 'https://idempotence.dev/problems/context-expired');
  t.is((await server.tenant.request('DELETE', path, { headers: { 'if-match': context.etag } })).status, 410);
  const got = await server.tenant.request('GET', path);
  t.is(got.status, 200);
  t.is(at(got.json, 'state'), 'expired');
  t.is(at<unknown>(got.json, '_links', 'execute'), undefined);
  t.not(got.headers.get('etag'), context.etag, 'expiry changes the validator');
  t.is((await server.tenant.request('GET', path, { headers: { 'if-none-match': context.etag } })).status, 200);
  t.is(await server.tenant.balance(from), 1_000);
});

test('malformed actions are 422 and leave the context open with the same ETag', async (t) => {
  const { from, to } = await funded(server.tenant);
  const context = await server.tenant.createContext();
  const path = `/contexts/${context.id}`;
  const bad = [
    {},
    { action: null },
    { action: { type: 'withdraw', account: from, amount: 1 } },
    { action: { type: 'deposit', account: from, amount: 0 } },
    { action: { type: 'deposit', account: from, amount: -5 } },
    { action: { type: 'deposit', account: from, amount: 1.5 } },
    { action: { type: 'deposit', account: from, amount: '10' } },
    { action: { type: 'deposit', account: from, amount: 2 ** 53 } },
    { action: { type: 'deposit', account: from, amount: 1, extra: true } },
    { action: { type: 'deposit', account: 'nope', amount: 1 } },
    { action: { type: 'deposit', account: `urn:uuid:${from}`, amount: 1 } },
    { action: { type: 'deposit', account: from, amount: 1, currency: 'EU\u0000' } },
    { action: { type: 'dep\u0000osit', account: from, amount: 1 } },
    { action: { type: 'transfer', from, to: from, amount: 1 } },
    { action: { type: 'transfer', from, to, amount: 1 }, more: 1 },
    { action: { type: 'deposit', account: randomUUID(), amount: 1 } },
    { action: { type: 'deposit', account: from, amount: 1, currency: 'USD' } },
    { action: { type: 'deposit', account: from, amount: 1, currency: 'eur' } },
  ];
  for (const body of bad) {
    const reply = await server.tenant.request('PUT', path, { headers: { 'if-match': context.etag }, body });
    t.is(reply.status, 422, JSON.stringify(body));
    t.is(reply.headers.get('content-type'), PROBLEM);
    t.truthy(at(reply.json, 'detail'), 'says what is wrong');
  }
  const after = await server.tenant.request('GET', path);
  t.is(at(after.json, 'state'), 'open');
  t.is(after.headers.get('etag'), context.etag);
});

test('a body that is not JSON → 400, an unsupported content type → 415, both without change', async (t) => {
  const context = await server.tenant.createContext();
  const path = `/contexts/${context.id}`;
  const headers = { 'if-match': context.etag };
  const notJson = await server.tenant.request('PUT', path, { headers: { ...headers, 'content-type': 'application/json' }, body: '{"action":' });
  t.is(notJson.status, 400);
  t.is(notJson.headers.get('content-type'), PROBLEM);
  t.regex(at(notJson.json, 'detail'), /JSON/);
  const empty = await server.tenant.request('PUT', path, { headers });
  t.is(empty.status, 400);
  const text = await server.tenant.request('PUT', path, { headers: { ...headers, 'content-type': 'text/plain' }, body: '{}' });
  t.is(text.status, 415);
  const latin1 = await server.tenant.request('PUT', path, {
    headers: { ...headers, 'content-type': 'application/json; charset=iso-8859-1' },
    body: '{}',
  });
  t.is(latin1.status, 415);
  const big = await server.tenant.request('PUT', path, { headers, body: { action: { type: 'deposit', pad: 'x'.repeat(70_000) } } });
  t.is(big.status, 413);
  t.is(big.headers.get('content-type'), PROBLEM);
  const after = await server.tenant.request('GET', path);
  t.is(after.headers.get('etag'), context.etag);
});

test('a context links only what may be done next; a client that follows links can execute and cancel', async (t) => {
  const root = await server.tenant.request('GET', '/');
  t.is(root.status, 200);
  const contextsHref = at(root.json, '_links', 'contexts', 'href');
  const accountsHref = at(root.json, '_links', 'accounts', 'href');
  const account = await server.tenant.request('POST', accountsHref, { body: { name: 'Links', currency: 'JPY' } });
  const created = await server.tenant.request('POST', contextsHref);
  const execute = at(created.json, '_links', 'execute', 'href');
  const done = await server.tenant.request('PUT', execute, {
    headers: { 'if-match': created.headers.get('etag') ?? '' },
    body: { action: { type: 'deposit', account: at(account.json, 'id'), amount: 700 } },
  });
  t.is(done.status, 200);
  const entries = await server.tenant.request('GET', at(account.json, '_links', 'entries', 'href'));
  t.is(at<unknown[]>(entries.json, '_embedded', 'entries').length, 1);
  const another = await server.tenant.request('POST', contextsHref);
  const cancel = at(another.json, '_links', 'cancel', 'href');
  t.is((await server.tenant.request('DELETE', cancel, { headers: { 'if-match': another.headers.get('etag') ?? '' } })).status, 204);
});
