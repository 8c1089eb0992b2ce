// Idempotency-Key on every POST, case by case (IETF httpapi draft + the pitfalls it lists).
import { randomUUID } from 'node:crypto';
import test from 'ava';
import { sql } from 'kysely';
import pg from 'pg';
import { deleteExpiredKeys } from '../../src/idempotency/repository.ts';
import { ADMIN_TOKEN, at, send, withTestServer } from '../helpers/server.ts';

const server = withTestServer(test);

const keyed = (key: string, extra: Record<string, string> = {}) => ({ 'idempotency-key': key, ...extra });

async function accountCount(tenantId: string): Promise<number> {
  const { rows } = await server.database.pool.query('SELECT count(*)::int AS n FROM accounts WHERE tenant_id = $1', [tenantId]);
  return rows[0].n;
}

test('first use executes and says until when the key is kept; a replay returns the same status and body', async (t) => {
  const tenant = await server.newTenant('first');
  const key = randomUUID();
  const first = await tenant.request('POST', '/accounts', { headers: keyed(key), body: { name: 'A', currency: 'EUR' } });
  t.is(first.status, 201);
  t.is(first.headers.get('idempotent-replayed'), null);
  const expires = Date.parse(first.headers.get('idempotency-key-expires') ?? '');
  t.true(Math.abs(expires - (Date.now() + 86_400_000)) < 60_000, 'kept for 24 h');
  const again = await tenant.request('POST', '/accounts', { headers: keyed(key), body: { currency: 'EUR', name: 'A' } });
  t.is(again.status, 201);
  t.is(again.headers.get('idempotent-replayed'), 'true');
  t.is(again.text, first.text);
  t.is(again.headers.get('location'), first.headers.get('location'));
  t.is(again.headers.get('etag'), first.headers.get('etag'));
  t.is(await accountCount(tenant.id), 1);
});

test('the quoted (structured field) and the bare form are the same key', async (t) => {
  const tenant = await server.newTenant('forms');
  const key = `k-${randomUUID()}`;
  const bare = await tenant.request('POST', '/accounts', { headers: keyed(key), body: { name: 'A', currency: 'EUR' } });
  const quoted = await tenant.request('POST', '/accounts', { headers: keyed(`"${key}"`), body: { name: 'A', currency: 'EUR' } });
  t.is(quoted.headers.get('idempotent-replayed'), 'true');
  t.is(quoted.text, bare.text);
  t.is(await accountCount(tenant.id), 1);
});

test('the same key with a different payload → 422 idempotency-key-reused, no effect', async (t) => {
  const tenant = await server.newTenant('reuse');
  const key = randomUUID();
  await tenant.request('POST', '/accounts', { headers: keyed(key), body: { name: 'A', currency: 'EUR' } });
  const other = await tenant.request('POST', '/accounts', { headers: keyed(key), body: { name: 'B', currency: 'EUR' } });
  t.is(other.status, 422);
  t.is(other.headers.get('content-type'), 'application/problem+json');
  t.is(at(other.json, 'type'), 'https://idempotence.dev/problems/idempotency-key-reused');
  t.is(await accountCount(tenant.id), 1);
});

