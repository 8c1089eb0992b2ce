// Without a registered provider (the default: OTEL_TRACES_EXPORTER unset) tracing costs nothing
// that shows: no traceparent is stored with an accepted context — not even the one a client
// sent — and none is sent to the processor. No provider is registered in this test process.
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { trace } from '@opentelemetry/api';
import test from 'ava';
import { ProcessorClient } from '../../src/payments/processor-client.ts';
import { startPaymentRig, type PaymentRig } from '../helpers/payments.ts';
import { at } from '../helpers/server.ts';

let rig: PaymentRig;
test.before(async () => {
  rig = await startPaymentRig();
});
test.after.always(async () => {
  await rig?.close();
});

test('tracing off: an accepted payment stores no traceparent, even when the client sent one, and still completes', async (t) => {
  t.timeout(30_000);
  t.false(trace.getTracer('probe').startSpan('probe').isRecording(), 'no provider in this process');
  const account = await rig.server.tenant.createAccount('EUR');
  const id = randomUUID();
  const accepted = await rig.server.tenant.request('PUT', `/contexts/${id}`, {
    headers: { 'if-none-match': '*', traceparent: `00-${'ab'.repeat(16)}-${'cd'.repeat(8)}-01` },
    body: { action: { type: 'payment', account, amount: 250, source: 'tok_ok' } },
  });
  t.is(accepted.status, 202, accepted.text);
  const stored = await rig.server.database.pool.query<{ trace_parent: string | null; state: string }>('SELECT trace_parent, state FROM contexts WHERE id = $1', [id]);
  t.deepEqual(stored.rows, [{ trace_parent: null, state: 'processing' }]);
  await rig.drain([rig.worker()]);
  t.is(at((await rig.server.tenant.request('GET', `/contexts/${id}`)).json, 'state'), 'succeeded');
});

test('tracing off: the processor request carries no traceparent', async (t) => {
  const seen: IncomingHttpHeaders[] = [];
  const processor = createServer((req, res) => {
    seen.push(req.headers);
    res.writeHead(503, { 'content-type': 'application/problem+json' }).end('{"title":"down"}');
  });
  await new Promise<void>((resolve) => processor.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => processor.close(() => resolve())));
  const client = new ProcessorClient({ baseUrl: `http://127.0.0.1:${(processor.address() as AddressInfo).port}`, timeoutMs: 2_000 });
  const outcome = await client.createCharge('charge_key', { amount: 1, currency: 'EUR', source: 'tok_ok' });
  t.is(outcome.kind, 'unknown');
  t.is(seen.length, 1);
  t.is(seen[0]?.['idempotency-key'], 'charge_key');
  t.false('traceparent' in (seen[0] ?? {}));
});
