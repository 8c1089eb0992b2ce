// The outbox and its deliverer against real Postgres and a real HTTP receiver. Serial: a round
// claims every due row of the database, whichever test wrote it.
import test from 'ava';
import { sql } from 'kysely';
import {
  deliverDueWebhooks,
  MAX_WEBHOOK_ATTEMPTS,
  runWebhookDeliverer,
  WEBHOOK_BACKOFF_CAP_MS,
  webhookBackoffMs,
} from '../../src/webhooks/deliverer.ts';
import { enqueueWebhookEvent } from '../../src/webhooks/outbox.ts';
import { verifyWebhook } from '../../src/webhooks/signing.ts';
import { at, startTestServer, type TenantClient, type TestServer } from '../helpers/server.ts';
import { Receiver, type ReceivedWebhook } from './receiver.ts';

let server: TestServer;
const receiver = new Receiver();
test.before(async () => {
  server = await startTestServer();
  await receiver.start();
});
test.after.always(async () => {
  await receiver.stop();
  await server?.close();
});

interface Endpoint {
  id: string;
  secret: string;
  path: string;
}

async function register(tenant: TenantClient, path: string): Promise<Endpoint> {
  const reply = await tenant.request('POST', '/webhooks', { body: { url: receiver.url(path) } });
  if (reply.status !== 201) throw new Error(`register: ${reply.status} ${reply.text}`);
  return { id: at(reply.json, 'id'), secret: at(reply.json, 'secret'), path };
}

interface DeliveryRow {
  id: number;
  endpoint_id: string;
  event_id: string;
  event_type: string;
  payload: string;
  attempts: number;
  delivered: boolean;
  locked: boolean;
  due_in_ms: number | null;
  last_error: string | null;
}

async function rows(tenantId: string): Promise<DeliveryRow[]> {
  const result = await sql<DeliveryRow>`
    SELECT id, endpoint_id, event_id, event_type, payload, attempts, delivered_at IS NOT NULL AS delivered,
           locked_until IS NOT NULL AS locked, last_error,
           CASE WHEN next_attempt_at = 'infinity' THEN NULL ELSE extract(epoch FROM next_attempt_at - now()) * 1000 END::float8 AS due_in_ms
      FROM webhook_deliveries WHERE tenant_id = ${tenantId} ORDER BY id`.execute(server.database.db);
  return result.rows;
}

async function makeDue(tenantId: string): Promise<void> {
  await sql`UPDATE webhook_deliveries SET next_attempt_at = now() WHERE tenant_id = ${tenantId} AND delivered_at IS NULL`.execute(server.database.db);
}

function verifies(received: ReceivedWebhook, endpoint: Endpoint): boolean {
  return verifyWebhook(endpoint.secret, received.headers, received.body);
}

test.serial('the backoff doubles from 1 s with jitter in [d/2, d] and is capped at 1 h', (t) => {
  t.is(webhookBackoffMs(1, () => 0), 500);
  t.is(webhookBackoffMs(1, () => 1), 1_000);
  t.is(webhookBackoffMs(2, () => 1), 2_000);
  t.is(webhookBackoffMs(3, () => 0.5), 3_000);
  t.is(webhookBackoffMs(12, () => 1), 2_048_000);
  t.is(webhookBackoffMs(13, () => 1), WEBHOOK_BACKOFF_CAP_MS);
  t.is(webhookBackoffMs(13, () => 0), WEBHOOK_BACKOFF_CAP_MS / 2);
  t.is(webhookBackoffMs(1_000, () => 1), WEBHOOK_BACKOFF_CAP_MS, 'no overflow');
  t.is(webhookBackoffMs(0, () => 1), 1_000, 'never below the base');
  for (let attempt = 1; attempt <= MAX_WEBHOOK_ATTEMPTS; attempt++) {
    const ceiling = Math.min(WEBHOOK_BACKOFF_CAP_MS, 1_000 * 2 ** (attempt - 1));
    const delay = webhookBackoffMs(attempt);
    t.true(delay >= ceiling / 2 && delay <= ceiling, `attempt ${attempt}: ${delay}`);
  }
});

