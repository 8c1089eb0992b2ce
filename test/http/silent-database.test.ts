// The service (`src/main.ts api` and `worker`, as deployed) with DATABASE_URL through a relay that
// can go silent: it stops forwarding without closing anything, as when the database host
// vanishes. With short configured bounds every request is answered — 2xx, or 503 with
// Retry-After — within them; /readyz turns 503; long-polls wake; and once the database answers
// (on new connections, or on every one after a resume) the service is whole again: no pool slot
// is left taken, retried requests take effect exactly once, the worker finishes payments.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import test from 'ava';
import { startProcessor, type RunningProcessor } from '../../src/processor/server.ts';
import { generateApiKey, hashApiKey } from '../../src/tenants/api-keys.ts';
import { insertTenant } from '../../src/tenants/repository.ts';
import { freePort } from '../../scripts/free-port.ts';
import { TcpRelay } from '../../scripts/chaos/relay.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';
import { at, send, type Reply } from '../helpers/server.ts';

const BOUNDS = {
  DATABASE_CONNECT_TIMEOUT_MS: '1000',
  DATABASE_QUERY_TIMEOUT_MS: '1500',
  DATABASE_STATEMENT_TIMEOUT_MS: '1000',
  DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS: '2000',
};
/** The longest a request may take while the database is silent: a slot (connect bound), then one statement (query bound), and slack for a busy machine. */
const ANSWER_WITHIN_MS = 1_000 + 1_500 + 1_500;

let database: TestDatabase;
let relay: TcpRelay;
let processor: RunningProcessor;
let api: { base: string; child: ChildProcess; output: () => string };
let worker: ChildProcess;
let apiKey: string;
let account: string;

