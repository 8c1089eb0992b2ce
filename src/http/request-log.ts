import type { Middleware } from 'koa';
import type { Logger } from 'pino';
import { observeRequests } from './observe.ts';
import { requestFacts, routeThatRan } from './request-facts.ts';
import type { RouteResolver } from './route-template.ts';

/**
 * Paths pino censors in every line of the service's logger (main.ts): credentials that some
 * object handed to the logger might carry. The request log itself never holds a header but
 * Idempotency-Key.
 */
export const LOG_REDACT_PATHS = [
  'authorization',
  'headers.authorization',
  'req.headers.authorization',
  '*.authorization',
  'apiKey',
  '*.apiKey',
  'secret',
  '*.secret',
  'adminToken',
  '*.adminToken',
];

/**
 * One line per request, at info, message "request": method, route (the router's path template,
 * never the raw URL), path, status, latencyMs, tenant, context, replayed, idempotencyKey. The
 * Authorization header is never logged, nor the query string or the body.
 */
export function requestLog(logger: Logger, route: RouteResolver = routeThatRan): Middleware {
  // These lines are built from the fields above only, none of them a credential, so the
  // logger's redaction (10 µs a line, a fifth of a GET's own CPU; bench/) is not applied here.
  const lines = logger.child({}, { redact: [] });
  return observeRequests((ctx, { status, elapsedNs }) => {
    const facts = requestFacts(ctx, route);
    const idempotencyKey = ctx.get('Idempotency-Key');
    lines.info(
      {
        method: ctx.method,
        route: facts.route,
        path: ctx.path.slice(0, 512),
        status,
        latencyMs: Math.round(Number(elapsedNs) / 1e3) / 1e3,
        tenant: facts.tenant,
        context: facts.context,
        replayed: facts.replayed,
        idempotencyKey: idempotencyKey === '' ? undefined : idempotencyKey.slice(0, 256),
      },
      'request',
    );
  });
}
