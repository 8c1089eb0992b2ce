// The request log: one JSON line per request (pino), message "request", with the method, the
// route template, the status, the latency, the tenant, the context, the replay flag and the
// Idempotency-Key — and never the Authorization header.
import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import test from 'ava';
import { pino } from 'pino';
import { LOG_REDACT_PATHS } from '../../src/http/request-log.ts';
import { withTestServer } from '../helpers/server.ts';

const lines: Record<string, unknown>[] = [];
const logger = pino(
  { level: 'info', redact: LOG_REDACT_PATHS },
  new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  }),
);

const server = withTestServer(test, { logger });

/** The request lines logged while `run` ran (pino writes synchronously to this stream). */
async function logged(run: () => Promise<unknown>): Promise<Record<string, unknown>[]> {
  const from = lines.length;
  await run();
  await new Promise((resolve) => setImmediate(resolve));
  return lines.slice(from).filter((line) => line['msg'] === 'request');
}

test.serial('a PUT that creates and executes, then its replay: one line each with every field', async (t) => {
  const tenant = server.tenant;
  const account = await tenant.createAccount();
  const id = randomUUID();
  const put = () =>
    tenant.request('PUT', `/contexts/${id}`, { headers: { 'if-none-match': '*' }, body: { action: { type: 'deposit', account, amount: 100 } } });

  const [created] = await logged(put);
  t.like(created, {
    level: 30,
    msg: 'request',
    method: 'PUT',
    route: '/contexts/:id',
    path: `/contexts/${id}`,
    status: 201,
    tenant: tenant.id,
    context: id,
    replayed: false,
  });
  t.is(typeof created?.['latencyMs'], 'number');
  t.true((created?.['latencyMs'] as number) > 0);
  t.is(created?.['idempotencyKey'], undefined);

  const replays = await logged(put);
  t.is(replays.length, 1);
  t.like(replays[0], { method: 'PUT', route: '/contexts/:id', status: 200, tenant: tenant.id, context: id, replayed: true });

  const text = JSON.stringify(lines);
  t.false(text.includes(tenant.apiKey.replace(/^idem_/, '')), 'the API key is not logged');
  t.false(/authorization/i.test(text), 'no Authorization header');
});

test.serial('a one-shot POST names the context it created (from Location) and its Idempotency-Key', async (t) => {
  const tenant = server.tenant;
  const account = await tenant.createAccount();
  let location = '';
  const [line] = await logged(async () => {
    const reply = await tenant.request('POST', '/contexts', { headers: { 'idempotency-key': 'order-42' }, body: { action: { type: 'deposit', account, amount: 1 } } });
    t.is(reply.status, 201);
    location = reply.headers.get('location') ?? '';
  });
  t.like(line, { method: 'POST', route: '/contexts', status: 201, tenant: tenant.id, context: location.replace('/contexts/', ''), replayed: false, idempotencyKey: 'order-42' });
});

test.serial('refusals are logged with the route template: a 401 without tenant, an unknown path as "unmatched"', async (t) => {
  const id = randomUUID();
  const [refused] = await logged(() => server.request('DELETE', `/contexts/${id}`, { key: 'idem_not-a-key', headers: { 'if-match': '"1"' } }));
  t.like(refused, { method: 'DELETE', route: '/contexts/:id', status: 401, context: id, replayed: false });
  t.false('tenant' in (refused ?? {}));
  const [unknown] = await logged(() => server.tenant.request('GET', '/nowhere'));
  t.like(unknown, { method: 'GET', route: 'unmatched', path: '/nowhere', status: 404 });
  t.false(JSON.stringify(lines).includes('not-a-key'));
});
