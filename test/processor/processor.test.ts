// The simulated card processor over real Postgres, through raw HTTP and through ProcessorClient.
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import test from 'ava';
import type pg from 'pg';
import { ProcessorClient, ProcessorUnavailableError } from '../../src/payments/processor-client.ts';
import { defaultFaultConfig, type FaultConfig } from '../../src/processor/faults.ts';
import { ensureProcessorSchema } from '../../src/processor/schema.ts';
import { startProcessor, type RunningProcessor } from '../../src/processor/server.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';

const TEST_TIMEOUT_MS = 10_000;
const PROBLEMS = 'https://idempotence.dev/processor/problems/';

let database: TestDatabase;
let shared: RunningProcessor;
const started: RunningProcessor[] = [];

/**
 * Drops a test database. Its pool was only used directly (never through Kysely), so the helper's
 * drop() does not end it, and the forced DROP would terminate idle connections under it: those
 * errors are expected here.
 */
async function dropDatabase(db: TestDatabase): Promise<void> {
  db.pool.on('error', () => undefined);
  await db.drop();
}

test.before(async () => {
  database = await createTestDatabase();
  shared = await startProcessor({ pool: database.pool, port: 0 });
});

test.after.always(async () => {
  await Promise.all([shared, ...started].map((processor) => processor?.close()));
  if (database) await dropDatabase(database);
});

/** A processor of the test's own, so its faults do not leak into concurrent tests. */
async function processorWith(faults: Partial<FaultConfig>, random?: () => number): Promise<RunningProcessor> {
  const processor = await startProcessor({
    pool: database.pool,
    port: 0,
    faults: { ...defaultFaultConfig(), ...faults },
    ...(random ? { random } : {}),
  });
  started.push(processor);
  return processor;
}

interface Reply {
  status: number;
  headers: Headers;
  json: Record<string, unknown>;
}

async function post(base: string, key: string | undefined, body: unknown, contentType = 'application/json'): Promise<Reply> {
  const headers: Record<string, string> = { 'content-type': contentType };
  if (key !== undefined) headers['idempotency-key'] = key;
  const response = await fetch(`${base}/charges`, {
    method: 'POST',
    headers,
    body: typeof body === 'string' ? body : JSON.stringify(body),
    signal: AbortSignal.timeout(5_000),
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, json: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>) };
}

async function get(base: string, path: string): Promise<Reply> {
  const response = await fetch(base + path, { signal: AbortSignal.timeout(5_000) });
  const text = await response.text();
  return { status: response.status, headers: response.headers, json: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>) };
}

async function rowsFor(pool: pg.Pool, key: string): Promise<{ id: string; status: string; amount: string }[]> {
  const result = await pool.query<{ id: string; status: string; amount: string }>(
    'SELECT id, status, amount::text AS amount FROM processor.charges WHERE idempotency_key = $1',
    [key],
  );
  return result.rows;
}

const ok = { amount: 1250, currency: 'EUR', source: 'tok_ok' };

test('a first charge is 201 with the charge, recorded in the processor schema', async (t) => {
  t.timeout(TEST_TIMEOUT_MS);
  const key = randomUUID();
  const reply = await post(shared.url, key, ok);
  t.is(reply.status, 201);
  t.is(reply.headers.get('idempotent-replayed'), null);
  t.is(reply.headers.get('location'), `/charges/${key}`);
  t.regex(String(reply.json['id']), /^ch_[0-9a-f]{24}$/);
  t.like(reply.json, { idempotencyKey: key, amount: 1250, currency: 'EUR', source: 'tok_ok', status: 'succeeded' });
  t.false(Number.isNaN(Date.parse(String(reply.json['createdAt']))));
  t.deepEqual(await rowsFor(database.pool, key), [{ id: String(reply.json['id']), status: 'succeeded', amount: '1250' }]);

  const tables = await database.pool.query<{ table_schema: string }>(
    "SELECT table_schema FROM information_schema.tables WHERE table_name = 'charges'",
  );
  t.deepEqual(tables.rows.map((row) => row.table_schema), ['processor']);
});

