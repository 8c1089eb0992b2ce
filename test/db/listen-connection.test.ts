// The LISTEN connection of long-polls and idle workers (src/db/listen-connection.ts): it comes
// back after its backend is killed, telling its owner of the gap; a LISTEN that hears no NOTIFY
// says so; and a long-poll whose listener cannot connect at all still sees the change.
import { randomUUID } from 'node:crypto';
import test from 'ava';
import { pino } from 'pino';
import { ContextChangeListener } from '../../src/contexts/change-listener.ts';
import { ListenConnection, notifyThrough, type ListenState, PROBE_TIMEOUT_MS } from '../../src/db/listen-connection.ts';
import { freePort } from '../../scripts/free-port.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';
import { at, startTestServer } from '../helpers/server.ts';

let database: TestDatabase;
test.before(async () => {
  database = await createTestDatabase(4);
});
test.after.always(async () => {
  await database?.drop();
});

async function until(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`not ${what} after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

test('a killed LISTEN backend: the owner hears of the gap, the connection comes back and hears again', async (t) => {
  const channel = `test_${randomUUID().slice(0, 8)}`;
  const heard: string[] = [];
  let gaps = 0;
  const connection = new ListenConnection({
    channel,
    client: database.pool.options,
    onNotification: (payload) => heard.push(payload),
    onGap: () => gaps++,
    probe: notifyThrough(database.pool),
  });
  t.teardown(() => connection.close());
  const states: ListenState[] = [connection.state];
  await connection.start();
  await until('listening', () => connection.state === 'listening');
  states.push(connection.state);
  const killed = await database.pool.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND query = $1`, [`LISTEN ${channel}`]);
  t.is(killed.rowCount, 1, 'its backend was found and killed');
  await until('told of the gap', () => gaps === 1);
  await until('listening again', () => connection.state === 'listening');
  t.is(connection.health.reconnects, 1);
  await database.pool.query('SELECT pg_notify($1, $2)', [channel, 'after']);
  await until('hearing', () => heard.includes('after'));
  t.deepEqual(states, ['idle', 'listening']);
  t.false(heard.some((payload) => payload.startsWith('idempotence-probe:')), 'probes are not passed on');
});

test('a LISTEN whose probe never comes back (as through a pooler in transaction mode) is deaf, not listening', async (t) => {
  const connection = new ListenConnection({
    channel: `test_${randomUUID().slice(0, 8)}`,
    client: database.pool.options,
    onNotification: () => undefined,
    onGap: () => undefined,
    probe: async () => undefined, // the NOTIFY goes somewhere this connection does not hear
  });
  t.teardown(() => connection.close());
  await connection.start();
  await until('deaf', () => connection.state === 'deaf', PROBE_TIMEOUT_MS + 3_000);
  t.is(connection.health.reconnects, 0, 'connected all along');
});

test('a long-poll whose listener cannot connect still sees the change, on its recheck timer', async (t) => {
  const nowhere = `postgres://postgres@127.0.0.1:${await freePort()}/postgres`;
  const logger = pino({ level: 'silent' });
  const listener = ContextChangeListener.forPool(database.pool, logger, nowhere);
  const app = await startTestServer({ listener, config: { adminToken: 'unused-admin-token-0123', contextTtlSeconds: 3_600, longPollRecheckMs: 300 } });
  t.teardown(async () => {
    await listener.close();
    await app.close();
  });
  const tenant = app.tenant;
  const account = await tenant.createAccount();
  const context = await tenant.createContext();
  const waiting = tenant.request('GET', `/contexts/${context.id}`, { headers: { prefer: 'wait=10', 'if-none-match': context.etag } });
  await new Promise((resolve) => setTimeout(resolve, 500));
  t.is(listener.health.state, 'reconnecting');
  t.true(listener.health.reconnects >= 1);
  const put = await tenant.request('PUT', `/contexts/${context.id}`, { headers: { 'if-match': context.etag }, body: { action: { type: 'deposit', account, amount: 3 } } });
  t.is(put.status, 200);
  const changed = Date.now();
  const reply = await waiting;
  const after = Date.now() - changed;
  t.is(reply.status, 200);
  t.is(at(reply.json, 'state'), 'succeeded');
  t.log(`woken ${after} ms after the change (recheck 300 ms, no LISTEN)`);
  t.true(after < 1_500, `woken ${after} ms after the change`);
  const ready = await app.request('GET', '/readyz');
  t.like(ready.json as object, { status: 'ready', checks: { database: 'ok', statements: 'named', notifications: 'reconnecting' } });
});

test("the recheck ends a wait on a new version only, not on a worker's claim (which changes the tag)", async (t) => {
  const nowhere = `postgres://postgres@127.0.0.1:${await freePort()}/postgres`;
  const listener = ContextChangeListener.forPool(database.pool, pino({ level: 'silent' }), nowhere);
  const app = await startTestServer({ listener, config: { adminToken: 'unused-admin-token-0123', contextTtlSeconds: 3_600, longPollRecheckMs: 100 } });
  t.teardown(async () => {
    await listener.close();
    await app.close();
  });
  const account = await app.tenant.createAccount();
  const id = randomUUID();
  // No worker runs here: the payment stays processing at version 2.
  const accepted = await app.tenant.request('PUT', `/contexts/${id}`, { headers: { 'if-none-match': '*' }, body: { action: { type: 'payment', account, amount: 5, source: 'tok_ok' } } });
  t.is(accepted.status, 202);
  const started = Date.now();
  const waiting = app.tenant.request('GET', `/contexts/${id}`, { headers: { prefer: 'wait=2', 'if-none-match': '"2"' } });
  await new Promise((resolve) => setTimeout(resolve, 300));
  await app.database.pool.query('UPDATE contexts SET attempts = attempts + 1 WHERE id = $1', [id]); // what a claim writes
  const reply = await waiting;
  t.true(Date.now() - started >= 1_900, `held for the wait, not ended by the claim (${Date.now() - started} ms)`);
  t.is(reply.status, 200, 'the tag changed, so the copy is stale now');
  t.is(at(reply.json, 'state'), 'processing');
});
