// The trace of a card payment, from the PUT that is answered 202 to the worker's completion, as
// an in-memory exporter receives it: one trace id for the request and the phases, the spans
// nested as docs/tracing.md says, and no secret in any attribute.
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import test from 'ava';
import { ProcessorClient } from '../../src/payments/processor-client.ts';
import { phaseKey } from '../../src/phases/keys.ts';
import { keyHash } from '../../src/telemetry/attributes.ts';
import { deliverDueWebhooks } from '../../src/webhooks/deliverer.ts';
import { enqueueWebhookEvent } from '../../src/webhooks/outbox.ts';
import { startPaymentRig, type PaymentRig } from '../helpers/payments.ts';
import { at } from '../helpers/server.ts';
import { attributeStrings, child, registerInMemoryTracing } from '../helpers/tracing.ts';

const { exporter } = registerInMemoryTracing();
let rig: PaymentRig;
test.before(async () => {
  rig = await startPaymentRig();
});
test.after.always(async () => {
  await rig?.close();
});

test('a payment is one trace: the PUT (202), its transaction, the job and its phases, the processor call', async (t) => {
  t.timeout(30_000);
  const tenant = await rig.server.newTenant('traced');
  const account = await tenant.createAccount('EUR');
  const id = randomUUID();
  const source = 'tok_ok';
  const put = () => tenant.request('PUT', `/contexts/${id}`, { headers: { 'if-none-match': '*' }, body: { action: { type: 'payment', account, amount: 250, source } } });
  const accepted = await put();
  t.is(accepted.status, 202, accepted.text);
  await rig.drain([rig.worker()]);
  const final = await tenant.request('GET', `/contexts/${id}`);
  t.is(at(final.json, 'state'), 'succeeded', final.text);
  const replayed = await put();
  t.is(replayed.headers.get('idempotent-replayed'), 'true');

  const spans = exporter.getFinishedSpans();
  const servers = spans.filter((span) => span.kind === SpanKind.SERVER && span.attributes['idempotence.context'] === id && span.attributes['http.request.method'] === 'PUT');
  t.is(servers.length, 2, 'the PUT and its replay');
  const [server, replay] = servers;
  if (!server || !replay) return;
  const traceId = server.spanContext().traceId;
  t.is(server.name, 'PUT /contexts/:id');
  t.like(server.attributes, {
    'http.request.method': 'PUT',
    'http.route': '/contexts/:id',
    'http.response.status_code': 202,
    'idempotence.tenant': tenant.id,
    'idempotence.context': id,
    'idempotence.replayed': false,
  });
  t.is(server.parentSpanContext, undefined, 'the client sent no traceparent: a trace of its own');

  // The request: the plain read decides "create", then one transaction inserts, accepts and records.
  t.is(child(spans, server, 'context read').attributes['idempotence.decision'], 'create');
  const transaction = child(spans, server, 'transaction');
  t.like(transaction.attributes, { 'idempotence.transaction.attempts': 1, 'idempotence.transaction.retried': false });
  t.is(child(spans, transaction, 'context insert').attributes['idempotence.outcome'], 'inserted');
  t.like(child(spans, transaction, 'action execute').attributes, { 'idempotence.action.type': 'payment', 'idempotence.outcome': 'processing' });
  const accept = child(spans, transaction, 'context record');
  t.is(accept.attributes['idempotence.state'], 'processing');

  // The context keeps the traceparent of the span that recorded the acceptance…
  const stored = await rig.server.database.pool.query<{ trace_parent: string | null }>('SELECT trace_parent FROM contexts WHERE id = $1', [id]);
  t.is(stored.rows[0]?.trace_parent, `00-${traceId}-${accept.spanContext().spanId}-01`);

  // …and the worker's job continues that trace from there, hours later if need be.
  const job = child(spans, accept, 'job payment');
  t.is(job.kind, SpanKind.CONSUMER);
  t.like(job.attributes, { 'idempotence.context': id, 'idempotence.job.attempt': 1, 'idempotence.job.result': 'finished', 'idempotence.recovery_point': 'accepted' });

  const charge = child(spans, job, 'phase charge');
  t.like(charge.attributes, { 'idempotence.phase.name': 'charge', 'idempotence.phase.kind': 'external', 'idempotence.phase.outcome': 'next', 'idempotence.recovery_point': 'accepted', 'idempotence.job.attempt': 1 });
  const call = child(spans, charge, 'POST /charges');
  t.is(call.kind, SpanKind.CLIENT);
  const derivedKey = phaseKey({ tenantId: tenant.id, contextId: id }, 'charge');
  t.regex(String(call.attributes['idempotence.key_hash']), /^[0-9a-f]{16}$/);
  t.is(call.attributes['idempotence.key_hash'], keyHash(derivedKey));
  t.like(call.attributes, { 'http.request.method': 'POST', 'url.template': '/charges', 'http.response.status_code': 201 });

  const credit = child(spans, job, 'phase credit');
  t.like(credit.attributes, { 'idempotence.phase.kind': 'transactional', 'idempotence.phase.outcome': 'done', 'idempotence.recovery_point': 'charge', 'idempotence.job.result': 'finished' });
  const creditTransaction = child(spans, credit, 'transaction');
  t.is(child(spans, creditTransaction, 'context lock').attributes['idempotence.decision'], 'held');
  child(spans, creditTransaction, 'phase statements');
  t.is(child(spans, creditTransaction, 'context record').attributes['idempotence.state'], 'succeeded');
  t.deepEqual(
    spans.filter((span) => span.spanContext().traceId === traceId).map((span) => span.name).sort(),
    ['PUT /contexts/:id', 'context read', 'transaction', 'context insert', 'action execute', 'context record', 'job payment', 'phase charge', 'POST /charges', 'phase credit', 'transaction', 'context lock', 'phase statements', 'context record'].sort(),
    'the whole trace, nothing else in it',
  );

  // The replay is answered from the plain read: no transaction, replayed=true.
  t.like(replay.attributes, { 'idempotence.replayed': true, 'http.response.status_code': 200 });
  t.is(child(spans, replay, 'context read').attributes['idempotence.decision'], 'replay');

  // No secret anywhere, in any span of the process: not the API key, not the derived key, not the card source.
  const strings = attributeStrings(spans);
  for (const secret of [tenant.apiKey, derivedKey, source]) t.false(strings.some((value) => value.includes(secret)), `"${secret}" is in no span`);
});