test('the same key and payload again replays the recorded charge: 200, Idempotent-Replayed, no second charge', async (t) => {
  t.timeout(TEST_TIMEOUT_MS);
  const key = randomUUID();
  const first = await post(shared.url, key, ok);
  // Member order and whitespace do not make it another request.
  const second = await post(shared.url, key, `{ "source": "tok_ok", "currency": "EUR", "amount": 1250 }`);
  t.is(first.status, 201);
  t.is(second.status, 200);
  t.is(second.headers.get('idempotent-replayed'), 'true');
  t.deepEqual(second.json, first.json);
  t.is((await rowsFor(database.pool, key)).length, 1);
});

test('tok_declined is recorded as declined and answered 402, also on replay', async (t) => {
  t.timeout(TEST_TIMEOUT_MS);
  const key = randomUUID();
  const body = { amount: 900, currency: 'USD', source: 'tok_declined' };
  const first = await post(shared.url, key, body);
  t.is(first.status, 402);
  t.like(first.json, { idempotencyKey: key, status: 'declined', amount: 900 });
  const again = await post(shared.url, key, body);
  t.is(again.status, 402);
  t.is(again.headers.get('idempotent-replayed'), 'true');
  t.is(again.json['id'], first.json['id']);
  t.deepEqual((await rowsFor(database.pool, key)).map((row) => row.status), ['declined']);
});

test('an unknown source is 422 unknown-source and nothing is recorded', async (t) => {
  t.timeout(TEST_TIMEOUT_MS);
  const key = randomUUID();
  const reply = await post(shared.url, key, { ...ok, source: 'tok_visa' });
  t.is(reply.status, 422);
  t.is(reply.headers.get('content-type'), 'application/problem+json');
  t.like(reply.json, { type: `${PROBLEMS}unknown-source`, status: 422 });
  t.deepEqual(await rowsFor(database.pool, key), []);
  t.is((await get(shared.url, `/charges/${key}`)).status, 404);
});

test('the same key with another payload is 422 idempotency-key-reused and changes nothing', async (t) => {
  t.timeout(TEST_TIMEOUT_MS);
  const key = randomUUID();
  t.is((await post(shared.url, key, ok)).status, 201);
  for (const other of [{ ...ok, amount: 1251 }, { ...ok, currency: 'USD' }, { ...ok, source: 'tok_declined' }]) {
    const reply = await post(shared.url, key, other);
    t.is(reply.status, 422);
    t.like(reply.json, { type: `${PROBLEMS}idempotency-key-reused`, status: 422 });
  }
  t.deepEqual((await rowsFor(database.pool, key)).map((row) => [row.status, row.amount]), [['succeeded', '1250']]);
});

test('a missing or malformed Idempotency-Key is 400 and nothing is recorded', async (t) => {
  t.timeout(TEST_TIMEOUT_MS);
  for (const key of [undefined, '', 'k'.repeat(256), 'clé-é']) {
    const reply = await post(shared.url, key, ok);
    t.is(reply.status, 400, JSON.stringify(key));
    t.like(reply.json, { type: `${PROBLEMS}invalid-idempotency-key` });
  }
  t.is((await post(shared.url, 'k'.repeat(255), ok)).status, 201);
  const after = await database.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM processor.charges WHERE idempotency_key LIKE $1', ['kkk%']);
  t.is(after.rows[0]?.n, 1); // only the valid 255-character key was charged
});

test('malformed bodies are 400/415/422 and record nothing', async (t) => {
  t.timeout(TEST_TIMEOUT_MS);
  const cases: [unknown, number, string, string?][] = [
    ['{"amount": 1', 400, 'malformed-body'],
    ['[1, 2]', 400, 'malformed-body'],
    [ok, 415, 'unsupported-media-type', 'text/plain'],
    [{ ...ok, amount: 0 }, 422, 'validation-failed'],
    [{ ...ok, amount: 1.5 }, 422, 'validation-failed'],
    [{ ...ok, amount: '1250' }, 422, 'validation-failed'],
    [{ ...ok, currency: 'eur' }, 422, 'validation-failed'],
    [{ amount: 1, currency: 'EUR' }, 422, 'validation-failed'],
    [{ ...ok, metadata: {} }, 422, 'validation-failed'],
  ];
  for (const [body, status, slug, contentType] of cases) {
    const key = randomUUID();
    const reply = await post(shared.url, key, body, contentType);
    t.is(reply.status, status, JSON.stringify(body));
    t.is(reply.json['type'], PROBLEMS + slug);
    t.deepEqual(await rowsFor(database.pool, key), []);
  }
});

