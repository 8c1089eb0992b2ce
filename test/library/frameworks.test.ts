// The engine under a prefix in Express 5 and Fastify 5 hosts (examples/mount-*.ts), each with its
// JSON body parser in front, and in a Koa host whose body parser keeps nothing for it.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import test, { type ExecutionContext } from 'ava';
import Koa from 'koa';
import { pino } from 'pino';
import { createExpressHost } from '../../examples/mount-express.ts';
import { createFastifyHost } from '../../examples/mount-fastify.ts';
import { ActionRegistry, createContextEngine, createTenant, defineAction, ProblemError, type ContextEngine } from '../../src/index.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';
import { at, send } from '../helpers/server.ts';

const OUT_OF_ECHOES = { type: 'https://host.example/problems/out-of-echoes', title: 'No echo for that', status: 422 };

const echo = defineAction<{ type: 'echo'; text: string }>({
  type: 'echo',
  schema: { type: 'object', required: ['type', 'text'], properties: { type: { const: 'echo' }, text: { type: 'string', maxLength: 100 } }, additionalProperties: false },
  async execute(_trx, _scope, action) {
    // A refusal of the host's own, with its own problem type (the engine's catalog is for its own).
    if (action.text === 'refuse') throw new ProblemError(OUT_OF_ECHOES, 'This host does not echo "refuse".', { extensions: { word: 'refuse' } });
    return { state: 'succeeded', result: { echoed: action.text } };
  },
});

let database: TestDatabase;
let engine: ContextEngine;
let key: string;
const servers: http.Server[] = [];

test.before(async () => {
  database = await createTestDatabase();
  engine = createContextEngine({ pool: database.pool, prefix: '/api', actions: new ActionRegistry().register(echo), logger: pino({ level: 'silent' }) });
  key = (await createTenant(engine.db, 'frameworks')).apiKey;
});
test.after.always(async () => {
  for (const server of servers) {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
  await engine?.close();
  await database?.drop();
});

async function listen(handler: http.RequestListener): Promise<string> {
  const server = http.createServer(handler);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function exercise(t: ExecutionContext, base: string, host: string): Promise<void> {
  const id = crypto.randomUUID();
  const body = { action: { type: 'echo', text: `hi ${host}` } };
  const created = await send(base, 'PUT', `/api/contexts/${id}`, { key, headers: { 'if-none-match': '*' }, body });
  t.is(created.status, 201, created.text);
  t.is(created.headers.get('location'), `/api/contexts/${id}`);
  t.is(at(created.json, '_links', 'self', 'href'), `/api/contexts/${id}`, 'links follow the prefix');
  t.is(at(created.json, 'result', 'echoed'), `hi ${host}`);
  const replay = await send(base, 'PUT', `/api/contexts/${id}`, { key, headers: { 'if-none-match': '*' }, body });
  t.is(replay.status, 200);
  t.is(replay.headers.get('idempotent-replayed'), 'true');
  const conflict = await send(base, 'PUT', `/api/contexts/${id}`, { key, headers: { 'if-match': '"1"' }, body: { action: { type: 'echo', text: 'other' } } });
  t.is(conflict.status, 412);
  t.is(conflict.headers.get('content-type'), 'application/problem+json');
  const keyed = await send(base, 'POST', '/api/contexts', { key, headers: { 'idempotency-key': `k-${id}` }, body });
  t.is(keyed.status, 201);
  t.is((await send(base, 'POST', '/api/contexts', { key, headers: { 'idempotency-key': `k-${id}` }, body })).headers.get('idempotent-replayed'), 'true');
  t.is((await send(base, 'GET', `/api/contexts/${id}`)).status, 401, 'the engine authenticates its paths');
  t.is(at((await send(base, 'GET', '/hello')).json, 'hello'), `from ${host}`, 'the host keeps its own routes');
}

test('Express 5 with express.json() in front: the engine under /api, the host\'s routes beside it', async (t) => {
  await exercise(t, await listen(createExpressHost(engine)), 'express');
});

test('Fastify 5 with its JSON parser: the engine under /api, the host\'s routes beside it', async (t) => {
  const app = createFastifyHost(engine);
  await app.ready();
  t.teardown(() => app.close());
  await exercise(t, await listen((req, res) => app.routing(req, res)), 'fastify');
});

test('a Koa body parser that keeps nothing for the engine is named as a misconfiguration, not as something to retry', async (t) => {
  const app = new Koa();
  app.use(async (ctx, next) => {
    for await (const chunk of ctx.req) void chunk; // reads the body and throws it away
    await next();
  });
  app.use(engine.middleware).use(engine.router.routes());
  const base = await listen(app.callback());
  const reply = await send(base, 'PUT', `/api/contexts/${crypto.randomUUID()}`, { key, headers: { 'if-none-match': '*' }, body: { action: { type: 'echo', text: 'x' } } });
  t.is(reply.status, 500);
  t.is(reply.headers.get('content-type'), 'application/problem+json');
  t.regex(at(reply.json, 'detail'), /misconfiguration.*body parser/i);
  t.notRegex(at(reply.json, 'detail'), /safe to retry/);
});

test('with an authenticate hook of the host\'s, a 401 carries the challenge it names, not the engine\'s Bearer', async (t) => {
  const own = createContextEngine({ pool: database.pool, actions: new ActionRegistry().register(echo), authenticate: async () => undefined, challenge: 'Cookie realm="shop"' });
  t.teardown(() => own.close());
  const base = await listen(own.handler);
  const reply = await send(base, 'GET', `/contexts/${crypto.randomUUID()}`);
  t.is(reply.status, 401);
  t.is(reply.headers.get('www-authenticate'), 'Cookie realm="shop"');
  const silent = createContextEngine({ pool: database.pool, actions: new ActionRegistry().register(echo), authenticate: async () => undefined });
  t.teardown(() => silent.close());
  t.is((await send(await listen(silent.handler), 'GET', '/contexts')).headers.get('www-authenticate'), null, 'no Bearer challenge the host does not use');
});

test('an action refuses with a problem type of the host\'s own: its URI, title and status, as problem+json', async (t) => {
  const base = await listen(engine.handler);
  const reply = await send(base, 'PUT', `/api/contexts/${crypto.randomUUID()}`, { key, headers: { 'if-none-match': '*' }, body: { action: { type: 'echo', text: 'refuse' } } });
  t.is(reply.status, 422);
  t.is(reply.headers.get('content-type'), 'application/problem+json');
  t.like(reply.json as object, { type: OUT_OF_ECHOES.type, title: OUT_OF_ECHOES.title, status: 422, detail: 'This host does not echo "refuse".', word: 'refuse' });
});
