// The limits that protect the server from hostile or broken clients (src/http/server.ts,
// src/http/body.ts, src/http/pagination.ts), over real sockets:
//   request head 16 KiB → 431; JSON body 64 KiB on every route that reads one → 413;
//   head not complete within headersTimeout, request within requestTimeout → 408 and cut off;
//   pages of at most 100; and garbage at the protocol level never gets a 5xx or a bare status.
import { randomUUID } from 'node:crypto';
import test from 'ava';
import fc from 'fast-check';
import { pino } from 'pino';
import { createRouters } from '../../src/app.ts';
import { JSON_BODY_LIMIT } from '../../src/http/body.ts';
import { MAX_PAGE_SIZE } from '../../src/http/pagination.ts';
import { createHttpServer, HTTP_SERVER_DEFAULTS } from '../../src/http/server.ts';
import { parseResponses, problemViolation, rawExchange, rawRequest, snapshotState } from '../helpers/hostile.ts';
import { ADMIN_TOKEN, at, send, withTestServer } from '../helpers/server.ts';

// Production limits (the defaults), except for the timeouts, which are short here so that a slow
// client is cut off within the test's time.
const SLOW = { headersTimeoutMs: 500, requestTimeoutMs: 1_000, connectionsCheckingIntervalMs: 100, lingerMs: 200 };
const server = withTestServer(test, {}, SLOW);
const SEED = 20_251_124; // fixed: the protocol fuzz below sends the same bytes every run
const RAW_RUNS = 150;

function problemOf(t: { is(a: unknown, b: unknown, message?: string): void; deepEqual(a: unknown, b: unknown, message?: string): void }, status: number, contentType: string | null | undefined, body: string, expected: number, slug: string): void {
  t.is(status, expected, body.slice(0, 200));
  t.deepEqual(problemViolation(status, contentType ?? undefined, body), undefined);
  t.is(at((JSON.parse(body) as unknown), 'type'), `https://idempotence.dev/problems/${slug}`);
}

test.serial('the server has the documented limits: 16 KiB of head, 10 s for it, 45 s for the request, 65 s keep-alive', (t) => {
  const plain = createHttpServer({ callback: () => () => undefined });
  t.is(plain.headersTimeout, 10_000);
  t.is(plain.requestTimeout, 45_000);
  t.is(plain.keepAliveTimeout, 65_000);
  t.is((plain as { maxHeaderSize?: number }).maxHeaderSize, 16 * 1024);
  t.true(HTTP_SERVER_DEFAULTS.connectionsCheckingIntervalMs <= 1_000, 'timeouts are enforced within a second');
});

test.serial('64 KiB of headers → 431 problem+json; 15 KiB of headers are fine', async (t) => {
  const headers = { 'x-padding': 'p'.repeat(64 * 1024) };
  const viaFetch = await server.tenant.request('GET', '/accounts', { headers });
  problemOf(t, viaFetch.status, viaFetch.headers.get('content-type'), viaFetch.text, 431, 'request-header-fields-too-large');
  t.is(viaFetch.headers.get('connection'), 'close');

  // Many small header lines add up the same way.
  const many: Record<string, string> = {};
  for (let i = 0; i < 1_000; i++) many[`x-h${i}`] = 'v'.repeat(60);
  const manyReply = await rawRequest(server.base, { method: 'GET', path: '/accounts', headers: { ...many, authorization: `Bearer ${server.tenant.apiKey}` } });
  t.is(manyReply.status, 431);

  const ok = await server.tenant.request('GET', '/accounts', { headers: { 'x-padding': 'p'.repeat(15 * 1024) } });
  t.is(ok.status, 200);

  // A raw client that keeps sending its head after the limit still reads the answer.
  const raw = await rawExchange(server.base, [`GET /accounts HTTP/1.1\r\nHost: x\r\nX-Padding: ${'p'.repeat(64 * 1024)}\r\n\r\n`]);
  const [reply] = parseResponses(raw.text);
  t.truthy(reply, raw.text.slice(0, 200));
  if (reply) problemOf(t, reply.status, reply.headers['content-type'], reply.body, 431, 'request-header-fields-too-large');
  t.true(raw.closedByServer);
});

test.serial('a request line too long for the head limit → 431, never a 5xx', async (t) => {
  const reply = await server.tenant.request('GET', `/contexts/${'a'.repeat(20_000)}`);
  problemOf(t, reply.status, reply.headers.get('content-type'), reply.text, 431, 'request-header-fields-too-large');
});