test('30 concurrent POSTs with one key create exactly one charge', async (t) => {
  t.timeout(TEST_TIMEOUT_MS);
  const key = randomUUID();
  const replies = await Promise.all(Array.from({ length: 30 }, () => post(shared.url, key, ok)));
  const statuses = replies.map((reply) => reply.status).sort();
  t.deepEqual(statuses, [...Array<number>(29).fill(200), 201]);
  t.is(replies.filter((reply) => reply.headers.get('idempotent-replayed') === 'true').length, 29);
  t.is(new Set(replies.map((reply) => reply.json['id'])).size, 1);
  t.is((await rowsFor(database.pool, key)).length, 1);
});

test('concurrent POSTs with one key and different amounts: one charge, every other answer 422', async (t) => {
  t.timeout(TEST_TIMEOUT_MS);
  const key = randomUUID();
  const replies = await Promise.all(Array.from({ length: 10 }, (_, i) => post(shared.url, key, { ...ok, amount: 100 + i })));
  t.deepEqual(replies.map((reply) => reply.status).sort(), [201, ...Array<number>(9).fill(422)]);
  const rows = await rowsFor(database.pool, key);
  t.is(rows.length, 1);
  const winner = replies.find((reply) => reply.status === 201);
  t.is(rows[0]?.amount, String(winner?.json['amount']));
});

test('client: charged, replayed, declined and rejected outcomes', async (t) => {
  t.timeout(TEST_TIMEOUT_MS);
  const client = new ProcessorClient({ baseUrl: `${shared.url}/`, timeoutMs: 2_000 });
  const key = randomUUID();
  const first = await client.createCharge(key, ok);
  t.is(first.kind, 'charged');
  const again = await client.createCharge(key, ok);
  t.deepEqual(again, first);

  const declined = await client.createCharge(randomUUID(), { ...ok, source: 'tok_declined' });
  t.is(declined.kind, 'declined');
  t.is(declined.kind === 'declined' ? declined.charge.status : undefined, 'declined');

  t.like(await client.createCharge(randomUUID(), { ...ok, source: 'tok_nope' }), { kind: 'rejected', status: 422 });
  t.like(await client.createCharge(key, { ...ok, amount: 1 }), { kind: 'rejected', status: 422 });
  t.like(await client.createCharge('', ok), { kind: 'rejected', status: 400 });
  t.like(await client.createCharge(randomUUID(), { ...ok, currency: 'euro' }), { kind: 'rejected', status: 422 });

  const found = await client.getCharge(key);
  t.deepEqual(found, first.kind === 'charged' ? { kind: 'found', charge: first.charge } : undefined);
  t.deepEqual(await client.getCharge(randomUUID()), { kind: 'not-found' });
});

test('client: keys with reserved URL characters round-trip through getCharge', async (t) => {
  t.timeout(TEST_TIMEOUT_MS);
  const client = new ProcessorClient({ baseUrl: shared.url, timeoutMs: 2_000 });
  const key = `order/42?x=1#a %25 ${randomUUID()}`;
  const outcome = await client.createCharge(key, ok);
  t.is(outcome.kind, 'charged');
  const found = await client.getCharge(key);
  t.is(found.kind, 'found');
  t.is(found.kind === 'found' ? found.charge.idempotencyKey : undefined, key);
});

test('client: a 404 that is not the processor saying "no such charge" is unknown, not not-found', async (t) => {
  t.timeout(TEST_TIMEOUT_MS);
  const client = new ProcessorClient({ baseUrl: `${shared.url}/wrong-prefix`, timeoutMs: 2_000 });
  t.is((await client.getCharge(randomUUID())).kind, 'unknown');
});

test('client: an unreachable processor is unknown, never an exception', async (t) => {
  t.timeout(TEST_TIMEOUT_MS);
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  const client = new ProcessorClient({ baseUrl: `http://127.0.0.1:${port}`, timeoutMs: 1_000 });
  t.is((await client.createCharge(randomUUID(), ok)).kind, 'unknown');
  t.is((await client.getCharge(randomUUID())).kind, 'unknown');
  await t.throwsAsync(client.listCharges(), { instanceOf: ProcessorUnavailableError });
});