test.serial('enqueue writes one row per endpoint of the tenant, in the caller\'s transaction', async (t) => {
  const db = server.database.db;
  const tenant = await server.newTenant('enqueue');
  const other = await server.newTenant('enqueue-other');
  const lonely = await server.newTenant('no endpoints');
  const a = await register(tenant, '/enqueue/a');
  const b = await register(tenant, '/enqueue/b');
  await register(other, '/enqueue/other');

  await enqueueWebhookEvent(db, lonely.id, { type: 'context.succeeded', data: {} });
  t.deepEqual(await rows(lonely.id), [], 'no endpoints, no rows, no error');

  await db.transaction().execute(async (trx) => {
    await enqueueWebhookEvent(trx, tenant.id, { type: 'context.failed', data: { id: 'ctx', note: 'ünï \u0000 "q"' } });
  });
  const written = await rows(tenant.id);
  t.deepEqual(written.map((row) => row.endpoint_id).sort(), [a.id, b.id].sort());
  t.deepEqual(await rows(other.id), [], 'only the tenant\'s own endpoints');
  const [first, second] = written;
  t.regex(first?.event_id ?? '', /^msg_[0-9a-f-]{36}$/);
  t.is(first?.event_id, second?.event_id, 'one event id for every endpoint');
  t.is(first?.payload, second?.payload);
  t.is(first?.event_type, 'context.failed');
  t.is(first?.attempts, 0);
  const payload = JSON.parse(first?.payload ?? '') as { type: string; timestamp: string; data: unknown };
  t.deepEqual(Object.keys(payload), ['type', 'timestamp', 'data']);
  t.is(payload.type, 'context.failed');
  t.is(new Date(payload.timestamp).toISOString(), payload.timestamp);
  t.deepEqual(payload.data, { id: 'ctx', note: 'ünï \u0000 "q"' });

  await t.throwsAsync(
    db.transaction().execute(async (trx) => {
      await enqueueWebhookEvent(trx, tenant.id, { type: 'context.succeeded', data: {} });
      throw new Error('the state change failed');
    }),
    { message: 'the state change failed' },
  );
  t.is((await rows(tenant.id)).length, 2, 'a rolled-back transaction sends nothing');
  await t.throwsAsync(enqueueWebhookEvent(db, tenant.id, { type: 'context.succeeded. bad', data: {} }));

  await tenant.request('DELETE', `/webhooks/${b.id}`);
  t.deepEqual((await rows(tenant.id)).map((row) => row.endpoint_id), [a.id], 'deleting an endpoint drops its deliveries');
  await db.deleteFrom('webhook_deliveries').execute();
});

test.serial('an executed action queues its event in the statement that records it: one row per endpoint, the answer as data', async (t) => {
  const tenant = await server.newTenant('fused');
  const a = await register(tenant, '/fused/a');
  const b = await register(tenant, '/fused/b');
  const account = await tenant.createAccount();
  const context = await tenant.createContext();
  const reply = await tenant.request('PUT', `/contexts/${context.id}`, {
    headers: { 'if-match': context.etag },
    body: { action: { type: 'deposit', account, amount: 5 } },
  });
  t.is(reply.status, 200);
  const written = await rows(tenant.id);
  t.deepEqual(written.map((row) => row.endpoint_id).sort(), [a.id, b.id].sort(), 'once per endpoint, not twice');
  const [first, second] = written;
  t.is(first?.event_id, second?.event_id);
  t.regex(first?.event_id ?? '', /^msg_[0-9a-f-]{36}$/);
  t.is(first?.event_type, 'context.succeeded');
  const payload = JSON.parse(first?.payload ?? '') as { type: string; timestamp: string; data: unknown };
  t.deepEqual(Object.keys(payload), ['type', 'timestamp', 'data']);
  t.is(new Date(payload.timestamp).toISOString(), payload.timestamp);
  t.deepEqual(payload.data, reply.json, 'the event carries the representation the client got');
  await server.database.pool.query('DELETE FROM webhook_deliveries WHERE tenant_id = $1', [tenant.id]);
});

