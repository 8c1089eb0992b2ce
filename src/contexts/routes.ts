import { randomUUID } from 'node:crypto';
import Router from '@koa/router';
import type { TenantState } from '../http/auth.ts';
import { readJsonBody } from '../http/body.ts';
import { requireJsonBody } from '../http/json-body.ts';
import { link } from '../http/hal.ts';
import { pageOf, parsePageRequest, queryString, singleParam } from '../http/pagination.ts';
import { ProblemError } from '../http/problems.ts';
import { conditionsOf, markRevalidate, sendConditionalRead, sendNotModified, sendRepresentation, storedRepresentation } from '../http/respond.ts';
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.ts';
import { MAX_KEY_LENGTH } from '../idempotency/header.ts';
import { respondIdempotently } from '../idempotency/http.ts';
import { fingerprintJson } from '../protocol/fingerprint.ts';
import { bodyValidator } from '../http/validation.ts';
import { contextStates, isContextState } from '../protocol/context-state.ts';
import { contextBody } from './representation.ts';
import type { ContextService } from './service.ts';
import { preferredWaitSeconds } from './change-listener.ts';

export const MAX_TTL_SECONDS = 31_536_000;
/** Longest long-poll (Prefer: wait) this server holds a request for. */
export const MAX_WAIT_SECONDS = 30;

const createContextBody = bodyValidator<{ ttlSeconds?: number; action?: unknown }>({
  type: 'object',
  properties: {
    ttlSeconds: { type: 'integer', minimum: 1, maximum: MAX_TTL_SECONDS },
    // Validated against the action types by the registry, like a PUT's.
    action: { type: 'object' },
  },
  additionalProperties: false,
});

const ONE_SHOT_NEEDS_KEY =
  'A POST with an action executes it at once and could never be retried safely without an Idempotency-Key. ' +
  'Send one, or create the context first and PUT the action with If-Match.';

export function contextRoutes(service: ContextService, db: Kysely<Database>, keyTtlSeconds: number): Router<TenantState> {
  const base = service.basePath;
  // Mounted under the engine's prefix ('/api' serves /api/contexts); links name the same paths.
  const router = new Router<TenantState>(base === '' ? {} : { prefix: base });

  router.post('/contexts', async (ctx) => {
    const input = createContextBody(await requireJsonBody(ctx, {}));
    const tenantId = ctx.state.tenant.id;
    const { action } = input;
    // A one-shot POST's context id is chosen first: the key's record names it from its claim.
    const oneShotId = action === undefined ? undefined : randomUUID();
    await respondIdempotently(ctx, {
      db,
      scope: tenantId,
      operation: 'POST /contexts',
      body: input,
      ttlSeconds: keyTtlSeconds,
      ...(oneShotId === undefined ? {} : { keyRequired: ONE_SHOT_NEEDS_KEY, contextId: oneShotId }),
      async execute(trx, key) {
        if (action === undefined || oneShotId === undefined || key === undefined) {
          return { response: storedRepresentation(await service.create(tenantId, input.ttlSeconds, trx, key ?? null)) };
        }
        // The context's fingerprint is its action's, as if it had been PUT: a later PUT of the same action replays.
        const oneShot = { action, ...(input.ttlSeconds === undefined ? {} : { ttlSeconds: input.ttlSeconds }) };
        const created = await service.createAndExecute(trx, tenantId, oneShot, fingerprintJson({ action }), key, oneShotId);
        return { response: storedRepresentation(created), contextId: oneShotId };
      },
      async replay(trx, row) {
        if (row.context_id === null) return { status: row.response_status ?? 201, body: row.response_body ?? '', headers: row.response_headers };
        return storedRepresentation(await service.oneShotReplay(trx, tenantId, row.context_id));
      },
    });
  });

  router.get('/contexts', async (ctx) => {
    const state = singleParam(ctx.query, 'state');
    if (state !== undefined && !isContextState(state)) {
      throw new ProblemError('invalid-parameter', `"state" must be one of ${contextStates.join(', ')}.`);
    }
    const idempotencyKey = singleParam(ctx.query, 'idempotencyKey');
    if (idempotencyKey !== undefined && (idempotencyKey.length === 0 || idempotencyKey.length > MAX_KEY_LENGTH)) {
      throw new ProblemError('invalid-parameter', `"idempotencyKey" must be 1 to ${MAX_KEY_LENGTH} characters.`);
    }
    const page = parsePageRequest(ctx.query);
    const rows = await service.list(ctx.state.tenant.id, state, page.limit + 1, page.before, idempotencyKey);
    const { items, nextCursor } = pageOf(rows, page.limit);
    const self = `${base}/contexts${queryString({ state, idempotencyKey, limit: page.limit, cursor: singleParam(ctx.query, 'cursor') })}`;
    const links: Record<string, ReturnType<typeof link>> = { self: link(self) };
    if (nextCursor) links['next'] = link(`${base}/contexts${queryString({ state, idempotencyKey, limit: page.limit, cursor: nextCursor })}`);
    // Each context's representation is already JSON text (executed ones are stored as sent):
    // joined as they are, instead of parsed and serialized again (a third of the list's CPU).
    const head = JSON.stringify({ _links: links, count: items.length }).slice(0, -1);
    sendConditionalRead(ctx, `${head},"_embedded":{"contexts":[${items.map((row) => contextBody(row, base)).join(',')}]}}`);
  });

  router.get('/contexts/:id', async (ctx) => {
    const wait = preferredWaitSeconds(ctx.get('Prefer'), MAX_WAIT_SECONDS);
    const read = await service.read(ctx.state.tenant.id, ctx.params['id'] ?? '', conditionsOf(ctx), wait, ctx.state.yieldSlot);
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