test('fault: failure after charge → unknown, yet the charge exists; the retry with the same key gets it', async (t) => {
  t.timeout(TEST_TIMEOUT_MS);
  const processor = await processorWith({ failAfterChargeRate: 1 });
  const client = new ProcessorClient({ baseUrl: processor.url, timeoutMs: 2_000 });
  const key = randomUUID();
  const outcome = await client.createCharge(key, ok);
  t.is(outcome.kind, 'unknown');
  t.regex(outcome.kind === 'unknown' ? outcome.reason : '', /^500/);
  const lookup = await client.getCharge(key);
  t.is(lookup.kind, 'found');

  processor.faults.failAfterChargeRate = 0; // read on every request
  const retry = await client.createCharge(key, ok);
  t.is(retry.kind, 'charged');
  t.is(retry.kind === 'charged' && lookup.kind === 'found' ? retry.charge.id === lookup.charge.id : false, true);
  t.is((await rowsFor(database.pool, key)).length, 1);
});

test('fault: hang after charge beyond the client timeout → unknown, yet the charge exists', async (t) => {
  t.timeout(TEST_TIMEOUT_MS);
  const processor = await processorWith({ timeoutAfterChargeRate: 1, hangMs: 1_500 });
  const client = new ProcessorClient({ baseUrl: processor.url, timeoutMs: 500 });
  const key = randomUUID();
  const startedAt = Date.now();
  const outcome = await client.createCharge(key, ok);
  const elapsed = Date.now() - startedAt;
  t.deepEqual(outcome, { kind: 'unknown', reason: 'timed out' });
  t.true(elapsed >= 450, `${elapsed} ms: not before the client's timeout`);
  t.is((await client.getCharge(key)).kind, 'found');
});

test('fault: hang after charge, then the connection is dropped unanswered → unknown, yet the charge exists', async (t) => {
  t.timeout(TEST_TIMEOUT_MS);
  const processor = await processorWith({ timeoutAfterChargeRate: 1, hangMs: 300 });
  const client = new ProcessorClient({ baseUrl: processor.url, timeoutMs: 3_000 });
  const key = randomUUID();
  const startedAt = Date.now();
  const outcome = await client.createCharge(key, ok);
  const elapsed = Date.now() - startedAt;
  t.is(outcome.kind, 'unknown');
  t.not(outcome.kind === 'unknown' ? outcome.reason : '', 'timed out');
  t.true(elapsed >= 250, `${elapsed} ms: not before the hang ends`);
  t.is((await client.getCharge(key)).kind, 'found');
});

test('fault: refused before charge → unknown, and nothing was charged', async (t) => {
  t.timeout(TEST_TIMEOUT_MS);
  const processor = await processorWith({ refuseBeforeChargeRate: 1 });
  const client = new ProcessorClient({ baseUrl: processor.url, timeoutMs: 2_000 });
  const key = randomUUID();
  const outcome = await client.createCharge(key, ok);
  t.is(outcome.kind, 'unknown');
  t.regex(outcome.kind === 'unknown' ? outcome.reason : '', /^503/);
  t.deepEqual(await client.getCharge(key), { kind: 'not-found' });
  t.deepEqual(await rowsFor(database.pool, key), []);
});

test('fault: slower than the client timeout → unknown, and the charge still happens afterwards', async (t) => {
  t.timeout(TEST_TIMEOUT_MS);
  const processor = await processorWith({ slowMs: 1_200 });
  const client = new ProcessorClient({ baseUrl: processor.url, timeoutMs: 500 });
  const key = randomUUID();
  t.deepEqual(await client.createCharge(key, ok), { kind: 'unknown', reason: 'timed out' });
  // The processor read the request before the client gave up; it finishes the charge regardless.
  const lookups = new ProcessorClient({ baseUrl: processor.url, timeoutMs: 2_000 });
  const deadline = Date.now() + 5_000;
  let lookup = await lookups.getCharge(key);
  while (lookup.kind !== 'found' && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    lookup = await lookups.getCharge(key);
  }
  t.is(lookup.kind, 'found');
  t.is((await rowsFor(database.pool, key)).length, 1);
});

test('fault rates below 1 follow the injected random source', async (t) => {
  t.timeout(TEST_TIMEOUT_MS);
  let next = 0.7;
  const processor = await processorWith({ failAfterChargeRate: 0.5 }, () => next);
  const client = new ProcessorClient({ baseUrl: processor.url, timeoutMs: 2_000 });
  t.is((await client.createCharge(randomUUID(), ok)).kind, 'charged');
  next = 0.2;
  t.is((await client.createCharge(randomUUID(), ok)).kind, 'unknown');
});