/** Every route that reads a body (POST, PUT, PATCH), found in the routers: a new one is covered at once. */
function bodyRoutes(): { method: string; path: string }[] {
  const routers = createRouters({
    pool: server.database.pool,
    db: server.database.db,
    config: { adminToken: undefined, contextTtlSeconds: 60 },
    logger: pino({ level: 'silent' }),
  });
  const routes: { method: string; path: string }[] = [];
  for (const router of routers) {
    for (const layer of router.stack) {
      for (const method of layer.methods) if (['POST', 'PUT', 'PATCH'].includes(method)) routes.push({ method, path: String(layer.path) });
    }
  }
  return routes;
}

test.serial('a body over 64 KiB → 413 problem+json on every route that reads one, with Content-Length or chunked, and nothing changes', async (t) => {
  const routes = bodyRoutes();
  t.true(routes.length >= 5, JSON.stringify(routes));
  const open = await server.tenant.createContext();
  const overLimit = JSON.stringify({ name: 'x'.repeat(JSON_BODY_LIMIT) });
  const atLimit = `{"name":"${'x'.repeat(JSON_BODY_LIMIT - 11)}"}`;
  t.is(Buffer.byteLength(atLimit), JSON_BODY_LIMIT);
  for (const route of routes) {
    // Each path parameter gets an id that reaches the body: a new context id with If-None-Match: *, an open context with If-Match.
    const variants: { path: string; headers: Record<string, string> }[] = [];
    if (route.path === '/contexts/:id') {
      variants.push({ path: `/contexts/${randomUUID()}`, headers: { 'if-none-match': '*' } });
      variants.push({ path: `/contexts/${open.id}`, headers: { 'if-match': open.etag } });
    } else if (route.path.startsWith('/admin/')) {
      // The admin actions read their body before they look anything up: any well-formed ids do.
      variants.push({ path: route.path.replace(/:tenantId|:id/g, (name) => (name === ':id' && route.path.includes('webhook') ? '1' : randomUUID())), headers: { 'if-match': '*' } });
    } else if (!route.path.includes(':')) {
      variants.push({ path: route.path, headers: {} });
    } else {
      t.fail(`${route.method} ${route.path}: this test does not know which id reaches its body; add it`);
    }
    const key = route.path === '/tenants' || route.path.startsWith('/admin/') ? ADMIN_TOKEN : server.tenant.apiKey;
    for (const variant of variants) {
      const headers = { ...variant.headers, authorization: `Bearer ${key}`, 'content-type': 'application/json' };
      for (const chunked of [false, true]) {
        const before = await snapshotState(server.database.pool);
        const reply = await rawRequest(server.base, { method: route.method, path: variant.path, headers, body: overLimit, chunked });
        const label = `${route.method} ${variant.path} ${chunked ? 'chunked' : 'Content-Length'}`;
        t.is(reply.status, 413, label);
        t.deepEqual(problemViolation(reply.status, reply.headers['content-type'], reply.text), undefined, label);
        t.deepEqual(await snapshotState(server.database.pool), before, `${label}: nothing changed`);
      }
      const exact = await rawRequest(server.base, { method: route.method, path: variant.path, headers, body: atLimit });
      t.not(exact.status, 413, `${route.method} ${variant.path}: exactly ${JSON_BODY_LIMIT} bytes are allowed`);
      t.true(exact.status < 500);
    }
  }
  // Giant bodies are refused early: the answer does not wait for 20 MB to arrive.
  const started = Date.now();
  const giant = await send(server.base, 'POST', '/accounts', { key: server.tenant.apiKey, body: 'x'.repeat(20_000_000), headers: { 'content-type': 'application/json' } });
  t.is(giant.status, 413);
  t.true(Date.now() - started < 5_000);
});

test.serial('a client that sends its head too slowly is answered 408 and cut off', async (t) => {
  const lines = ['GET /healthz HTTP/1.1\r\n', 'Host: x\r\n', ...Array.from({ length: 40 }, (_, i) => `X-Slow-${i}: a\r\n`), '\r\n'];
  const slow = await rawExchange(server.base, lines, { paceMs: 100, waitMs: 5_000 });
  t.true(slow.closedByServer, 'the server closed the connection');
  t.true(slow.ms < 2_500, `cut off after ${slow.ms} ms (headersTimeout ${SLOW.headersTimeoutMs} ms)`);
  const [reply] = parseResponses(slow.text);
  t.truthy(reply, slow.text);
  if (reply) problemOf(t, reply.status, reply.headers['content-type'], reply.body, 408, 'request-timeout');

  // A connection that says nothing at all is closed the same way.
  const silent = await rawExchange(server.base, [], { waitMs: 5_000 });
  t.true(silent.closedByServer);
  t.true(silent.ms < 2_500, `silent connection closed after ${silent.ms} ms`);
});