test('a client\'s traceparent is continued by the request\'s span', async (t) => {
  const traceId = randomUUID().replaceAll('-', '');
  const parent = 'b7ad6b7169203331';
  const reply = await rig.server.tenant.request('GET', `/contexts/${randomUUID()}`, { headers: { traceparent: `00-${traceId}-${parent}-01` } });
  t.is(reply.status, 404);
  const server = exporter.getFinishedSpans().find((span) => span.kind === SpanKind.SERVER && span.spanContext().traceId === traceId);
  t.is(server?.parentSpanContext?.spanId, parent);
  t.like(server?.attributes, { 'http.route': '/contexts/:id', 'http.response.status_code': 404, 'idempotence.tenant': rig.server.tenant.id });
});

test('the processor request carries the traceparent of its CLIENT span', async (t) => {
  const seen: IncomingHttpHeaders[] = [];
  const processor = createServer((req, res) => {
    seen.push(req.headers);
    res.writeHead(503, { 'content-type': 'application/problem+json' }).end('{"title":"down"}');
  });
  await new Promise<void>((resolve) => processor.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => processor.close(() => resolve())));
  const client = new ProcessorClient({ baseUrl: `http://127.0.0.1:${(processor.address() as AddressInfo).port}`, timeoutMs: 2_000 });
  const key = `charge_${randomUUID()}`;
  t.is((await client.createCharge(key, { amount: 1, currency: 'EUR', source: 'tok_ok' })).kind, 'unknown');
  const span = exporter.getFinishedSpans().find((candidate) => candidate.attributes['idempotence.key_hash'] === keyHash(key));
  if (!span) return t.fail('no span for the call');
  t.is(seen[0]?.['traceparent'], `00-${span.spanContext().traceId}-${span.spanContext().spanId}-01`);
  t.like(span.attributes, { 'http.response.status_code': 503, 'error.type': '503' });
  t.is(span.status.code, SpanStatusCode.ERROR);
});

test('a webhook delivery is a CLIENT span with the event id\'s hash: no secret, signature, payload or query in it', async (t) => {
  const tenant = await rig.server.newTenant('hooks');
  const seen: IncomingHttpHeaders[] = [];
  const receiver = createServer((req, res) => {
    seen.push(req.headers);
    req.resume();
    res.writeHead(204).end();
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => receiver.close(() => resolve())));
  const port = (receiver.address() as AddressInfo).port;
  const secret = 'whsec_dHJhY2luZy10ZXN0LXNlY3JldA==';
  await rig.server.database.pool.query('INSERT INTO webhook_endpoints (tenant_id, url, secret) VALUES ($1, $2, $3)', [tenant.id, `http://127.0.0.1:${port}/hook?token=query_token_123`, secret]);
  await enqueueWebhookEvent(rig.server.database.db, tenant.id, { type: 'context.succeeded', data: { marker: 'payload_marker_456' } });
  t.like(await deliverDueWebhooks(rig.server.database.db), { delivered: 1, failed: 0 });

  const eventId = String(seen[0]?.['webhook-id']);
  const span = exporter.getFinishedSpans().find((candidate) => candidate.name === 'POST webhook' && candidate.attributes['idempotence.key_hash'] === keyHash(eventId));
  if (!span) return t.fail('no span for the delivery');
  t.is(span.kind, SpanKind.CLIENT);
  t.like(span.attributes, { 'http.request.method': 'POST', 'server.address': '127.0.0.1', 'server.port': port, 'http.response.status_code': 204, 'idempotence.webhook.attempt': 1, 'idempotence.outcome': 'delivered' });
  t.is(seen[0]?.['traceparent'], undefined, 'no traceparent to a third party');
  const strings = attributeStrings([span]);
  for (const secretish of [secret, 'query_token_123', 'payload_marker_456', eventId, String(seen[0]?.['webhook-signature'])]) {
    t.false(strings.some((value) => value.includes(secretish)), `"${secretish}" is not in the span`);
  }
});
