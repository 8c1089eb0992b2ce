// Accepting a card payment: 202 at once, the job recorded with the context; no worker runs here.
import { randomUUID } from 'node:crypto';
import test from 'ava';
import { at, withTestServer } from '../helpers/server.ts';

const server = withTestServer(test);

const payment = (account: string, amount = 1_000, source = 'tok_ok') => ({ action: { type: 'payment', account, amount, source } });

test('PUT a payment → 202 processing with Retry-After, Location and the new ETag; duplicates replay the 202', async (t) => {
  const account = await server.tenant.createAccount();
  const context = await server.tenant.createContext();
  const path = `/contexts/${context.id}`;
  const accepted = await server.tenant.request('PUT', path, { headers: { 'if-match': context.etag }, body: payment(account) });
  t.is(accepted.status, 202);
  t.is(accepted.headers.get('etag'), '"2"');
  t.is(accepted.headers.get('location'), path);
  t.is(accepted.headers.get('retry-after'), '1');
  t.like(accepted.json as object, { state: 'processing', version: 2, attempts: 0, result: null, error: null });
  const again = await server.tenant.request('PUT', path, { headers: { 'if-match': context.etag }, body: payment(account) });
  t.is(again.status, 202);
  t.is(again.headers.get('idempotent-replayed'), 'true');
  t.is(again.text, accepted.text);
  const other = await server.tenant.request('PUT', path, { headers: { 'if-match': '"2"' }, body: payment(account, 5) });
  t.is(other.status, 409);
  t.is((await server.tenant.request('DELETE', path, { headers: { 'if-match': '"2"' } })).status, 409, 'DELETE while processing');
  t.is(await server.tenant.balance(account), 0, 'nothing credited before the charge');
  const listed = await server.tenant.request('GET', '/contexts?state=processing');
  t.true(at<{ id: string }[]>(listed.json, '_embedded', 'contexts').some((c) => c.id === context.id));
});

test('PUT If-None-Match: * with a payment on a new id → 202 with Location', async (t) => {
  const account = await server.tenant.createAccount();
  const id = randomUUID();
  const reply = await server.tenant.request('PUT', `/contexts/${id}`, { headers: { 'if-none-match': '*' }, body: payment(account) });
  t.is(reply.status, 202);
  t.is(reply.headers.get('location'), `/contexts/${id}`);
  const replay = await server.tenant.request('PUT', `/contexts/${id}`, { headers: { 'if-none-match': '*' }, body: payment(account) });
  t.is(replay.status, 202);
  t.is(replay.headers.get('idempotent-replayed'), 'true');
});

test('an unknown card token, an unknown account or a wrong currency is 422 and leaves the context open', async (t) => {
  const account = await server.tenant.createAccount('EUR');
  const context = await server.tenant.createContext();
  for (const [body, type] of [
    [payment(account, 100, 'tok_nope'), 'unknown-payment-source'],
    [payment(randomUUID()), 'unknown-account'],
    [{ action: { type: 'payment', account, amount: 100, source: 'tok_ok', currency: 'USD' } }, 'currency-mismatch'],
    [{ action: { type: 'payment', account, amount: 0, source: 'tok_ok' } }, 'invalid-action'],
    [{ action: { type: 'payment', account, amount: 1 } }, 'invalid-action'],
  ] as const) {
    const reply = await server.tenant.request('PUT', `/contexts/${context.id}`, { headers: { 'if-match': context.etag }, body });
    t.is(reply.status, 422, JSON.stringify(body));
    t.is(at(reply.json, 'type'), `https://idempotence.dev/problems/${type}`);
  }
  const after = await server.tenant.request('GET', `/contexts/${context.id}`);
  t.is(at(after.json, 'state'), 'open');
  t.is(after.headers.get('etag'), context.etag);
});

test('a payment whose credit could never fit the balance limit is refused at once', async (t) => {
  const account = await server.tenant.createAccount('JPY');
  await server.tenant.deposit(account, Number.MAX_SAFE_INTEGER - 10);
  const context = await server.tenant.createContext();
  const reply = await server.tenant.request('PUT', `/contexts/${context.id}`, { headers: { 'if-match': context.etag }, body: payment(account, 11) });
  t.is(reply.status, 422);
  t.is(at(reply.json, 'type'), 'https://idempotence.dev/problems/balance-limit-exceeded');
});
