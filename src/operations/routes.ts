// The admin API under /admin: what the operator console (GET /console) is built on, and only
// on this. Every route needs the ADMIN_TOKEN (src/http/admin-auth.ts); every action is
// conditional on If-Match (428 without, 412 when stale) and lands in the audit log.
import Router, { type RouterContext } from '@koa/router';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { ActionRegistry } from '../actions/registry.ts';
import type { TerminalStateHook } from '../contexts/state-writer.ts';
import type { Database } from '../db/schema.ts';
import { asAdministrator } from '../http/admin-auth.ts';
import { requireJsonBody } from '../http/json-body.ts';
import { HAL_JSON } from '../http/media.ts';
import { ProblemError } from '../http/problems.ts';
import type { RequestLimits } from '../http/rate-limits.ts';
import { sendConditionalRead } from '../http/respond.ts';
import { bodyValidator } from '../http/validation.ts';
import { rowCondition, rowEntityTag } from '../protocol/operator-preconditions.ts';
import type { ActionVerdict, OperatorRequest } from './actions.ts';
import { reconcileJob, redeliverWebhook, retryParkedJob, runAudit } from './actions.ts';
import { readRoutes } from './read-routes.ts';
import { findOperatorContext } from './contexts.ts';
import { ADMIN_BASE, adminContextPath, operatorContextTag, renderDelivery, renderOperatorContext } from './representation.ts';
import { findDelivery } from './timeline.ts';
import { deliveryParam, uuidParam } from './params.ts';
import type { PhaseObservation } from '../phases/runner.ts';

export interface AdminRouteDeps {
  db: Kysely<Database>;
  adminToken: string | undefined;
  actions: ActionRegistry;
  logger: Logger;
  limits?: RequestLimits;
  onTerminalState?: TerminalStateHook;
  observePhase?: (observation: PhaseObservation) => void;
  /** A host's mount path ('' at the root): the API is then at `<basePath>/admin`. */
  basePath?: string;
}

const actionBody = bodyValidator<{ operator?: string; reason?: string }>({
  type: 'object',
  properties: { operator: { type: 'string', minLength: 1, maxLength: 100 }, reason: { type: 'string', maxLength: 500 } },
  additionalProperties: false,
});

/** The body and If-Match of an action; without If-Match, 404 for a row that does not exist (as on /contexts/{id}), else 428. */
async function operatorRequest(ctx: RouterContext, exists: () => Promise<boolean>): Promise<OperatorRequest> {
  const body = actionBody(await requireJsonBody(ctx, {}));
  const header = ctx.headers['if-match'];
  const ifMatch = Array.isArray(header) ? header.join(', ') : header;
  const condition = rowCondition(ifMatch);
  if (ifMatch === undefined || condition === undefined) {
    if (!(await exists())) throw new ProblemError('not-found', 'There is no such row to act on.');
    throw new ProblemError('precondition-required', `Send If-Match with the entityTag of the row you saw (GET it first), or "*" to act on it as it is now.`);
  }
  return { actor: body.operator ?? 'operator', ...(body.reason ? { reason: body.reason } : {}), ifMatch, condition };
}

/** 200 with `body`, or the refusal: 404, 412 (with the current tag), 409. */
function answer<T>(ctx: RouterContext, verdict: ActionVerdict<T>, what: string, render: (value: T) => Promise<Record<string, unknown>>): Promise<void> | void {
  switch (verdict.kind) {
    case 'done':
      return render(verdict.value).then((body) => {
        ctx.status = 200;
        ctx.type = HAL_JSON;
        ctx.set('Cache-Control', 'no-store');
        ctx.body = JSON.stringify(body);
      });
    case 'not-found':
      throw new ProblemError('not-found', `There is no ${what}.`);
    case 'stale':
      throw new ProblemError('precondition-failed', `The ${what} changed since you saw it: its entity tag is now ${verdict.current}. Look again before you act.`, {
        headers: { ETag: verdict.current },
      });
    case 'not-applicable':
      throw new ProblemError('operator-action-not-applicable', `The ${what} is as you saw it, but this action does not apply to it now (see its state, lease and links).`);
  }
}

