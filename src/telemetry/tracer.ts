// The engine's spans, through the global OpenTelemetry API only. Without a registered provider
// (the host's, or the one src/telemetry/sdk.ts registers for the service) the API is a no-op:
// every span is non-recording, and inSpan then runs the work as it is — no context switch, no
// attribute computed, no wrapper promise. The library never registers anything itself.
import { createRequire } from 'node:module';
import { context, SpanKind, SpanStatusCode, trace, type Context, type Span, type SpanOptions } from '@opentelemetry/api';
import { ProblemError } from '../http/problems.ts';

/** The instrumentation scope's name: what a host filters the engine's spans by. */
export const TRACER_NAME = 'idempotence-service';

function packageVersion(): string | undefined {
  try {
    // The package refers to itself by name (its exports list package.json), from src/ and dist/ alike.
    return (createRequire(import.meta.url)('idempotence-service/package.json') as { version?: string }).version;
  } catch {
    return undefined;
  }
}

export const PACKAGE_VERSION = packageVersion();

/** A proxy: it starts recording as soon as a provider is registered, whenever that happens. */
export const tracer = trace.getTracer(TRACER_NAME, PACKAGE_VERSION);

export const INTERNAL: SpanOptions = Object.freeze({ kind: SpanKind.INTERNAL });
export const CLIENT: SpanOptions = Object.freeze({ kind: SpanKind.CLIENT });
export const SERVER: SpanOptions = Object.freeze({ kind: SpanKind.SERVER });
export const CONSUMER: SpanOptions = Object.freeze({ kind: SpanKind.CONSUMER });

/**
 * Marks `span` failed by `error`. A ProblemError is the client's (a 4xx): it says only which
 * problem, never its message (which may quote what the client sent, an Idempotency-Key among
 * it), and is not an error of the span unless it is a 5xx.
 */
export function recordFailure(span: Span, error: unknown): void {
  if (error instanceof ProblemError) {
    span.setAttribute('idempotence.problem', error.slug ?? error.problem.type);
    if (error.status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
    return;
  }
  span.recordException(error instanceof Error ? error : String(error));
  span.setStatus({ code: SpanStatusCode.ERROR });
}

/**
 * Runs `work` in a span that is the active one for everything it awaits (child spans, the
 * traceparent of outbound calls), ends it when the work settles, and records a failure.
 */
export function inSpan<T>(name: string, work: (span: Span) => Promise<T>, options: SpanOptions = INTERNAL, parent: Context = context.active()): Promise<T> {
  const span = tracer.startSpan(name, options, parent);
  if (!span.isRecording()) return work(span);
  let pending: Promise<T>;
  try {
    // Promise.resolve: a host's phase may hand back a plain value, or throw before its first await.
    pending = Promise.resolve(context.with(trace.setSpan(parent, span), work, undefined, span));
  } catch (error) {
    pending = Promise.reject(error as Error);
  }
  return pending.then(
    (value) => {
      span.end();
      return value;
    },
    (error: unknown) => {
      recordFailure(span, error);
      span.end();
      throw error;
    },
  );
}
