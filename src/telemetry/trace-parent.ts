// The active span as a W3C traceparent (https://www.w3.org/TR/trace-context/#traceparent-header),
// stored with a context whose asynchronous action a request accepted, and read back by the
// worker so the job's spans continue that request's trace. Formatted and parsed here, not
// through the global propagator: a host may propagate B3 or nothing over HTTP, and what is
// stored must still be read back the same way.
import { context, isSpanContextValid, ROOT_CONTEXT, trace, TraceFlags, type Context } from '@opentelemetry/api';

const TRACE_PARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** The active span's traceparent, or null without a valid one (always so when tracing is off). */
export function activeTraceParent(): string | null {
  const span = trace.getSpanContext(context.active());
  if (span === undefined || !isSpanContextValid(span)) return null;
  return `00-${span.traceId}-${span.spanId}-${span.traceFlags & TraceFlags.SAMPLED ? '01' : '00'}`;
}

/** The context whose (remote) parent `traceParent` names; the root context when it names none. */
export function contextOfTraceParent(traceParent: string | null): Context {
  const match = traceParent === null ? null : TRACE_PARENT.exec(traceParent);
  if (!match) return ROOT_CONTEXT;
  const [, traceId = '', spanId = '', flags = '00'] = match;
  const parent = { traceId, spanId, traceFlags: Number.parseInt(flags, 16) & TraceFlags.SAMPLED, isRemote: true };
  return isSpanContextValid(parent) ? trace.setSpanContext(ROOT_CONTEXT, parent) : ROOT_CONTEXT;
}
