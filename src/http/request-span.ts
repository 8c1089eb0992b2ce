// One span per request, the outermost middleware: named by the route's template ("PUT
// /contexts/:id"), with the same route, tenant, context and replay flag the request log reports
// (request-facts.ts). A client's traceparent is continued, through the global propagator (W3C in
// the service; whatever the host registered when embedded). When the host's own HTTP
// instrumentation already made the request's SERVER span, this one is an INTERNAL child of it.
import { context, propagation, SpanStatusCode, trace, type Span } from '@opentelemetry/api';
import type { Context, Middleware } from 'koa';
import { ATTR } from '../telemetry/attributes.ts';
import { INTERNAL, recordFailure, SERVER, tracer } from '../telemetry/tracer.ts';
import { requestFacts, routeThatRan } from './request-facts.ts';
import { UNMATCHED_ROUTE, type RouteResolver } from './route-template.ts';

function finish(span: Span, ctx: Context, route: RouteResolver, status: number): void {
  const facts = requestFacts(ctx, route);
  const matched = facts.route !== UNMATCHED_ROUTE;
  span.updateName(matched ? `${ctx.method} ${facts.route}` : ctx.method);
  span.setAttributes({
    [ATTR.httpMethod]: ctx.method,
    [ATTR.httpStatus]: status,
    [ATTR.replayed]: facts.replayed,
    ...(matched ? { [ATTR.httpRoute]: facts.route } : {}),
    ...(facts.tenant === undefined ? {} : { [ATTR.tenant]: facts.tenant }),
    ...(facts.context === undefined ? {} : { [ATTR.context]: facts.context }),
  });
  // HTTP semantic conventions: a server span is an error only for a 5xx (a 4xx is the client's).
  if (status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
}

export function traceRequests(route: RouteResolver = routeThatRan): Middleware {
  return (ctx, next) => {
    const active = context.active();
    const hosted = trace.getSpan(active) !== undefined;
    const parent = hosted ? active : propagation.extract(active, ctx.headers);
    const span = tracer.startSpan(ctx.method, hosted ? INTERNAL : SERVER, parent);
    if (!span.isRecording()) return next();
    return context.with(trace.setSpan(parent, span), next).then(
      () => {
        finish(span, ctx, route, ctx.status);
        span.end();
      },
      (error: unknown) => {
        // Past the problem middleware only what it could not answer: Koa's default handler makes it a 500.
        finish(span, ctx, route, 500);
        recordFailure(span, error);
        span.end();
        throw error;
      },
    );
  };
}
