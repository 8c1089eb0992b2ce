// The admin API's reads: finding contexts, a context's timeline, what needs attention, the
// audit log, the charts' series and the tenants. Mounted under /admin by routes.ts, which
// authenticates first.
import type Router from '@koa/router';
import type { RouterContext } from '@koa/router';
import type { Kysely } from 'kysely';
import type { ActionRegistry } from '../actions/registry.ts';
import type { Database } from '../db/schema.ts';
import { link, type Links } from '../http/hal.ts';
import { isUuid } from '../http/ids.ts';
import { HAL_JSON } from '../http/media.ts';
import { encodeCursor, parsePageRequest, queryString, singleParam } from '../http/pagination.ts';
import { ProblemError } from '../http/problems.ts';
import { DEFAULT_STUCK_AFTER_SECONDS, needsAttention } from './attention.ts';
import { findOperatorContext, OPERATOR_STATES, searchContexts } from './contexts.ts';
import { ADMIN_BASE, adminContextPath, renderAttention, renderDelivery, renderOperatorContext } from './representation.ts';
import { contextStatesPerMinute, MAX_CHART_MINUTES, requestOutcomesPerMinute } from './stats.ts';
import { contextDeliveries, contextTimeline } from './timeline.ts';
import { uuidParam } from './params.ts';

type Query = RouterContext['query'];

function send(ctx: RouterContext, body: unknown): void {
  ctx.status = 200;
  ctx.type = HAL_JSON;
  // Operational data is read live: never from a cache.
  ctx.set('Cache-Control', 'no-store');
  ctx.body = JSON.stringify(body);
}

function wholeNumber(query: Query, name: string, fallback: number, max: number): number {
  const text = singleParam(query, name);
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!/^\d{1,9}$/.test(text) || value < 1 || value > max) throw new ProblemError('invalid-parameter', `"${name}" must be a whole number from 1 to ${max}.`);
  return value;
}

function uuidQuery(query: Query, name: string): string | undefined {
  const value = singleParam(query, name);
  if (value !== undefined && !isUuid(value)) throw new ProblemError('invalid-parameter', `"${name}" must be a UUID.`);
  return value?.toLowerCase();
}

export function readRoutes(router: Router, db: Kysely<Database>, actions: ActionRegistry, base = ADMIN_BASE): void {
  router.get('/contexts', async (ctx) => {
    const id = uuidQuery(ctx.query, 'id');
    const tenant = uuidQuery(ctx.query, 'tenant');
    const idempotencyKey = singleParam(ctx.query, 'idempotencyKey');
    const state = singleParam(ctx.query, 'state');
    if (state !== undefined && !(OPERATOR_STATES as readonly string[]).includes(state)) {
      throw new ProblemError('invalid-parameter', `"state" must be one of ${OPERATOR_STATES.join(', ')}.`);
    }
    if (state !== undefined && (id !== undefined || idempotencyKey !== undefined)) {
      throw new ProblemError('invalid-parameter', '"state" narrows a tenant\'s list ("tenant"); an id or an Idempotency-Key finds the context whatever its state.');
    }
    if (id === undefined && idempotencyKey === undefined && tenant === undefined) {
      throw new ProblemError('invalid-parameter', 'Find contexts by "id", by "idempotencyKey" or by "tenant" (with "state" to narrow a tenant\'s list).');
    }
    const page = parsePageRequest(ctx.query);
    const rows = await searchContexts(db, {
      limit: page.limit + 1,
      ...(id === undefined ? {} : { id }),
      ...(idempotencyKey === undefined ? {} : { idempotencyKey }),
      ...(tenant === undefined ? {} : { tenantId: tenant }),
      ...(state === undefined ? {} : { state }),
      ...(page.before === undefined ? {} : { before: page.before }),
    });
    const items = rows.slice(0, page.limit);
    const last = items.at(-1);
    const params = { id, idempotencyKey, tenant, state, limit: page.limit };
    const links: Links = { self: link(`${base}/contexts${queryString(params)}`) };
    if (rows.length > page.limit && last && id === undefined && idempotencyKey === undefined) {
      links['next'] = link(`${base}/contexts${queryString({ ...params, cursor: encodeCursor(last.seq) })}`);
    }
    send(ctx, { items: items.map((row) => renderOperatorContext(row, false, base)), _links: links });
  });

  router.get('/tenants/:tenantId/contexts/:id/timeline', async (ctx) => {
    const tenantId = uuidParam(ctx.params['tenantId'], 'Tenant');
    const id = uuidParam(ctx.params['id'], 'Context');
    const row = await findOperatorContext(db, tenantId, id);
    if (!row) throw new ProblemError('not-found', `Tenant ${tenantId} has no context ${id}.`);
    const deliveries = await contextDeliveries(db, row.tenant_id, row.id);
    const entries = await contextTimeline(db, row, deliveries);
    const self = adminContextPath(row.tenant_id, row.id, base);
    send(ctx, { context: renderOperatorContext(row, true, base), entries, deliveries: deliveries.map((delivery) => renderDelivery(delivery, base)), _links: { self: link(`${self}/timeline`), context: link(self) } });
  });

  router.get('/attention', async (ctx) => {
    const stuckAfterSeconds = wholeNumber(ctx.query, 'stuckAfterSeconds', DEFAULT_STUCK_AFTER_SECONDS, 30 * 86_400);
    const limit = wholeNumber(ctx.query, 'limit', 50, 500);
    send(ctx, renderAttention(await needsAttention(db, { stuckAfterSeconds, limit }), stuckAfterSeconds, base));
  });

  router.get('/audit-log', async (ctx) => {
    const page = parsePageRequest(ctx.query);
    let query = db.selectFrom('operator_actions').selectAll().orderBy('id', 'desc').limit(page.limit + 1);
    if (page.before !== undefined) query = query.where('id', '<', page.before);
    const rows = await query.execute();
    const items = rows.slice(0, page.limit);
    const last = items.at(-1);
    const links: Links = { self: link(`${base}/audit-log${queryString({ limit: page.limit })}`) };
    if (rows.length > page.limit && last) links['next'] = link(`${base}/audit-log${queryString({ limit: page.limit, cursor: encodeCursor(last.id) })}`);
    send(ctx, {
      items: items.map((row) => ({
        id: row.id, at: row.at.toISOString(), actor: row.actor, action: row.action, tenantId: row.tenant_id, target: row.target,
        ifMatch: row.if_match, outcome: row.outcome, detail: row.detail,
      })),
      _links: links,
    });
  });

  router.get('/stats/requests', async (ctx) => {
    const minutes = wholeNumber(ctx.query, 'minutes', 60, MAX_CHART_MINUTES);
    send(ctx, await requestOutcomesPerMinute(db, minutes, uuidQuery(ctx.query, 'tenant')));
  });
  router.get('/stats/contexts', async (ctx) => {
    const minutes = wholeNumber(ctx.query, 'minutes', 60, MAX_CHART_MINUTES);
    send(ctx, await contextStatesPerMinute(db, minutes, uuidQuery(ctx.query, 'tenant')));
  });

  router.get('/tenants', async (ctx) => {
    const rows = await db.selectFrom('tenants').select(['id', 'name', 'created_at']).orderBy('created_at').limit(1000).execute();
    const types = [...actions.asynchronous().keys()];
    send(ctx, { items: rows.map((row) => ({ id: row.id, name: row.name, createdAt: row.created_at.toISOString() })), asynchronousActions: types, _links: { self: link(`${base}/tenants`) } });
  });
}
