// The service's SDK setup (src/telemetry/sdk.ts) never replaces a tracer provider that was
// registered before it — a host's: it registers nothing, and the spans keep going to the host's.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { trace } from '@opentelemetry/api';
import test from 'ava';
import { pino } from 'pino';
import { loadConfig } from '../../src/config.ts';
import { startTracing } from '../../src/telemetry/sdk.ts';
import { inSpan } from '../../src/telemetry/tracer.ts';
import { registerInMemoryTracing } from '../helpers/tracing.ts';

test('a provider registered first (the host\'s) is kept: the service\'s SDK registers nothing and sends nothing', async (t) => {
  const { exporter } = registerInMemoryTracing();
  let received = 0;
  const collector = createServer((req, res) => {
    received++;
    req.resume();
    res.writeHead(200).end();
  });
  await new Promise<void>((resolve) => collector.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => collector.close(() => resolve())));
  const settings = loadConfig({ OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${(collector.address() as AddressInfo).port}` }).tracing;
  const lines: string[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(line) });

  const tracing = startTracing(settings, 'idempotence-api', logger);
  t.false(tracing.registered);
  t.regex(lines.join(''), /tracer provider is registered already/);
  await inSpan('probe', async () => undefined);
  trace.getTracer('host').startSpan('host probe').end();
  await tracing.shutdown();
  t.deepEqual(exporter.getFinishedSpans().map((span) => span.name), ['probe', 'host probe'], 'both went to the host\'s provider');
  t.is(received, 0, 'nothing went to the service\'s exporter');
});
