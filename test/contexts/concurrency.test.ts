// Real concurrent connections against real Postgres: the cases idempotence exists for.
import { randomUUID } from 'node:crypto';
import test from 'ava';
import { at, type Reply, withTestServer } from '../helpers/server.ts';
import { holdAccountLock } from '../helpers/account-lock.ts';

const server = withTestServer(test);

const N = 50;

function deposit(account: string, amount: number) {
  return { action: { type: 'deposit', account, amount } };
}

function statuses(replies: Reply[]): Record<number, number> {
  const counts: Record<number, number> = {};
  for (const reply of replies) counts[reply.status] = (counts[reply.status] ?? 0) + 1;
  return counts;
}

async function entriesOf(context: string): Promise<number> {
  const { rows } = await server.database.pool.query('SELECT count(*)::int AS n FROM entries WHERE context_id = $1', [context]);
  return rows[0].n;
}

/** Waits until `count` backends of the test database are blocked on a lock (serial tests only: it counts them all). */
async function lockWaiters(count: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const { rows } = await server.database.pool.query(
      "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
    );
    if (rows[0].n >= count) return;
    if (Date.now() > deadline) throw new Error(`expected ${count} lock waiters, saw ${rows[0].n}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}


test(`${N} concurrent identical PUTs on one open context: one effect, all 200, one original and the rest replays`, async (t) => {
  const account = await server.tenant.createAccount();
  const context = await server.tenant.createContext();
  const replies = await Promise.all(
    Array.from({ length: N }, () =>
      server.tenant.request('PUT', `/contexts/${context.id}`, { headers: { 'if-match': context.etag }, body: deposit(account, 10) }),
    ),
  );
  t.deepEqual(statuses(replies), { 200: N });
  t.is(replies.filter((reply) => reply.headers.get('idempotent-replayed') === 'true').length, N - 1);
  t.is(new Set(replies.map((reply) => reply.text)).size, 1, 'every answer is the same representation');
  t.is(await server.tenant.balance(account), 10);
  t.is(await entriesOf(context.id), 1);
});

test(`${N} concurrent PUTs with different actions and the same If-Match: exactly one 200, the rest 412`, async (t) => {
  const account = await server.tenant.createAccount();
  const context = await server.tenant.createContext();
  const replies = await Promise.all(
    Array.from({ length: N }, (_, i) =>
      server.tenant.request('PUT', `/contexts/${context.id}`, { headers: { 'if-match': context.etag }, body: deposit(account, i + 1) }),
    ),
  );
  t.deepEqual(statuses(replies), { 200: 1, 412: N - 1 });
  const winner = replies.find((reply) => reply.status === 200);
  t.is(await server.tenant.balance(account), at<number>(winner?.json, 'action', 'amount'));
  t.is(await entriesOf(context.id), 1);
});

test(`${N} concurrent identical PUTs with If-None-Match: * on a new id: one 201, the rest 200 replays, one effect`, async (t) => {
  const account = await server.tenant.createAccount();
  const id = randomUUID();
  const replies = await Promise.all(
    Array.from({ length: N }, () =>
      server.tenant.request('PUT', `/contexts/${id}`, { headers: { 'if-none-match': '*' }, body: deposit(account, 7) }),
    ),
  );
  t.deepEqual(statuses(replies), { 200: N - 1, 201: 1 });
  t.is(replies.filter((reply) => reply.headers.get('idempotent-replayed') === 'true').length, N - 1);
  t.is(await server.tenant.balance(account), 7);
  t.is(await entriesOf(id), 1);
});

test(`${N} concurrent different creates on one new id: one 201, the rest 412`, async (t) => {
  const account = await server.tenant.createAccount();
  const id = randomUUID();
  const replies = await Promise.all(
    Array.from({ length: N }, (_, i) =>
      server.tenant.request('PUT', `/contexts/${id}`, { headers: { 'if-none-match': '*' }, body: deposit(account, i + 1) }),
    ),
  );
  t.deepEqual(statuses(replies), { 201: 1, 412: N - 1 });
  t.is(await entriesOf(id), 1);
});

test.serial('a duplicate that arrives while the first is inside its transaction waits for it and replays its outcome', async (t) => {
  const account = await server.tenant.createAccount();
  const context = await server.tenant.createContext();
  const release = await holdAccountLock(server.database.url, account);
  const put = () =>
    server.tenant.request('PUT', `/contexts/${context.id}`, { headers: { 'if-match': context.etag }, body: deposit(account, 3) });
  const first = put();
  await lockWaiters(1); // the first holds the context lock and waits for the account
  const second = put();
  await lockWaiters(2); // the duplicate waits for the context lock
  await release();
  const [a, b] = await Promise.all([first, second]);
  t.is(a.status, 200);
  t.is(b.status, 200);
  t.is(a.headers.get('idempotent-replayed'), null);
  t.is(b.headers.get('idempotent-replayed'), 'true');
  t.is(b.text, a.text);
  t.is(await server.tenant.balance(account), 3);
});

test.serial('a duplicate create that arrives while the first is inside its transaction waits and replays', async (t) => {
  const account = await server.tenant.createAccount();
  const id = randomUUID();
  const release = await holdAccountLock(server.database.url, account);
  const put = () => server.tenant.request('PUT', `/contexts/${id}`, { headers: { 'if-none-match': '*' }, body: deposit(account, 4) });
  const first = put();
  await lockWaiters(1);
  const second = put();
  await lockWaiters(2); // waits on the unique key of the uncommitted insert
  await release();
  const [a, b] = await Promise.all([first, second]);
  t.is(a.status, 201);
  t.is(b.status, 200);
  t.is(b.headers.get('idempotent-replayed'), 'true');
  t.is(b.text, a.text);
  t.is(await entriesOf(id), 1);
});

test.serial('a create whose first attempt is rejected (422) lets the waiting duplicate run on its own', async (t) => {
  const account = await server.tenant.createAccount('EUR');
  const id = randomUUID();
  const release = await holdAccountLock(server.database.url, account);
  const bad = server.tenant.request('PUT', `/contexts/${id}`, {
    headers: { 'if-none-match': '*' },
    body: { action: { type: 'deposit', account, amount: 1, currency: 'USD' } },
  });
  await lockWaiters(1);
  const good = server.tenant.request('PUT', `/contexts/${id}`, { headers: { 'if-none-match': '*' }, body: deposit(account, 9) });
  await lockWaiters(2);
  await release();
  t.is((await bad).status, 422);
  t.is((await good).status, 201);
  t.is(await server.tenant.balance(account), 9);
});

test('DELETE racing PUT on one open context: exactly one of them wins', async (t) => {
  const account = await server.tenant.createAccount();
  for (let round = 0; round < 10; round++) {
    const context = await server.tenant.createContext();
    const [put, del] = await Promise.all([
      server.tenant.request('PUT', `/contexts/${context.id}`, { headers: { 'if-match': context.etag }, body: deposit(account, 1) }),
      server.tenant.request('DELETE', `/contexts/${context.id}`, { headers: { 'if-match': context.etag } }),
    ]);
    const outcome = `${put.status}/${del.status}`;
    t.true(outcome === '200/412' || outcome === '410/204', outcome);
    t.is(await entriesOf(context.id), put.status === 200 ? 1 : 0);
  }
});

test('money is never created or lost: concurrent transfers in both directions, each sent twice', async (t) => {
  const tenant = await server.newTenant('invariant');
  const accounts = await Promise.all(Array.from({ length: 5 }, () => tenant.createAccount('GBP')));
  let deposited = 0;
  for (const account of accounts) {
    const reply = await tenant.deposit(account, 1_000);
    t.is(reply.status, 200);
    deposited += 1_000;
  }
  const transfers = Array.from({ length: 120 }, (_, i) => {
    const from = accounts[i % accounts.length] ?? '';
    const to = accounts[(i * 7 + 1) % accounts.length] ?? '';
    return { id: randomUUID(), from, to: from === to ? (accounts[(i + 1) % accounts.length] ?? '') : to, amount: 1 + (i % 400) };
  });
  const send = (transfer: (typeof transfers)[number]) =>
    tenant.request('PUT', `/contexts/${transfer.id}`, {
      headers: { 'if-none-match': '*' },
      body: { action: { type: 'transfer', from: transfer.from, to: transfer.to, amount: transfer.amount } },
    });
  // Every transfer is sent twice at once, as a client that retried too early would.
  const replies = await Promise.all(transfers.flatMap((transfer) => [send(transfer), send(transfer)]));
  t.deepEqual(Object.keys(statuses(replies)).sort(), ['200', '201']);
  t.is(replies.filter((reply) => reply.status === 201).length, transfers.length, 'each transfer executed once');

  const { rows } = await server.database.pool.query(
    `SELECT (SELECT sum(balance)::bigint FROM accounts WHERE tenant_id = $1) AS balances,
            (SELECT count(*)::int FROM accounts a WHERE tenant_id = $1
               AND balance <> (SELECT coalesce(sum(amount), 0) FROM entries e WHERE e.tenant_id = a.tenant_id AND e.account_id = a.id)) AS drifted,
            (SELECT count(*)::int FROM (SELECT context_id FROM entries WHERE tenant_id = $1 GROUP BY context_id
               HAVING count(*) NOT IN (1, 2)) AS odd) AS odd_contexts,
            (SELECT coalesce(sum(amount), 0)::bigint FROM entries WHERE tenant_id = $1) AS net`,
    [tenant.id],
  );
  t.is(rows[0].balances, deposited, 'sum of balances = sum of deposits');
  t.is(rows[0].net, deposited, 'transfers net to zero in the entries');
  t.is(rows[0].drifted, 0, 'every balance equals the sum of its entries');
  t.is(rows[0].odd_contexts, 0);
  const failed = replies.filter((reply) => at(reply.json, 'state') === 'failed').length;
  t.log(`${transfers.length} transfers, ${failed / 2} refused for insufficient funds`);
});