test.serial('a client that sends its body too slowly is answered 408 and cut off, and nothing is written', async (t) => {
  const before = await snapshotState(server.database.pool);
  const body = '{"name":"slow","currency":"EUR"}';
  const head = `POST /accounts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${server.tenant.apiKey}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`;
  const slow = await rawExchange(server.base, [head, ...body.split('')], { paceMs: 150, waitMs: 8_000 });
  t.true(slow.closedByServer);
  t.true(slow.ms < 3_500, `cut off after ${slow.ms} ms (requestTimeout ${SLOW.requestTimeoutMs} ms)`);
  const [reply] = parseResponses(slow.text);
  t.truthy(reply, slow.text);
  if (reply) problemOf(t, reply.status, reply.headers['content-type'], reply.body, 408, 'request-timeout');
  await new Promise((resolve) => setTimeout(resolve, 300)); // the handler that was waiting for the body gives up
  t.deepEqual(await snapshotState(server.database.pool), before);
});

test.serial('requestTimeout bounds receiving the request, not answering it: a long-poll outlasts it', async (t) => {
  const context = await server.tenant.createContext();
  const started = Date.now();
  const reply = await server.tenant.request('GET', `/contexts/${context.id}`, { headers: { prefer: 'wait=2', 'if-none-match': context.etag } });
  const ms = Date.now() - started;
  t.is(reply.status, 304);
  t.is(reply.headers.get('preference-applied'), 'wait=2');
  t.true(ms > SLOW.requestTimeoutMs + 500, `answered after ${ms} ms, past requestTimeout ${SLOW.requestTimeoutMs} ms`);
});

test.serial('Node\'s own refusals are problem+json too: no Host, an unmet Expect, CONNECT, malformed HTTP', async (t) => {
  const cases: [string, number, string][] = [
    ['GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n', 400, 'bad-request'],
    ['GET /healthz HTTP/1.1\r\nHost: x\r\nExpect: teapot\r\nConnection: close\r\n\r\n', 417, 'expectation-failed'],
    ['CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n', 400, 'bad-request'],
    ['GARBAGE\r\n\r\n', 400, 'bad-request'],
    ['GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n', 400, 'bad-request'],
    ['POST /accounts HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n', 400, 'bad-request'],
    ['GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header: x\r\n\r\n', 400, 'bad-request'],
  ];
  for (const [request, status, slug] of cases) {
    const exchange = await rawExchange(server.base, [request], { waitMs: 3_000, settleMs: 200 });
    const [reply] = parseResponses(exchange.text);
    t.truthy(reply, `${JSON.stringify(request)} → ${JSON.stringify(exchange.text)}`);
    if (reply) problemOf(t, reply.status, reply.headers['content-type'], reply.body, status, slug);
  }
  // HTTP/1.0 needs no Host.
  const old = parseResponses((await rawExchange(server.base, ['GET /healthz HTTP/1.0\r\n\r\n'], { settleMs: 200 })).text);
  t.is(old[0]?.status, 200);
});

test.serial('broken bytes after a complete request do not take its answer: it gets its own, then the connection closes', async (t) => {
  const exchange = await rawExchange(server.base, [`GET /accounts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${server.tenant.apiKey}\r\n\r\nNOT HTTP AT ALL\r\n\r\n`], { waitMs: 3_000 });
  const replies = parseResponses(exchange.text);
  t.is(replies[0]?.status, 200, exchange.text.slice(0, 300));
  t.true(exchange.closedByServer);
});

test.serial(`pages hold at most ${MAX_PAGE_SIZE} items on every list route`, async (t) => {
  const account = await server.tenant.createAccount();
  const routers = createRouters({ pool: server.database.pool, db: server.database.db, config: { adminToken: undefined, contextTtlSeconds: 60 }, logger: pino({ level: 'silent' }) });
  let lists = 0;
  for (const router of routers) {
    for (const layer of router.stack) {
      if (!layer.methods.includes('GET')) continue;
      const path = String(layer.path).replace(':id', account);
      if (path.includes(':')) continue; // only account ids lead to lists
      const full = await server.tenant.request('GET', `${path}?limit=${MAX_PAGE_SIZE}`);
      if (full.status !== 200 || at<unknown>(full.json, '_embedded') === undefined) continue;
      lists++;
      for (const limit of [MAX_PAGE_SIZE + 1, 0, 1e6]) {
        const reply = await server.tenant.request('GET', `${path}?limit=${limit}`);
        t.is(reply.status, 400, `${path}?limit=${limit}`);
        t.is(at(reply.json, 'type'), 'https://idempotence.dev/problems/invalid-parameter');
      }
    }
  }
  t.true(lists >= 4, `${lists} list routes found`);
});