test('two Idempotency-Key header lines → 400', async (t) => {
  const tenant = await server.newTenant('two keys');
  const { port } = new URL(server.base);
  const body = JSON.stringify({ name: 'A', currency: 'EUR' });
  const net = await import('node:net');
  // fetch would merge the two lines; send them as they are.
  const raw = await new Promise<string>((resolve, reject) => {
    const socket = net.connect(Number(port), '127.0.0.1', () => {
      socket.write(
        `POST /accounts HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${tenant.apiKey}\r\nContent-Type: application/json\r\n` +
          `Idempotency-Key: a\r\nIdempotency-Key: b\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
      );
    });
    let text = '';
    socket.on('data', (chunk: Buffer) => (text += chunk.toString()));
    socket.on('end', () => resolve(text));
    socket.on('error', reject);
  });
  t.regex(raw, /^HTTP\/1\.1 400 /);
  t.true(raw.includes('https://idempotence.dev/problems/invalid-idempotency-key'));
  t.is(await accountCount(tenant.id), 0);
});

test('a malformed key → 400; a one-shot POST without a key → 400; neither has an effect', async (t) => {
  const tenant = await server.newTenant('malformed');
  for (const key of ['""', '"open', 'x'.repeat(256), '"a\\qb"']) {
    const reply = await tenant.request('POST', '/accounts', { headers: keyed(key), body: { name: 'A', currency: 'EUR' } });
    t.is(reply.status, 400, key);
    t.is(at(reply.json, 'type'), 'https://idempotence.dev/problems/invalid-idempotency-key');
  }
  const account = await tenant.createAccount();
  const oneShot = await tenant.request('POST', '/contexts', { body: { action: { type: 'deposit', account, amount: 5 } } });
  t.is(oneShot.status, 400);
  t.is(at(oneShot.json, 'type'), 'https://idempotence.dev/problems/idempotency-key-required');
  t.is(await tenant.balance(account), 0);
});

test('one-shot POST /contexts with an action and a key: created and executed at once, the key visible and searchable', async (t) => {
  const tenant = await server.newTenant('one-shot');
  const account = await tenant.createAccount();
  const key = `order-${randomUUID()}`;
  const body = { action: { type: 'deposit', account, amount: 300 } };
  const first = await tenant.request('POST', '/contexts', { headers: keyed(key), body });
  t.is(first.status, 201);
  t.like(first.json as object, { state: 'succeeded', version: 2, idempotencyKey: key });
  const id = at(first.json, 'id');
  t.is(first.headers.get('location'), `/contexts/${id}`);
  const replay = await tenant.request('POST', '/contexts', { headers: keyed(`"${key}"`), body });
  t.is(replay.status, 201);
  t.is(replay.headers.get('idempotent-replayed'), 'true');
  t.is(replay.text, first.text);
  const different = await tenant.request('POST', '/contexts', { headers: keyed(key), body: { action: { type: 'deposit', account, amount: 301 } } });
  t.is(different.status, 422);
  t.is(await tenant.balance(account), 300);
  const found = await tenant.request('GET', `/contexts?idempotencyKey=${encodeURIComponent(key)}`);
  t.deepEqual(at<{ id: string }[]>(found.json, '_embedded', 'contexts').map((c) => c.id), [id]);
  // A PUT of the same action on that context is a replay too: the key is the context.
  const put = await tenant.request('PUT', `/contexts/${id}`, { headers: { 'if-match': '"2"' }, body });
  t.is(put.status, 200);
  t.is(put.headers.get('idempotent-replayed'), 'true');
});

test('a rejected one-shot (422) records nothing: the corrected retry with the same key executes', async (t) => {
  const tenant = await server.newTenant('rejected');
  const account = await tenant.createAccount('EUR');
  const key = randomUUID();
  const bad = await tenant.request('POST', '/contexts', { headers: keyed(key), body: { action: { type: 'deposit', account: randomUUID(), amount: 1 } } });
  t.is(bad.status, 422);
  const good = await tenant.request('POST', '/contexts', { headers: keyed(key), body: { action: { type: 'deposit', account, amount: 1 } } });
  t.is(good.status, 201);
  t.is(good.headers.get('idempotent-replayed'), null);
});

test('50 concurrent POSTs with the same key: one effect, all 2xx with identical bodies', async (t) => {
  const tenant = await server.newTenant('burst');
  const account = await tenant.createAccount();
  const key = randomUUID();
  const replies = await Promise.all(
    Array.from({ length: 50 }, () => tenant.request('POST', '/contexts', { headers: keyed(key), body: { action: { type: 'deposit', account, amount: 7 } } })),
  );
  t.true(replies.every((reply) => reply.status === 201), JSON.stringify(replies.map((r) => r.status)));
  t.is(new Set(replies.map((reply) => reply.text)).size, 1);
  t.is(replies.filter((reply) => reply.headers.get('idempotent-replayed') === 'true').length, 49);
  t.is(await tenant.balance(account), 7);
});

test('the same key from two tenants, or on two operations, is two independent keys', async (t) => {
  const a = await server.newTenant('a');
  const b = await server.newTenant('b');
  const key = 'shared-key-1';
  const ra = await a.request('POST', '/accounts', { headers: keyed(key), body: { name: 'A', currency: 'EUR' } });
  const rb = await b.request('POST', '/accounts', { headers: keyed(key), body: { name: 'A', currency: 'EUR' } });
  t.is(rb.headers.get('idempotent-replayed'), null);
  t.not(at(ra.json, 'id'), at(rb.json, 'id'));
  const hook = await a.request('POST', '/webhooks', { headers: keyed(key), body: { url: 'https://example.com/hook' } });
  t.is(hook.status, 201);
  t.is(hook.headers.get('idempotent-replayed'), null);
  const ctx = await a.request('POST', '/contexts', { headers: keyed(key) });
  t.is(ctx.status, 201);
  t.is(ctx.headers.get('idempotent-replayed'), null);
  t.is(at(ctx.json, 'idempotencyKey'), key, 'a keyed plain create shows its key too');
  const found = await a.request('GET', `/contexts?idempotencyKey=${key}`);
  t.deepEqual(at<{ id: string }[]>(found.json, '_embedded', 'contexts').map((c) => c.id), [at(ctx.json, 'id')]);
});

test('an expired key executes anew; the sweeper removes it and leaves the context\'s history', async (t) => {
  const tenant = await server.newTenant('expiry');
  const account = await tenant.createAccount();
  const key = randomUUID();
  const body = { action: { type: 'deposit', account, amount: 2 } };
  const first = await tenant.request('POST', '/contexts', { headers: keyed(key), body });
  await sql`UPDATE idempotency_keys SET expires_at = now() - interval '1 second' WHERE key = ${key}`.execute(server.database.db);
  const second = await tenant.request('POST', '/contexts', { headers: keyed(key), body });
  t.is(second.status, 201);
  t.is(second.headers.get('idempotent-replayed'), null, 'past its retention the key is new again');
  t.not(at(second.json, 'id'), at(first.json, 'id'));
  t.is(await tenant.balance(account), 4);
  await sql`UPDATE idempotency_keys SET expires_at = now() - interval '1 second' WHERE key = ${key}`.execute(server.database.db);
  t.true((await deleteExpiredKeys(server.database.db)) >= 1);
  const { rows } = await server.database.pool.query('SELECT count(*)::int AS n FROM idempotency_keys WHERE key = $1', [key]);
  t.is(rows[0].n, 0);
  const history = await tenant.request('GET', `/contexts?idempotencyKey=${key}`);
  t.is(at<unknown[]>(history.json, '_embedded', 'contexts').length, 2, 'both contexts still say which key made them');
});

test('POST /tenants with a key: a retry gets the same tenant with a fresh key (keys are never stored in clear)', async (t) => {
  const key = randomUUID();
  const first = await server.request('POST', '/tenants', { key: ADMIN_TOKEN, headers: keyed(key), body: { name: 'keyed' } });
  t.is(first.status, 201);
  const retry = await server.request('POST', '/tenants', { key: ADMIN_TOKEN, headers: keyed(key), body: { name: 'keyed' } });
  t.is(retry.status, 201);
  t.is(retry.headers.get('idempotent-replayed'), 'true');
  t.is(at(retry.json, 'id'), at(first.json, 'id'));
  t.is((await send(server.base, 'GET', '/accounts', { key: at(retry.json, 'apiKey') })).status, 200);
  t.is((await send(server.base, 'GET', '/accounts', { key: at(first.json, 'apiKey') })).status, 401, 'the lost key stops working');
  const stored = await server.database.pool.query('SELECT response_body FROM idempotency_keys WHERE key = $1', [key]);
  t.false(String(stored.rows[0].response_body).includes(at(first.json, 'apiKey')));
});

test.serial('a duplicate that arrives while the first is inside its transaction waits, then replays', async (t) => {
  const tenant = await server.newTenant('wait');
  const account = await tenant.createAccount();
  const lock = new pg.Client({ connectionString: server.database.url });
  await lock.connect();
  await lock.query('BEGIN');
  await lock.query('SELECT 1 FROM accounts WHERE id = $1 FOR UPDATE', [account]);
  const key = randomUUID();
  const post = () => tenant.request('POST', '/contexts', { headers: keyed(key), body: { action: { type: 'deposit', account, amount: 9 } } });
  const waiters = async (n: number) => {
    for (let i = 0; i < 500; i++) {
      const { rows } = await server.database.pool.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'");
      if (rows[0].n >= n) return;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    throw new Error('no lock waiters');
  };
  const first = post();
  await waiters(1);
  const second = post();
  await waiters(2);
  await lock.query('COMMIT');
  await lock.end();
  const [a, b] = await Promise.all([first, second]);
  t.is(a.status, 201);
  t.is(b.status, 201);
  t.is(b.headers.get('idempotent-replayed'), 'true');
  t.is(b.text, a.text);
  t.is(await tenant.balance(account), 9);
});
