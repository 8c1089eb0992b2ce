// In-memory tracing for a test process: a tracer provider whose spans stay in an array,
// registered as the global one with the W3C propagator and an AsyncLocalStorage context manager —
// as the service's SDK (src/telemetry/sdk.ts) or a host would. Ava runs each test file in a
// process of its own, so only the file that calls this is traced.
import { context, propagation, trace, type Attributes } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';

export function registerInMemoryTracing(): { exporter: InMemorySpanExporter; provider: BasicTracerProvider } {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  if (!trace.setGlobalTracerProvider(provider)) throw new Error('a tracer provider was registered already in this test process');
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  return { exporter, provider };
}

/** The spans whose parent is `parent`, in the order they started. */
export function childrenOf(spans: readonly ReadableSpan[], parent: ReadableSpan): ReadableSpan[] {
  const { spanId, traceId } = parent.spanContext();
  return spans
    .filter((span) => span.parentSpanContext?.spanId === spanId && span.spanContext().traceId === traceId)
    .sort((a, b) => a.startTime[0] - b.startTime[0] || a.startTime[1] - b.startTime[1]);
}

/** The one child of `parent` named `name` (throws when there is not exactly one). */
export function child(spans: readonly ReadableSpan[], parent: ReadableSpan, name: string): ReadableSpan {
  const found = childrenOf(spans, parent).filter((span) => span.name === name);
  if (found.length !== 1) {
    throw new Error(`${found.length} spans "${name}" under "${parent.name}"; its children: ${childrenOf(spans, parent).map((span) => span.name).join(', ')}`);
  }
  return found[0] as ReadableSpan;
}

/** Every string an exported span holds in an attribute, its own or its events'. */
export function attributeStrings(spans: readonly ReadableSpan[]): string[] {
  const strings = (attributes: Attributes | undefined): string[] =>
    Object.values(attributes ?? {}).flatMap((value) => (Array.isArray(value) ? value : [value])).filter((value): value is string => typeof value === 'string');
  return spans.flatMap((span) => [span.name, ...strings(span.attributes), ...span.events.flatMap((event) => strings(event.attributes)), span.status.message ?? '']);
}
