import { randomUUID } from 'node:crypto';
import test from 'ava';
import { at, withTestServer } from '../helpers/server.ts';

const server = withTestServer(test);

test('POST /accounts → 201 + Location + ETag, balance 0; GET with ETag and 304', async (t) => {
  const created = await server.tenant.request('POST', '/accounts', { body: { name: 'Alice', currency: 'EUR' } });
  t.is(created.status, 201);
  const id = at(created.json, 'id');
  t.is(created.headers.get('location'), `/accounts/${id}`);
  t.is(created.headers.get('etag'), '"1"');
  t.like(created.json as object, { name: 'Alice', currency: 'EUR', balance: 0, version: 1 });
  t.is(at(created.json, '_links', 'entries', 'href'), `/accounts/${id}/entries`);

  const got = await server.tenant.request('GET', `/accounts/${id}`);
  t.is(got.status, 200);
  t.is(got.headers.get('etag'), '"1"');
  t.is((await server.tenant.request('GET', `/accounts/${id}`, { headers: { 'if-none-match': '"1"' } })).status, 304);
  await server.tenant.deposit(id, 25);
  const after = await server.tenant.request('GET', `/accounts/${id}`, { headers: { 'if-none-match': '"1"' } });
  t.is(after.status, 200, 'a balance change changes the validator');
  t.is(after.headers.get('etag'), '"2"');
  t.is(at<number>(after.json, 'balance'), 25);
});

test('account creation validates name and ISO 4217 currency', async (t) => {
  for (const body of [
    { name: 'x', currency: 'ABC' },
    { name: 'x', currency: 'eur' },
    { name: 'x', currency: 'EURO' },
    { name: '', currency: 'EUR' },
    { name: 'x' },
    { currency: 'EUR' },
    { name: 'x', currency: 'EUR', balance: 100 },
    { name: 5, currency: 'EUR' },
    { name: 'nul\u0000byte', currency: 'EUR' },
  ]) {
    const reply = await server.tenant.request('POST', '/accounts', { body });
    t.is(reply.status, 422, JSON.stringify(body));
    t.is(reply.headers.get('content-type'), 'application/problem+json');
  }
  t.is((await server.tenant.request('POST', '/accounts')).status, 400, 'a body is required');
  t.is((await server.tenant.request('POST', '/accounts', { body: 'name=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } })).status, 415);
});

test('unknown, malformed and foreign account ids are 404', async (t) => {
  const other = await server.newTenant('other');
  const theirs = await other.createAccount();
  for (const id of [randomUUID(), 'abc', theirs]) {
    t.is((await server.tenant.request('GET', `/accounts/${id}`)).status, 404);
    t.is((await server.tenant.request('GET', `/accounts/${id}/entries`)).status, 404);
  }
});

test('deposits and transfers post append-only entries that recompute every balance', async (t) => {
  const tenant = await server.newTenant('entries');
  const a = await tenant.createAccount('USD');
  const b = await tenant.createAccount('USD');
  await tenant.deposit(a, 500);
  const context = await tenant.createContext();
  const moved = await tenant.request('PUT', `/contexts/${context.id}`, {
    headers: { 'if-match': context.etag },
    body: { action: { type: 'transfer', from: a, to: b, amount: 120, currency: 'USD' } },
  });
  t.is(moved.status, 200);
  t.like(at<object[]>(moved.json, 'result', 'entries'), [
    { account: a, amount: -120, balanceAfter: 380 },
    { account: b, amount: 120, balanceAfter: 120 },
  ]);
  const entries = await tenant.request('GET', `/accounts/${a}/entries`);
  t.is(entries.status, 200);
  const list = at<{ amount: number; context: string }[]>(entries.json, '_embedded', 'entries');
  t.deepEqual(list.map((entry) => entry.amount), [-120, 500], 'newest first');
  t.is(list[0]?.context, context.id);
  t.is(at(entries.json, '_links', 'account', 'href'), `/accounts/${a}`);
  const error = await server.database.pool
    .query('UPDATE entries SET amount = 1 WHERE account_id = $1', [a])
    .then(() => undefined, (e: Error) => e.message);
  t.regex(error ?? '', /append-only/);
});

test('transfers between currencies, to the same account, or from unknown accounts are 422 with no effect', async (t) => {
  const eur = await server.tenant.createAccount('EUR');
  const usd = await server.tenant.createAccount('USD');
  await server.tenant.deposit(eur, 100);
  for (const [action, type] of [
    [{ type: 'transfer', from: eur, to: usd, amount: 1 }, 'currency-mismatch'],
    [{ type: 'transfer', from: eur, to: eur, amount: 1 }, 'invalid-action'],
    [{ type: 'transfer', from: eur, to: randomUUID(), amount: 1 }, 'unknown-account'],
    [{ type: 'transfer', from: randomUUID(), to: eur, amount: 1 }, 'unknown-account'],
    [{ type: 'transfer', from: eur, to: usd, amount: 1, currency: 'USD' }, 'currency-mismatch'],
  ] as const) {
    const context = await server.tenant.createContext();
    const reply = await server.tenant.request('PUT', `/contexts/${context.id}`, { headers: { 'if-match': context.etag }, body: { action } });
    t.is(reply.status, 422, JSON.stringify(action));
    t.is(at(reply.json, 'type'), `https://idempotence.dev/problems/${type}`);
  }
  t.is(await server.tenant.balance(eur), 100);
  t.is(await server.tenant.balance(usd), 0);
});

test('a balance that would pass 2^53 - 1 is refused with 422, exactly', async (t) => {
  const account = await server.tenant.createAccount('JPY');
  t.is((await server.tenant.deposit(account, Number.MAX_SAFE_INTEGER)).status, 200);
  const over = await server.tenant.deposit(account, 1);
  t.is(over.status, 422);
  t.is(at(over.json, 'type'), 'https://idempotence.dev/problems/balance-limit-exceeded');
  t.is(await server.tenant.balance(account), Number.MAX_SAFE_INTEGER);
});

test('lists page with a cursor, validate limit, and answer 304 to a matching list ETag', async (t) => {
  const tenant = await server.newTenant('lists');
  const ids: string[] = [];
  for (let i = 0; i < 5; i++) ids.push(await tenant.createAccount('CHF', `acct ${i}`));
  const seen: string[] = [];
  let next: string | undefined = '/accounts?limit=2';
  let pages = 0;
  while (next) {
    const page = await tenant.request('GET', next);
    t.is(page.status, 200);
    seen.push(...at<{ id: string }[]>(page.json, '_embedded', 'accounts').map((account) => account.id));
    next = at<string | undefined>(page.json, '_links', 'next', 'href');
    pages++;
  }
  t.is(pages, 3);
  t.deepEqual(seen, [...ids].reverse(), 'newest first, each once');

  const first = await tenant.request('GET', '/accounts');
  const etag = first.headers.get('etag') ?? '';
  t.regex(etag, /^"/, 'strong list validator');
  t.is((await tenant.request('GET', '/accounts', { headers: { 'if-none-match': etag } })).status, 304);
  await tenant.createAccount('CHF');
  t.is((await tenant.request('GET', '/accounts', { headers: { 'if-none-match': etag } })).status, 200);

  for (const query of ['limit=0', 'limit=101', 'limit=abc', 'limit=1&limit=2', 'cursor=zzz', 'cursor=%27%3B--']) {
    const reply = await tenant.request('GET', `/accounts?${query}`);
    t.is(reply.status, 400, query);
    t.is(reply.headers.get('content-type'), 'application/problem+json');
  }
});