test.serial('protocol-level garbage (property): every answer is a problem or a success, never a 5xx, and nothing changes on a refusal', async (t) => {
  t.timeout(60_000);
  const key = server.tenant.apiKey;
  const body = '{"name":"raw","currency":"EUR"}';
  const templates = [
    `GET /accounts HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${key}\r\nConnection: close\r\n\r\n`,
    `POST /accounts HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${key}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
    `PUT /contexts/${randomUUID()} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${key}\r\nIf-None-Match: *\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\n{"a":\r\n1\r\n1\r\n1\r\n}\r\n0\r\n\r\n`,
  ];
  const fragments = [
    '\r\n', '\n', '\r', ' ', '\t', ':', '\0', 'HTTP/1.0', 'HTTP/2.0', 'HTTP/1.1x', 'Content-Length: 5\r\n', 'Content-Length: -1\r\n', 'Content-Length: 99999999999999999999\r\n',
    'Transfer-Encoding: chunked\r\n', 'Transfer-Encoding: gzip, chunked\r\n', 'ffffffffffffffff\r\n', 'zz\r\n', 'X-Folded: a\r\n b\r\n', 'Host: second\r\n', 'Expect: 100-continue\r\n',
    'Connection: keep-alive\r\n', 'Upgrade: h2c\r\nConnection: Upgrade\r\n', '\u00ff\u00fe', 'GET * HTTP/1.1\r\n', 'GET http://evil.example/accounts HTTP/1.1\r\n', `${'a'.repeat(20_000)}`,
  ];
  const mutation = fc.oneof(
    fc.tuple(fc.nat(), fc.nat({ max: 40 })).map(([at, length]) => (text: string) => { const i = at % (text.length + 1); return text.slice(0, i) + text.slice(i + length); }),
    fc.tuple(fc.nat(), fc.constantFrom(...fragments)).map(([at, fragment]) => (text: string) => { const i = at % (text.length + 1); return text.slice(0, i) + fragment + text.slice(i); }),
    fc.tuple(fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 8 })).map(([at, bytes]) => (text: string) => { const i = at % (text.length + 1); return text.slice(0, i) + Buffer.from(bytes).toString('latin1') + text.slice(i); }),
    fc.constant((text: string) => text.replace(/\r\n/g, '\n')),
    fc.constant((text: string) => text.toLowerCase()),
  );
  let exchanges = 0;
  const statuses = new Map<number, number>();
  const details = await fc.check(
    fc.asyncProperty(fc.constantFrom(...templates), fc.array(mutation, { minLength: 1, maxLength: 3 }), async (template, mutations) => {
      const bytes = mutations.reduce((text, mutate) => mutate(text), template);
      const before = await snapshotState(server.database.pool);
      const exchange = await rawExchange(server.base, [Buffer.from(bytes, 'latin1')], { waitMs: 2_500, settleMs: 150 });
      exchanges++;
      const replies = parseResponses(exchange.text);
      for (const reply of replies) {
        statuses.set(reply.status, (statuses.get(reply.status) ?? 0) + 1);
        if (reply.status < 200) continue; // 100 Continue
        const violation = problemViolation(reply.status, reply.headers['content-type'], reply.body);
        if (violation) throw new Error(`${violation} for ${JSON.stringify(bytes.slice(0, 300))}: ${exchange.text.slice(0, 300)}`);
      }
      if (!replies.some((reply) => reply.status >= 200 && reply.status < 300)) {
        const after = await snapshotState(server.database.pool);
        if (JSON.stringify(after) !== JSON.stringify(before)) throw new Error(`state changed without a 2xx for ${JSON.stringify(bytes.slice(0, 300))}`);
      }
    }),
    { numRuns: RAW_RUNS, seed: SEED, endOnFailure: true },
  );
  if (details.failed) throw new Error(`${fc.defaultReportMessage(details)}\n\n${details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance)}`);
  t.log(`statuses ${JSON.stringify(Object.fromEntries([...statuses].sort(([a], [b]) => a - b)))}`);
  t.is(exchanges, RAW_RUNS);
  t.true((statuses.get(400) ?? 0) > RAW_RUNS / 4, 'most mutations break the request');
});
