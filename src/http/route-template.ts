// The route a request was for, as the router's path template ("/contexts/:id"), never the raw
// URL: metrics label by it (a bounded set of values) and the request log names it. Computed from
// the routers' own layers, so requests that never reach a route — a 401 from authentication, a
// 405 — still get the template of the path they asked for.
import type Router from '@koa/router';
import type { Context } from 'koa';

/** The label of a request whose path matches no route (a 404 for an unknown path). */
export const UNMATCHED_ROUTE = 'unmatched';

interface RouteLayer {
  path: string | RegExp;
  methods: string[];
  match(path: string): boolean;
}

export type RouteResolver = (ctx: Context) => string;

/** Resolves a request to the path template of the route that answers it (or would, for another method). */
export function routeResolver(routers: readonly Pick<Router, 'stack'>[]): RouteResolver {
  const layers: RouteLayer[] = routers.flatMap((router) => router.stack).filter((layer) => layer.methods.length > 0);
  return (ctx) => {
    // The route that ran, as the router recorded it: no need to match the path again (the log
    // and the metrics both ask, on every request).
    const matched = (ctx as Context & { _matchedRoute?: string | RegExp })._matchedRoute;
    if (matched !== undefined) return String(matched);
    const { method, path } = ctx;
    let pathOnly: RouteLayer | undefined;
    for (const layer of layers) {
      if (!layer.match(path)) continue;
      if (layer.methods.includes(method)) return String(layer.path);
      pathOnly ??= layer;
    }
    return pathOnly ? String(pathOnly.path) : UNMATCHED_ROUTE;
  };
}
