// The benchmark's baselines (bench/bare-server.ts, the pgbench scripts) claim to run the exact
// statements the service runs. This captures what the service sends to Postgres for each
// benchmarked request and compares it with bench/sql.ts, so the claim cannot drift.
import { randomUUID } from 'node:crypto';
import test from 'ava';
import pg from 'pg';
import { REQUEST_STATEMENTS, SQL, type RequestKind } from '../../bench/sql.ts';
import { at, withTestServer } from '../helpers/server.ts';

const server = withTestServer(test);

// Every query of this test process goes through pg.Client#query; record the texts while a
// capture is open. (The test server runs in this process, on its own pool.)
const captured: string[] = [];
let capturing = false;
const originalQuery = pg.Client.prototype.query;
pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
  const first = args[0];
  if (capturing) captured.push(typeof first === 'string' ? first : String((first as { text?: unknown }).text));
  return (originalQuery as (...a: unknown[]) => unknown).apply(this, args);
} as typeof pg.Client.prototype.query;

async function statementsOf(request: () => Promise<unknown>): Promise<string[]> {
  captured.length = 0;
  capturing = true;
  try {
    await request();
  } finally {
    capturing = false;
  }
  // Not the request's: the operations journal's batch (its 250 ms timer may fire meanwhile, on a
  // connection of its own, which is set up when it opens).
  return captured
    .map((text) => text.replace(/\s+/g, ' ').trim())
    .filter((text) => !text.startsWith('WITH events AS ( INSERT INTO context_events') && !text.startsWith('SET statement_timeout'));
}

const expected = (kind: RequestKind): string[] => REQUEST_STATEMENTS[kind].map((name) => SQL[name].text);

test.serial('each benchmarked request sends exactly the statements bench/sql.ts lists for it', async (t) => {
  const tenant = server.tenant;
  const from = await tenant.createAccount();
  const to = await tenant.createAccount();
  await tenant.deposit(from, 1_000);
  const transfer = { action: { type: 'transfer', from, to, amount: 1 } };
  // The key is known (and cached) from here on, as it is in the benchmark's steady state.

  const id = randomUUID();
  t.deepEqual(
    await statementsOf(() => tenant.request('PUT', `/contexts/${id}`, { headers: { 'if-none-match': '*' }, body: transfer })),
    expected('oneShotTransfer'),
  );
  t.deepEqual(
    await statementsOf(() => tenant.request('PUT', `/contexts/${id}`, { headers: { 'if-none-match': '*' }, body: transfer })),
    expected('readContext'),
    'a replay is one indexed read',
  );
  const reply = await tenant.request('GET', `/contexts/${id}`);
  t.deepEqual(
    await statementsOf(() => tenant.request('GET', `/contexts/${id}`, { headers: { 'if-none-match': reply.headers.get('etag') ?? '' } })),
    expected('readContext'),
  );
  t.deepEqual(await statementsOf(() => tenant.request('GET', '/contexts?limit=20')), expected('listContexts'));

  let created = { id: '', etag: '' };
  t.deepEqual(
    await statementsOf(async () => {
      created = await tenant.createContext();
    }),
    expected('createContext'),
  );
  t.deepEqual(
    await statementsOf(() => tenant.request('PUT', `/contexts/${created.id}`, { headers: { 'if-match': created.etag }, body: transfer })),
    expected('executeTransfer'),
  );
  const deposit = { action: { type: 'deposit', account: to, amount: 1 } };
  let keyed: unknown;
  t.deepEqual(
    await statementsOf(async () => {
      keyed = await tenant.request('POST', '/contexts', { headers: { 'idempotency-key': randomUUID() }, body: deposit });
    }),
    expected('keyedDeposit'),
  );
  t.is(at((keyed as { json: unknown }).json, 'state'), 'succeeded');
});
