// What a finished request was about, as the request log and the request's span both report it:
// the route's template (never the raw URL), the tenant, the context, and whether the answer was
// a replay. Derived here once, so the two can never disagree.
import type { Context } from 'koa';
import { UNMATCHED_ROUTE, type RouteResolver } from './route-template.ts';

export interface RequestFacts {
  route: string;
  tenant: string | undefined;
  context: string | undefined;
  replayed: boolean;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const CONTEXT_LOCATION = /\/contexts\/([0-9a-f-]{36})$/i;
const CONTEXT_ROUTE = '/contexts/:id';
const LAST_SEGMENT = /\/([^/]+)\/?$/;

/** The context a request was about: the `:id` of …/contexts/:id, or the one a POST created. */
function contextId(route: string, path: string, location: string): string | undefined {
  if (route.endsWith(CONTEXT_ROUTE)) {
    // The engine may be mounted under a prefix ('/api/contexts/:id'): the id is the last segment.
    const id = LAST_SEGMENT.exec(path)?.[1];
    return id !== undefined && UUID.test(id) ? id.toLowerCase() : undefined;
  }
  return CONTEXT_LOCATION.exec(location)?.[1]?.toLowerCase();
}

/** Without a resolver: the template of the route that ran (as @koa/router records it), if one did. */
export function routeThatRan(ctx: Context): string {
  const matched = (ctx as Context & { _matchedRoute?: string | RegExp })._matchedRoute;
  return matched === undefined ? UNMATCHED_ROUTE : String(matched);
}

/** Read once the request is over (the tenant is known after authentication, the replay flag after the answer). */
export function requestFacts(ctx: Context, route: RouteResolver): RequestFacts {
  const template = route(ctx);
  return {
    route: template,
    tenant: (ctx.state as { tenant?: { id: string } }).tenant?.id,
    context: contextId(template, ctx.path, ctx.response.get('Location')),
    replayed: ctx.response.get('Idempotent-Replayed') === 'true',
  };
}
