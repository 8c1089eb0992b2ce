// GET with Prefer: wait=N (RFC 7240): held until the context changes (LISTEN/NOTIFY) or N runs out.
import { randomUUID } from 'node:crypto';
import test from 'ava';
import pg from 'pg';
import { CONTEXT_CHANGED_CHANNEL } from '../../src/contexts/change-listener.ts';
import { at, withTestServer } from '../helpers/server.ts';

const server = withTestServer(test);

test('a waiter is woken within 1 s of the change and sees the new state', async (t) => {
  const account = await server.tenant.createAccount();
  const context = await server.tenant.createContext();
  const started = Date.now();
  const waiting = server.tenant.request('GET', `/contexts/${context.id}`, { headers: { prefer: 'wait=10' } });
  await new Promise((resolve) => setTimeout(resolve, 300));
  const changedAt = Date.now();
  const put = await server.tenant.request('PUT', `/contexts/${context.id}`, {
    headers: { 'if-match': context.etag },
    body: { action: { type: 'deposit', account, amount: 5 } },
  });
  t.is(put.status, 200);
  const reply = await waiting;
  const wokeAfter = Date.now() - changedAt;
  t.is(reply.status, 200);
  t.is(at(reply.json, 'state'), 'succeeded');
  t.is(reply.headers.get('preference-applied'), 'wait=10');
  t.true(Date.now() - started >= 300, 'it did wait');
  t.true(wokeAfter < 1_000, `woken ${wokeAfter} ms after the change`);
});

test('with a matching If-None-Match and no change, the wait ends in 304', async (t) => {
  const context = await server.tenant.createContext();
  const started = Date.now();
  const reply = await server.tenant.request('GET', `/contexts/${context.id}`, {
    headers: { prefer: 'wait=1', 'if-none-match': context.etag },
  });
  t.is(reply.status, 304);
  t.is(reply.headers.get('etag'), context.etag);
  t.is(reply.headers.get('preference-applied'), 'wait=1');
  t.true(Date.now() - started >= 950, 'held for the wait');
});

test('the wait is capped at 30 s, and the applied value says so', async (t) => {
  const account = await server.tenant.createAccount();
  const context = await server.tenant.createContext();
  const waiting = server.tenant.request('GET', `/contexts/${context.id}`, { headers: { prefer: 'wait=999' } });
  await new Promise((resolve) => setTimeout(resolve, 200));
  await server.tenant.request('PUT', `/contexts/${context.id}`, {
    headers: { 'if-match': context.etag },
    body: { action: { type: 'deposit', account, amount: 1 } },
  });
  const reply = await waiting;
  t.is(reply.status, 200);
  t.is(reply.headers.get('preference-applied'), 'wait=30');
});

test('a failed If-Match is answered at once, not after the wait', async (t) => {
  const context = await server.tenant.createContext();
  const started = Date.now();
  const reply = await server.tenant.request('GET', `/contexts/${context.id}`, { headers: { prefer: 'wait=20', 'if-match': '"9"' } });
  t.is(reply.status, 412);
  t.true(Date.now() - started < 5_000);
});

test('a cancellation wakes the waiter too', async (t) => {
  const context = await server.tenant.createContext();
  const waiting = server.tenant.request('GET', `/contexts/${context.id}`, { headers: { prefer: 'wait=10', 'if-none-match': context.etag } });
  await new Promise((resolve) => setTimeout(resolve, 200));
  await server.tenant.request('DELETE', `/contexts/${context.id}`, { headers: { 'if-match': context.etag } });
  const reply = await waiting;
  t.is(reply.status, 410);
});

test('terminal contexts and stale copies are answered at once, without Preference-Applied', async (t) => {
  const account = await server.tenant.createAccount();
  const done = at((await server.tenant.deposit(account, 1)).json, 'id');
  let started = Date.now();
  const terminal = await server.tenant.request('GET', `/contexts/${done}`, { headers: { prefer: 'wait=999' } });
  t.is(terminal.status, 200);
  t.is(terminal.headers.get('preference-applied'), null, 'not held, so the preference was not applied');
  t.true(Date.now() - started < 5_000, 'answered at once, not after 30 s');

  const open = await server.tenant.createContext();
  started = Date.now();
  const stale = await server.tenant.request('GET', `/contexts/${open.id}`, { headers: { prefer: 'respond-async, wait=20', 'if-none-match': '"0"' } });
  t.is(stale.status, 200);
  t.is(stale.headers.get('preference-applied'), null);
  t.true(Date.now() - started < 5_000, 'the client had an old copy: no reason to wait 20 s');

  const ignored = await server.tenant.request('GET', `/contexts/${open.id}`, { headers: { prefer: 'wait=soon' } });
  t.is(ignored.status, 200);
  t.is(ignored.headers.get('preference-applied'), null, 'a malformed preference is ignored');
});

test('a context changed in a later transaction notifies; one created and executed by one request does not', async (t) => {
  // Nobody can wait on a context before it has committed, and a NOTIFY serializes commits
  // database-wide (db/migrations/006): the one-shot PUT must not send one.
  const listener = new pg.Client({ connectionString: server.database.url });
  await listener.connect();
  const heard: string[] = [];
  listener.on('notification', (message) => heard.push(message.payload ?? ''));
  await listener.query(`LISTEN ${CONTEXT_CHANGED_CHANNEL}`);
  try {
    const account = await server.tenant.createAccount();
    const oneShot = randomUUID();
    const created = await server.tenant.request('PUT', `/contexts/${oneShot}`, {
      headers: { 'if-none-match': '*' },
      body: { action: { type: 'deposit', account, amount: 1 } },
    });
    t.is(created.status, 201);
    const context = await server.tenant.createContext();
    const executed = await server.tenant.request('PUT', `/contexts/${context.id}`, {
      headers: { 'if-match': context.etag },
      body: { action: { type: 'deposit', account, amount: 1 } },
    });
    t.is(executed.status, 200);
    const deadline = Date.now() + 5_000;
    while (!heard.some((payload) => payload.endsWith(context.id)) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    t.true(heard.some((payload) => payload.endsWith(context.id)), 'the execution of an existing context notified');
    t.false(heard.some((payload) => payload.endsWith(oneShot)), 'the one-shot creation did not');
  } finally {
    await listener.end();
  }
});