async function startRole(role: 'api' | 'worker', env: Record<string, string>): Promise<{ child: ChildProcess; output: () => string }> {
  const child = spawn(process.execPath, ['--import=tsx', 'src/main.ts', role], {
    env: { ...process.env, ...BOUNDS, ...env, DATABASE_URL: relay.url(database.url), NODE_ENV: 'production', LOG_LEVEL: 'info', DATABASE_POOL_SIZE: '4', AUTH_CACHE_TTL_SECONDS: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  return { child, output: () => output };
}

async function stop(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

test.before(async () => {
  database = await createTestDatabase(4);
  const target = new URL(database.url);
  relay = await TcpRelay.start({ host: target.hostname, port: Number(target.port || 5432) });
  processor = await startProcessor({ pool: database.pool, port: 0 });
  apiKey = generateApiKey();
  await insertTenant(database.db, 'silent', hashApiKey(apiKey));
  const port = await freePort();
  const started = await startRole('api', { PORT: String(port), HOST: '127.0.0.1' });
  api = { ...started, base: `http://127.0.0.1:${port}` };
  worker = (await startRole('worker', { PROCESSOR_URL: processor.url, WORKER_LEASE_SECONDS: '3' })).child;
  const deadline = Date.now() + 30_000;
  for (;;) {
    const ready = await send(api.base, 'GET', '/readyz').catch(() => undefined);
    if (ready?.status === 200) break;
    if (Date.now() > deadline) throw new Error(`the API did not start:\n${api.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  account = at((await request('POST', '/accounts', { name: 'silent', currency: 'EUR' })).json, 'id');
});

test.after.always(async () => {
  await stop(api?.child);
  await stop(worker);
  await relay?.close();
  await processor?.close();
  await database?.drop();
});

function request(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Reply> {
  return send(api.base, method, path, { key: apiKey, headers, ...(body === undefined ? {} : { body }) });
}

type Timed = Reply & { ms: number };
async function timed(reply: Promise<Reply>): Promise<Timed> {
  const started = Date.now();
  const answer = await reply;
  return { ...answer, ms: Date.now() - started };
}

/** A keyed one-shot POST or a one-shot PUT (If-None-Match: *): a deposit of `amount`, the same request on every try. */
function deposit(kind: 'keyed' | 'put', id: string, amount: number): () => Promise<Reply> {
  const body = { action: { type: 'deposit', account, amount } };
  return kind === 'keyed' ? () => request('POST', '/contexts', body, { 'idempotency-key': id }) : () => request('PUT', `/contexts/${id}`, body, { 'if-none-match': '*' });
}

/** Sends `attempt` again after each 503 (honouring Retry-After), as a client should, until a 2xx or `ms` pass. */
async function untilSuccess(attempt: () => Promise<Reply>, ms: number): Promise<Reply> {
  const deadline = Date.now() + ms;
  for (;;) {
    const reply = await attempt();
    if (reply.status < 300 || reply.status !== 503 || Date.now() > deadline) return reply;
    await new Promise((resolve) => setTimeout(resolve, Number(reply.headers.get('retry-after') ?? '1') * 1000));
  }
}

function assertUnavailable(t: { is(a: unknown, b: unknown, m?: string): void }, reply: Reply, what: string): void {
  t.is(reply.status, 503, `${what}: ${reply.status} ${reply.text}`);
  t.is(reply.headers.get('retry-after'), '1', `${what}: Retry-After`);
  t.is(reply.headers.get('content-type'), 'application/problem+json', `${what}: problem+json`);
}

async function twentyAtOnce(): Promise<number[]> {
  return (await Promise.all(Array.from({ length: 20 }, () => request('GET', `/accounts/${account}`)))).map((reply) => reply.status);
}

test.serial('open connections go silent, new ones work: every request is answered within the bounds, retries take effect once, long-polls wake', async (t) => {
  t.timeout(60_000);
  // Connections open in the pool and on the long-poll listener.
  await twentyAtOnce();
  const open = at((await request('POST', '/contexts')).json, 'id');
  const longPoll = timed(request('GET', `/contexts/${open}`, undefined, { prefer: 'wait=30', 'if-none-match': '"1"' }));
  await new Promise((resolve) => setTimeout(resolve, 300));
  const before = at<number>((await request('GET', `/accounts/${account}`)).json, 'balance');

  relay.silence({ newConnections: 'forward' });
  const silencedAt = Date.now();
  const operations = Array.from({ length: 12 }, (_, i) => ({ send: deposit(i % 2 === 0 ? 'keyed' : 'put', randomUUID(), 100 + i), amount: 100 + i }));
  const first = await Promise.all(operations.map((operation) => timed(operation.send())));
  t.log(`first answers (ms): ${first.map((reply) => `${reply.status}/${reply.ms}`).join(' ')}`);
  for (const [i, reply] of first.entries()) {
    t.true(reply.ms < ANSWER_WITHIN_MS, `request ${i} answered after ${reply.ms} ms`);
    if (reply.status >= 300) assertUnavailable(t, reply, `request ${i}`);
  }
  t.true(first.some((reply) => reply.status === 503), 'the requests that met a silent connection were answered 503');

  const woken = await longPoll;
  t.log(`long-poll answered ${Date.now() - silencedAt} ms after the silence began (it asked to wait 30 s)`);
  t.true(Date.now() - silencedAt < 10_000, 'the long-poll woke when its listener connection was found silent');
  t.true(woken.status === 304 || woken.status === 503, `long-poll: ${woken.status}`);

  const retried = await Promise.all(operations.map((operation) => untilSuccess(operation.send, 20_000)));
  t.deepEqual(retried.map((reply) => reply.status).filter((status) => status >= 300), [], 'every request succeeds on retry');
  const after = at<number>((await request('GET', `/accounts/${account}`)).json, 'balance');
  t.is(after - before, operations.reduce((sum, operation) => sum + operation.amount, 0), 'each deposit took effect exactly once');

  t.deepEqual(await twentyAtOnce(), Array.from({ length: 20 }, () => 200), 'no pool slot is left taken');
  // A new long-poll listens on a new connection: a change wakes it at once, not at the end of its wait.
  const context = await request('POST', '/contexts');
  const id = at(context.json, 'id');
  const waiting = timed(request('GET', `/contexts/${id}`, undefined, { prefer: 'wait=20', 'if-none-match': '"1"' }));
  await new Promise((resolve) => setTimeout(resolve, 300));
  t.is((await request('PUT', `/contexts/${id}`, { action: { type: 'deposit', account, amount: 1 } }, { 'if-match': '"1"' })).status, 200);
  const changed = await waiting;
  t.is(at(changed.json, 'state'), 'succeeded');
  t.true(changed.ms < 10_000, `woken by the change after ${changed.ms} ms`);
  relay.resume();
});

test.serial('the database silent on every connection, new ones too: 503s and /readyz 503 within the bounds; after it answers again, 2xx and a whole pool', async (t) => {
  t.timeout(60_000);
  await twentyAtOnce();
  relay.silence();
  const ready = await timed(send(api.base, 'GET', '/readyz'));
  assertUnavailable(t, ready, '/readyz');
  t.true(ready.ms < ANSWER_WITHIN_MS, `/readyz answered after ${ready.ms} ms`);
  const keyed = deposit('keyed', randomUUID(), 7);
  const put = deposit('put', randomUUID(), 11);
  for (const [what, attempt] of [['keyed POST', keyed], ['one-shot PUT', put]] as const) {
    const reply = await timed(attempt());
    assertUnavailable(t, reply, what);
    t.true(reply.ms < ANSWER_WITHIN_MS, `${what} answered after ${reply.ms} ms`);
  }
  t.is((await send(api.base, 'GET', '/healthz')).status, 200, 'the process itself is alive');

  relay.resume();
  t.is((await untilSuccess(() => send(api.base, 'GET', '/readyz'), 10_000)).status, 200);
  t.is((await untilSuccess(keyed, 10_000)).status, 201);
  t.is((await untilSuccess(put, 10_000)).status, 201);
  t.deepEqual(await twentyAtOnce(), Array.from({ length: 20 }, () => 200));
  t.regex(api.output(), /"msg":"not ready"/, 'unreadiness is logged');
  t.regex(api.output(), /"msg":"ready again: the database answers"/);
  t.regex(api.output(), /"msg":"database unavailable"/);
});

test.serial('the worker recovers: with its open connections silent for good, it finishes a payment on new ones', async (t) => {
  t.timeout(60_000);
  const pay = (id: string) => () => request('PUT', `/contexts/${id}`, { action: { type: 'payment', account, amount: 250, source: 'tok_ok' } }, { 'if-none-match': '*' });
  const settled = async (id: string): Promise<string> => {
    const deadline = Date.now() + 25_000;
    for (;;) {
      const reply = await request('GET', `/contexts/${id}`, undefined, { prefer: 'wait=5' });
      const state = at(reply.json, 'state');
      if (state === 'succeeded' || state === 'failed' || Date.now() > deadline) return String(state);
    }
  };
  const warm = randomUUID();
  t.is((await untilSuccess(pay(warm), 10_000)).status, 202);
  t.is(await settled(warm), 'succeeded', 'a payment before the silence');

  relay.silence({ newConnections: 'forward' });
  const id = randomUUID();
  t.is((await untilSuccess(pay(id), 15_000)).status, 202);
  t.is(await settled(id), 'succeeded', 'a payment after it, on new connections');
  relay.resume();
});