test.serial('down, then failing, then up: retried with backoff, then every event arrives signed, once per endpoint', async (t) => {
  const db = server.database.db;
  const tenant = await server.newTenant('outage');
  const a = await register(tenant, '/outage/a');
  const b = await register(tenant, '/outage/b');
  const endpoints = new Map([[a.path, a], [b.path, b]]);
  receiver.received.length = 0;
  const events = [
    { type: 'context.succeeded', data: { id: 'c1', state: 'succeeded' } },
    { type: 'context.failed', data: { id: 'c2', state: 'failed' } },
    { type: 'context.cancelled', data: { id: 'c3', state: 'cancelled' } },
  ];
  for (const event of events) await enqueueWebhookEvent(db, tenant.id, event);

  // 1. Nobody listens: connection refused.
  await receiver.stop();
  t.deepEqual(await deliverDueWebhooks(db, { timeoutMs: 2_000 }), { delivered: 0, failed: 6 });
  let state = await rows(tenant.id);
  for (const row of state) {
    t.false(row.delivered);
    t.false(row.locked, 'the claim is released');
    t.is(row.attempts, 1);
    t.regex(row.last_error ?? '', /fetch failed/);
    t.true((row.due_in_ms ?? 0) > 0 && (row.due_in_ms ?? 0) <= 1_000, `next attempt after 0.5-1 s: ${row.due_in_ms}`);
  }
  t.deepEqual(await deliverDueWebhooks(db), { delivered: 0, failed: 0 }, 'nothing is due before its time');

  // 2. It answers 500.
  await receiver.start();
  receiver.mode = 'error';
  await makeDue(tenant.id);
  t.deepEqual(await deliverDueWebhooks(db, { timeoutMs: 2_000 }), { delivered: 0, failed: 6 });
  state = await rows(tenant.id);
  for (const row of state) {
    t.is(row.attempts, 2);
    t.is(row.last_error, 'HTTP 500 Internal Server Error');
    t.true((row.due_in_ms ?? 0) > 200 && (row.due_in_ms ?? 0) <= 2_000, `next attempt after 1-2 s: ${row.due_in_ms}`);
  }
  t.is(receiver.received.length, 6);

  // 3. It is back.
  receiver.mode = 'ok';
  await makeDue(tenant.id);
  t.deepEqual(await deliverDueWebhooks(db, { timeoutMs: 2_000 }), { delivered: 6, failed: 0 });
  state = await rows(tenant.id);
  t.true(state.every((row) => row.delivered && row.attempts === 3 && row.last_error === null && !row.locked));
  t.deepEqual(await deliverDueWebhooks(db), { delivered: 0, failed: 0 }, 'delivered rows are not sent again');

  const acknowledged = receiver.received.filter((request) => request.status === 200);
  t.is(acknowledged.length, 6);
  for (const request of receiver.received) {
    const endpoint = endpoints.get(request.path);
    t.truthy(endpoint, request.path);
    if (!endpoint) continue;
    t.true(verifies(request, endpoint), 'signed with the endpoint\'s own secret');
    t.false(verifyWebhook(endpoint === a ? b.secret : a.secret, request.headers, request.body), 'not with the other one');
    t.is(request.contentType, 'application/json');
    const row = state.find((candidate) => candidate.endpoint_id === endpoint.id && candidate.event_id === request.headers['webhook-id']);
    t.is(request.body, row?.payload ?? '(no row)', 'the stored payload, byte for byte');
  }
  for (const path of endpoints.keys()) {
    const bodies = acknowledged.filter((request) => request.path === path).map((request) => JSON.parse(request.body) as { type: string; data: unknown });
    t.deepEqual(bodies.map((body) => body.type).sort(), events.map((event) => event.type).sort(), `${path} got every event once`);
  }
  const retried = receiver.received.filter((request) => request.path === a.path);
  const ids = new Set(retried.map((request) => request.headers['webhook-id']));
  t.is(ids.size, 3, 'a retry carries the webhook-id of the first attempt');

  // 4. A forced redelivery (as after a lost acknowledgement) repeats id and body, signed anew.
  const target = state.find((row) => row.endpoint_id === a.id);
  await sql`UPDATE webhook_deliveries SET delivered_at = NULL WHERE id = ${target?.id ?? 0}`.execute(db);
  receiver.received.length = 0;
  t.deepEqual(await deliverDueWebhooks(db), { delivered: 1, failed: 0 });
  const [duplicate] = receiver.received;
  t.is(duplicate?.headers['webhook-id'], target?.event_id);
  t.is(duplicate?.body, target?.payload);
  t.true(duplicate !== undefined && verifies(duplicate, a));
  await db.deleteFrom('webhook_deliveries').execute();
});

test.serial(`after ${MAX_WEBHOOK_ATTEMPTS} failed attempts a row is kept but no longer retried`, async (t) => {
  const db = server.database.db;
  const tenant = await server.newTenant('give up');
  await register(tenant, '/give-up');
  receiver.mode = 'error';
  await enqueueWebhookEvent(db, tenant.id, { type: 'context.succeeded', data: {} });
  await sql`UPDATE webhook_deliveries SET attempts = ${MAX_WEBHOOK_ATTEMPTS - 1} WHERE tenant_id = ${tenant.id}`.execute(db);
  t.deepEqual(await deliverDueWebhooks(db), { delivered: 0, failed: 1 });
  const [row] = await rows(tenant.id);
  t.is(row?.attempts, MAX_WEBHOOK_ATTEMPTS);
  t.is(row?.due_in_ms, null, 'next_attempt_at is infinity');
  t.is(row?.last_error, `gave up after ${MAX_WEBHOOK_ATTEMPTS} attempts; last: HTTP 500 Internal Server Error`);
  t.false(row?.delivered);
  await makeDue(tenant.id);
  t.deepEqual(await deliverDueWebhooks(db), { delivered: 0, failed: 0 }, 'not claimed even when due');
  receiver.mode = 'ok';
  await db.deleteFrom('webhook_deliveries').execute();
});