export function adminRoutes(deps: AdminRouteDeps): Router {
  const base = `${deps.basePath ?? ''}${ADMIN_BASE}`;
  const router = new Router({ prefix: base });
  const { db } = deps;
  router.use((ctx, next) => asAdministrator(ctx, deps.adminToken, deps.limits, next));
  readRoutes(router, db, deps.actions, base);

  const contextExists = (tenantId: string, id: string) => async () => (await findOperatorContext(db, tenantId, id)) !== undefined;
  const contextAfter = async (tenantId: string, id: string) => {
    const row = await findOperatorContext(db, tenantId, id);
    return row ? renderOperatorContext(row, true, base) : null;
  };
  router.post('/tenants/:tenantId/contexts/:id/retry', async (ctx) => {
    const tenantId = uuidParam(ctx.params['tenantId'], 'Tenant');
    const id = uuidParam(ctx.params['id'], 'Context');
    const verdict = await retryParkedJob(db, await operatorRequest(ctx, contextExists(tenantId, id)), tenantId, id);
    await answer(ctx, verdict, `context ${id}`, async (value) => ({ outcome: 'due-now', ...value, context: await contextAfter(tenantId, id) }));
  });
  router.post('/tenants/:tenantId/contexts/:id/reconcile', async (ctx) => {
    const tenantId = uuidParam(ctx.params['tenantId'], 'Tenant');
    const id = uuidParam(ctx.params['id'], 'Context');
    const verdict = await reconcileJob(db, deps.actions, await operatorRequest(ctx, contextExists(tenantId, id)), tenantId, id, {
      logger: deps.logger,
      ...(deps.onTerminalState ? { onTerminalState: deps.onTerminalState } : {}),
      ...(deps.observePhase ? { observePhase: deps.observePhase } : {}),
    });
    await answer(ctx, verdict, `context ${id}`, async (value) => ({ ...value, context: await contextAfter(tenantId, id) }));
  });
  router.post('/webhook-deliveries/:id/redeliver', async (ctx) => {
    const id = deliveryParam(ctx.params['id']);
    const verdict = await redeliverWebhook(db, await operatorRequest(ctx, async () => (await findDelivery(db, id)) !== undefined), id);
    await answer(ctx, verdict, `webhook delivery ${id}`, async (value) => {
      const row = await findDelivery(db, id);
      return { outcome: 'due-now', ...value, delivery: row ? renderDelivery(row, base) : null };
    });
  });
  router.post('/audits', async (ctx) => {
    const body = actionBody(await requireJsonBody(ctx, {}));
    const audit = await runAudit(db, deps.actions, { actor: body.operator ?? 'operator', ...(body.reason ? { reason: body.reason } : {}) }, deps.logger);
    ctx.status = 200;
    ctx.type = HAL_JSON;
    ctx.set('Cache-Control', 'no-store');
    ctx.body = JSON.stringify({ at: audit.at.toISOString(), findings: audit.findings, _links: { self: { href: `${base}/audits` }, attention: { href: `${base}/attention` } } });
  });
  router.get('/tenants/:tenantId/contexts/:id', async (ctx) => {
    const tenantId = uuidParam(ctx.params['tenantId'], 'Tenant');
    const id = uuidParam(ctx.params['id'], 'Context');
    const row = await findOperatorContext(db, tenantId, id);
    if (!row) throw new ProblemError('not-found', `Tenant ${tenantId} has no context ${id}.`);
    // Revalidated on every use (no-cache): the tag follows the row and what the clock changes in it.
    sendConditionalRead(ctx, JSON.stringify(renderOperatorContext(row, true, base)), operatorContextTag(row));
    ctx.set('Content-Location', adminContextPath(tenantId, id, base));
  });
  router.get('/webhook-deliveries/:id', async (ctx) => {
    const id = deliveryParam(ctx.params['id']);
    const row = await findDelivery(db, id);
    if (!row) throw new ProblemError('not-found', `There is no webhook delivery ${id}.`);
    sendConditionalRead(ctx, JSON.stringify(renderDelivery(row, base)), rowEntityTag(row.row_tag));
  });
  return router;
}
