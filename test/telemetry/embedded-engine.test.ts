// The engine embedded in a host that traces: the host registered its provider (the engine
// registers nothing), and its HTTP instrumentation made the request's SERVER span. The engine's
// request span is then an INTERNAL child of it, under the mount prefix, and its spans go to the
// host's provider.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { context, SpanKind, trace } from '@opentelemetry/api';
import test from 'ava';
import Koa from 'koa';
import { createContextEngine, createTenant, type ContextEngine } from '../../src/index.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';
import { at, send } from '../helpers/server.ts';
import { child, registerInMemoryTracing } from '../helpers/tracing.ts';

const { exporter } = registerInMemoryTracing();
let database: TestDatabase;
let engine: ContextEngine;
let listener: http.Server;
let base: string;

test.before(async () => {
  database = await createTestDatabase();
  engine = createContextEngine({ pool: database.pool, prefix: '/api' });
  const app = new Koa();
  // What a host's HTTP instrumentation does: a SERVER span, active for the whole request.
  const hostTracer = trace.getTracer('host-http');
  app.use((ctx, next) => {
    const span = hostTracer.startSpan(`host ${ctx.method}`, { kind: SpanKind.SERVER });
    return context.with(trace.setSpan(context.active(), span), next).finally(() => span.end());
  });
  app.use(engine.middleware).use(engine.router.routes()).use(engine.router.allowedMethods());
  listener = http.createServer(app.callback());
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(listener.address() as AddressInfo).port}`;
});

test.after.always(async () => {
  listener?.closeAllConnections();
  await new Promise<void>((resolve) => (listener ? listener.close(() => resolve()) : resolve()));
  await engine?.close();
  await database?.drop();
});

test('under the host\'s SERVER span the engine\'s request span is an INTERNAL child, named by the prefixed route', async (t) => {
  const tenant = await createTenant(database.db, 'host tenant');
  const created = await send(base, 'POST', '/api/contexts', { key: tenant.apiKey });
  t.is(created.status, 201, created.text);
  const id = at(created.json, 'id');
  const read = await send(base, 'GET', `/api/contexts/${id}`, { key: tenant.apiKey });
  t.is(read.status, 200);

  const spans = exporter.getFinishedSpans();
  const hosts = spans.filter((span) => span.instrumentationScope.name === 'host-http');
  t.is(hosts.length, 2);
  const [post, get] = hosts;
  if (!post || !get) return;
  const postSpan = child(spans, post, 'POST /api/contexts');
  t.is(postSpan.kind, SpanKind.INTERNAL);
  t.is(postSpan.instrumentationScope.name, 'idempotence-service');
  t.like(postSpan.attributes, { 'http.route': '/api/contexts', 'http.response.status_code': 201, 'idempotence.tenant': tenant.id, 'idempotence.context': id });
  const getSpan = child(spans, get, 'GET /api/contexts/:id');
  t.like(getSpan.attributes, { 'http.route': '/api/contexts/:id', 'http.response.status_code': 200, 'idempotence.context': id, 'idempotence.replayed': false });
});