test.serial('concurrent deliverers never send the same row at the same time, and a lease keeps others away', async (t) => {
  const db = server.database.db;
  const tenant = await server.newTenant('race');
  const endpoint = await register(tenant, '/race');
  receiver.mode = 'ok';
  receiver.delayMs = 50;
  receiver.received.length = 0;
  receiver.maxOverlap = 0;
  for (let i = 0; i < 40; i++) await enqueueWebhookEvent(db, tenant.id, { type: 'context.succeeded', data: { i } });

  // A row under someone else's lease is left alone until the lease has run out.
  const [leased] = await rows(tenant.id);
  await sql`UPDATE webhook_deliveries SET locked_until = now() + interval '1 minute' WHERE id = ${leased?.id ?? 0}`.execute(db);

  let delivered = 0;
  for (let round = 0; round < 10 && delivered < 39; round++) {
    const results = await Promise.all([1, 2, 3, 4].map((worker) => deliverDueWebhooks(db, { limit: 7, workerId: `w${worker}` })));
    delivered += results.reduce((sum, result) => sum + result.delivered, 0);
  }
  t.is(delivered, 39);
  t.is(receiver.maxOverlap, 1, 'no row was in flight twice at once');
  t.is(receiver.received.length, 39, 'each row sent exactly once (no failures, so no retries)');
  t.is(new Set(receiver.received.map((request) => request.headers['webhook-id'])).size, 39);
  t.true(receiver.received.every((request) => verifies(request, endpoint)));
  t.false((await rows(tenant.id)).find((row) => row.id === leased?.id)?.delivered);

  await sql`UPDATE webhook_deliveries SET locked_until = now() - interval '1 second' WHERE id = ${leased?.id ?? 0}`.execute(db);
  t.deepEqual(await deliverDueWebhooks(db), { delivered: 1, failed: 0 }, 'an expired lease is taken over');
  receiver.delayMs = 0;
  await db.deleteFrom('webhook_deliveries').execute();
});

test.serial('a timeout is a failure; on shutdown a request in flight is abandoned without counting an attempt', async (t) => {
  const db = server.database.db;
  const tenant = await server.newTenant('slow');
  await register(tenant, '/slow');
  receiver.mode = 'hang';
  await enqueueWebhookEvent(db, tenant.id, { type: 'context.succeeded', data: {} });

  t.deepEqual(await deliverDueWebhooks(db, { timeoutMs: 200 }), { delivered: 0, failed: 1 });
  let [row] = await rows(tenant.id);
  t.is(row?.attempts, 1);
  t.regex(row?.last_error ?? '', /^timeout/);

  await makeDue(tenant.id);
  const shutdown = new AbortController();
  const round = deliverDueWebhooks(db, { timeoutMs: 10_000, signal: shutdown.signal });
  await new Promise((resolve) => setTimeout(resolve, 300));
  shutdown.abort();
  t.deepEqual(await round, { delivered: 0, failed: 0 });
  [row] = await rows(tenant.id);
  t.is(row?.attempts, 1, 'not counted');
  t.false(row?.locked, 'released for the next deliverer at once');
  t.false(row?.delivered);
  receiver.mode = 'ok';
  await db.deleteFrom('webhook_deliveries').execute();
});

test.serial('runWebhookDeliverer delivers what is enqueued while it runs, and stops when aborted', async (t) => {
  const db = server.database.db;
  const tenant = await server.newTenant('loop');
  const endpoint = await register(tenant, '/loop');
  receiver.mode = 'ok';
  receiver.received.length = 0;
  const stop = new AbortController();
  const running = runWebhookDeliverer(db, { signal: stop.signal, pollMs: 50 });
  await enqueueWebhookEvent(db, tenant.id, { type: 'context.cancelled', data: { id: 'loop' } });
  // Until the delivery is recorded, not merely received: an abort in between would (rightly) leave it undelivered.
  const deadline = Date.now() + 5_000;
  const recorded = async () => (await rows(tenant.id)).every((row) => row.delivered);
  while (!(receiver.received.length > 0 && (await recorded())) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  stop.abort();
  await running;
  t.is(receiver.received.length, 1);
  const [request] = receiver.received;
  t.true(request !== undefined && verifies(request, endpoint));
  t.like(JSON.parse(request?.body ?? '{}') as object, { type: 'context.cancelled', data: { id: 'loop' } });
  t.true((await rows(tenant.id)).every((row) => row.delivered));
});
