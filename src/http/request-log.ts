import type { Context, Middleware } from 'koa';
import type { Logger } from 'pino';
import { observeRequests } from './observe.ts';
import { UNMATCHED_ROUTE, type RouteResolver } from './route-template.ts';

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

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
// Under a host's prefix too (/api/contexts/…): the engine's paths end the same way.
const CONTEXT_LOCATION = /\/contexts\/([0-9a-f-]{36})$/i;

/** The context a request was about: the `:id` of …/contexts/:id, or the one a POST created. */
export function requestContextId(route: string, path: string, location: string): string | undefined {
  if (route.endsWith('/contexts/:id')) {
    const id = path.split('/').at(-1);
    return id !== undefined && UUID.test(id) ? id.toLowerCase() : undefined;
  }
  return CONTEXT_LOCATION.exec(location)?.[1]?.toLowerCase();
}

/** Without a resolver: the template of the route that ran (as @koa/router records it), if one did. */
function routeThatRan(ctx: Context): string {
  const matched = (ctx as Context & { _matchedRoute?: string | RegExp })._matchedRoute;
  return matched === undefined ? UNMATCHED_ROUTE : String(matched);
}

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
    const template = route(ctx);
    const tenant = (ctx.state as { tenant?: { id: string } }).tenant;
    const idempotencyKey = ctx.get('Idempotency-Key');
    lines.info(
      {
        method: ctx.method,
        route: template,
        path: ctx.path.slice(0, 512),
        status,
        latencyMs: Math.round(Number(elapsedNs) / 1e3) / 1e3,
        tenant: tenant?.id,
        context: requestContextId(template, ctx.path, ctx.response.get('Location')),
        replayed: ctx.response.get('Idempotent-Replayed') === 'true',
        idempotencyKey: idempotencyKey === '' ? undefined : idempotencyKey.slice(0, 256),
      },
      'request',
    );
  });
}