test('declineSources is read at run time; a replay keeps its recorded outcome', async (t) => {
  t.timeout(TEST_TIMEOUT_MS);
  const processor = await processorWith({});
  const client = new ProcessorClient({ baseUrl: processor.url, timeoutMs: 2_000 });
  const body = { ...ok, source: 'tok_visa_insufficient' };
  t.like(await client.createCharge(randomUUID(), body), { kind: 'rejected', status: 422 });
  processor.faults.declineSources.push('tok_visa_insufficient');
  const key = randomUUID();
  t.is((await client.createCharge(key, body)).kind, 'declined');
  processor.faults.declineSources = [];
  t.is((await client.createCharge(key, body)).kind, 'declined');
});

test('listCharges pages through every charge exactly once, in order', async (t) => {
  t.timeout(TEST_TIMEOUT_MS);
  // A database of its own, so the listing can be compared with the whole table.
  const own = await createTestDatabase(5);
  const processor = await startProcessor({ pool: own.pool, port: 0 });
  try {
    const client = new ProcessorClient({ baseUrl: processor.url, timeoutMs: 2_000 });
    const keys = Array.from({ length: 23 }, (_, i) => `list-${String(i).padStart(2, '0')}`);
    for (const [i, key] of keys.entries()) {
      const outcome = await client.createCharge(key, { ...ok, amount: i + 1, source: i % 4 === 0 ? 'tok_declined' : 'tok_ok' });
      t.true(outcome.kind === 'charged' || outcome.kind === 'declined');
    }
    const seen: string[] = [];
    const pageSizes: number[] = [];
    let after: string | undefined;
    for (let pages = 0; pages < 20; pages++) {
      const page = await client.listCharges(after, 5);
      pageSizes.push(page.charges.length);
      seen.push(...page.charges.map((charge) => charge.idempotencyKey));
      if (page.next === undefined) break;
      after = page.next;
    }
    t.deepEqual(seen, keys);
    t.deepEqual(pageSizes, [5, 5, 5, 5, 3]);
    t.is((await client.listCharges()).charges.length, 23); // default limit 100
    const lastPage = await client.listCharges(undefined, 23);
    t.is(lastPage.next, undefined);
    for (const query of ['?limit=0', '?limit=1001', '?limit=x', '?after=abc', '?after=1&after=2']) {
      const reply = await get(processor.url, `/charges${query}`);
      t.is(reply.status, 400, query);
      t.is(reply.json['type'], `${PROBLEMS}invalid-parameter`);
    }
  } finally {
    await processor.close();
    await dropDatabase(own);
  }
});

test('ensureProcessorSchema is idempotent and safe when several callers race', async (t) => {
  t.timeout(TEST_TIMEOUT_MS);
  const own = await createTestDatabase(6);
  try {
    await Promise.all(Array.from({ length: 6 }, () => ensureProcessorSchema(own.pool)));
    await ensureProcessorSchema(own.pool);
    const columns = await own.pool.query<{ column_name: string }>(
      "SELECT column_name FROM information_schema.columns WHERE table_schema = 'processor' AND table_name = 'charges' ORDER BY ordinal_position",
    );
    t.deepEqual(columns.rows.map((row) => row.column_name), [
      'id', 'idempotency_key', 'amount', 'currency', 'source', 'status', 'request_fingerprint', 'created_at', 'seq',
    ]);
  } finally {
    await dropDatabase(own);
  }
});

test('healthz answers 200; unknown routes and methods are problems', async (t) => {
  t.timeout(TEST_TIMEOUT_MS);
  t.is((await get(shared.url, '/healthz')).status, 200);
  const missing = await get(shared.url, '/nope');
  t.is(missing.status, 404);
  t.is(missing.headers.get('content-type'), 'application/problem+json');
  const wrongMethod = await fetch(`${shared.url}/healthz`, { method: 'DELETE', signal: AbortSignal.timeout(5_000) });
  t.is(wrongMethod.status, 405);
  t.is(wrongMethod.headers.get('content-type'), 'application/problem+json');
  await wrongMethod.body?.cancel();
});
