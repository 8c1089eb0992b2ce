import Router from '@koa/router';
import type { AuthState } from '../http/auth.ts';
import { readJsonBody } from '../http/body.ts';
import { requireJsonBody } from '../http/json-body.ts';
import { link } from '../http/hal.ts';
import { pageOf, parsePageRequest, queryString, singleParam } from '../http/pagination.ts';
import { ProblemError } from '../http/problems.ts';
import { conditionsOf, markRevalidate, sendConditionalRead, sendNotModified, sendRepresentation } from '../http/respond.ts';
import { bodyValidator } from '../http/validation.ts';
import { contextStates, isContextState } from '../protocol/context-state.ts';
import { contextBody } from './representation.ts';
import type { ContextService } from './service.ts';
import { preferredWaitSeconds } from './change-listener.ts';

export const MAX_TTL_SECONDS = 31_536_000;
/** Longest long-poll (Prefer: wait) this server holds a request for. */
export const MAX_WAIT_SECONDS = 30;

const createContextBody = bodyValidator<{ ttlSeconds?: number }>({
  type: 'object',
  properties: { ttlSeconds: { type: 'integer', minimum: 1, maximum: MAX_TTL_SECONDS } },
  additionalProperties: false,
});

export function contextRoutes(service: ContextService): Router<AuthState> {
  const router = new Router<AuthState>();

  router.post('/contexts', async (ctx) => {
    const options = createContextBody(await requireJsonBody(ctx, {}));
    sendRepresentation(ctx, await service.create(ctx.state.tenant.id, options.ttlSeconds));
  });

  router.get('/contexts', async (ctx) => {
    const state = singleParam(ctx.query, 'state');
    if (state !== undefined && !isContextState(state)) {
      throw new ProblemError('invalid-parameter', `"state" must be one of ${contextStates.join(', ')}.`);
    }
    const page = parsePageRequest(ctx.query);
    const rows = await service.list(ctx.state.tenant.id, state, page.limit + 1, page.before);
    const { items, nextCursor } = pageOf(rows, page.limit);
    const self = `/contexts${queryString({ state, limit: page.limit, cursor: singleParam(ctx.query, 'cursor') })}`;
    const links: Record<string, ReturnType<typeof link>> = { self: link(self) };
    if (nextCursor) links['next'] = link(`/contexts${queryString({ state, limit: page.limit, cursor: nextCursor })}`);
    const document = {
      _links: links,
      count: items.length,
      _embedded: { contexts: items.map((row) => JSON.parse(contextBody(row)) as unknown) },
    };
    sendConditionalRead(ctx, JSON.stringify(document));
  });

  router.get('/contexts/:id', async (ctx) => {
    const wait = preferredWaitSeconds(ctx.get('Prefer'), MAX_WAIT_SECONDS);
    const read = await service.read(ctx.state.tenant.id, ctx.params['id'] ?? '', conditionsOf(ctx), wait);
    markRevalidate(ctx);
    ctx.vary('Prefer');
    // RFC 7240 §3: only a preference that was honoured is named in Preference-Applied.
    if (read.waited) ctx.set('Preference-Applied', `wait=${wait}`);
    if (read.kind === 'not-modified') return sendNotModified(ctx, read.etag);
    sendRepresentation(ctx, read.response);
  });

  router.put('/contexts/:id', async (ctx) => {
    const body = await readJsonBody(ctx);
    sendRepresentation(ctx, await service.execute(ctx.state.tenant.id, ctx.params['id'] ?? '', conditionsOf(ctx), body));
  });

  router.delete('/contexts/:id', async (ctx) => {
    await service.cancel(ctx.state.tenant.id, ctx.params['id'] ?? '', conditionsOf(ctx));
    ctx.status = 204;
  });

  return router;
}
