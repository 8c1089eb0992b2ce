// Requests in progress per tenant: a tenant at its limit waits for one of its own slots or is
// answered 429; other tenants are not held up; a long-poll gives its slot back while it waits.
import { randomUUID } from 'node:crypto';
import test from 'ava';
import { problemType } from '../../src/http/problems.ts';
import { limitedServer, sleep } from '../helpers/rate-limits.ts';
import { holdAccountLock } from '../helpers/account-lock.ts';
import { at, type TestServer } from '../helpers/server.ts';
import { checkReply } from '../helpers/spec.ts';


/** Waits until `count` backends of the server's database wait for a lock. */
async function lockWaiters(server: TestServer, count: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const { rows } = await server.database.pool.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
    );
    if ((rows[0]?.n ?? 0) >= count) return;
    if (Date.now() > deadline) throw new Error(`expected ${count} lock waiters, saw ${rows[0]?.n}`);
    await sleep(20);
  }
}

const oneShotDeposit = (server: TestServer, account: string, amount: number) =>
  server.tenant.request('PUT', `/contexts/${randomUUID()}`, { headers: { 'if-none-match': '*' }, body: { action: { type: 'deposit', account, amount } } });

test('a tenant with its limit of requests in progress is answered 429; another tenant is served meanwhile', async (t) => {
  const server = await limitedServer(t, { tenantConcurrency: 2, concurrencyWaitMs: 0 });
  const account = await server.tenant.createAccount();
  const release = await holdAccountLock(server.database.url, account);
  let released = false;
  t.teardown(async () => {
    if (!released) await release();
  });
  const held = [oneShotDeposit(server, account, 1), oneShotDeposit(server, account, 2)];
  await lockWaiters(server, 2);
  const refused = await server.tenant.request('GET', '/accounts');
  t.is(refused.status, 429);
  t.is(at(refused.json, 'type'), problemType('too-many-requests'));
  t.deepEqual(at<string[]>(refused.json, 'violated-policies'), ['tenant-concurrency']);
  t.regex(at<string>(refused.json, 'detail'), /2 requests in progress/);
  t.is(refused.headers.get('retry-after'), '1');
  t.is(refused.headers.get('ratelimit-policy'), '"tenant-concurrency";q=2;qu="concurrent-requests"');
  t.is(refused.headers.get('ratelimit'), '"tenant-concurrency";r=0');
  t.deepEqual(checkReply('GET', '/accounts', refused), []);
  const other = await server.newTenant('other');
  t.is((await other.request('GET', '/accounts')).status, 200, 'another tenant still gets a connection');
  await release();
  released = true;
  t.deepEqual((await Promise.all(held)).map((reply) => reply.status), [201, 201]);
  t.is((await server.tenant.request('GET', '/accounts')).status, 200, 'slots are given back when requests finish');
  t.is(await server.tenant.balance(account), 3);
});

test('with a wait, a request over the limit waits for a slot of its tenant instead of failing', async (t) => {
  const server = await limitedServer(t, { tenantConcurrency: 1, concurrencyWaitMs: 10_000 });
  const account = await server.tenant.createAccount();
  const release = await holdAccountLock(server.database.url, account);
  const first = oneShotDeposit(server, account, 5);
  await lockWaiters(server, 1);
  let answered = false;
  const waiting = server.tenant.request('GET', `/accounts/${account}`).then((reply) => {
    answered = true;
    return reply;
  });
  await sleep(300);
  t.false(answered, 'the second request waits while the first holds the only slot');
  await release();
  t.is((await first).status, 201);
  const second = await waiting;
  t.is(second.status, 200);
  t.is(at<number>(second.json, 'balance'), 5, 'it ran after the first one finished');
});

test('a long-poll gives its slot back while it waits, and answers when the context changes', async (t) => {
  const server = await limitedServer(t, { tenantConcurrency: 1, concurrencyWaitMs: 0 });
  const account = await server.tenant.createAccount();
  const context = await server.tenant.createContext();
  let pollDone = false;
  const poll = server.tenant.request('GET', `/contexts/${context.id}`, { headers: { prefer: 'wait=10', 'if-none-match': context.etag } }).then((reply) => {
    pollDone = true;
    return reply;
  });
  // The poll reads, then waits; from then on the tenant's one slot is free for other requests.
  let served = false;
  const deadline = Date.now() + 5_000;
  while (!served && Date.now() < deadline) {
    served = (await server.tenant.request('GET', '/accounts')).status === 200;
    if (!served) await sleep(50);
  }
  t.true(served, 'another request of the tenant was served during the wait');
  t.false(pollDone, '…while the long-poll was still waiting');
  const executed = await server.tenant.request('PUT', `/contexts/${context.id}`, {
    headers: { 'if-match': context.etag },
    body: { action: { type: 'deposit', account, amount: 9 } },
  });
  t.is(executed.status, 200, 'and a PUT too');
  const woken = await poll;
  t.is(woken.status, 200);
  t.is(at(woken.json, 'state'), 'succeeded');
  t.is(woken.headers.get('preference-applied'), 'wait=10');
  t.is((await server.tenant.request('GET', '/accounts')).status, 200, 'the slot it took back is released at the end');
});
