import Koa from 'koa';
import type Router from '@koa/router';
import type pg from 'pg';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Config } from './config.ts';
import type { Database } from './db/schema.ts';
import { ActionRegistry } from './actions/registry.ts';
import { ContextService, type TerminalStateHook } from './contexts/service.ts';
import { ContextChangeListener } from './contexts/change-listener.ts';
import { webhookEventHook } from './webhooks/hook.ts';
import { contextRoutes } from './contexts/routes.ts';
import { authenticateTenant, type AuthState } from './http/auth.ts';
import { problemMiddleware } from './http/errors.ts';
import { metaRoutes } from './http/meta-routes.ts';
import { requestLog } from './http/request-log.ts';
import { depositAction, transferAction } from './ledger/actions.ts';
import { ledgerRoutes } from './ledger/routes.ts';
import { paymentAction } from './payments/action.ts';
import { tenantRoutes } from './tenants/routes.ts';
import { webhookRoutes } from './webhooks/routes.ts';

export interface AppDeps {
  pool: pg.Pool;
  db: Kysely<Database>;
  config: Pick<Config, 'adminToken' | 'contextTtlSeconds'> & Partial<Pick<Config, 'idempotencyKeyTtlSeconds'>>;
  logger: Logger;
  /** Extra action types beside the built-in ledger actions. */
  actions?: ActionRegistry;
  /** Wakes long-polls; one is made from the pool when not given. */
  listener?: ContextChangeListener;
  /** Runs inside the transaction of every final state change; default: the webhook outbox. */
  onTerminalState?: TerminalStateHook;
}

/** Idempotency-Key retention when the configuration does not say (24 h, as Stripe keeps keys). */
export const DEFAULT_KEY_TTL_SECONDS = 86_400;

export function defaultActions(): ActionRegistry {
  return new ActionRegistry().register(depositAction).register(transferAction).register(paymentAction);
}

/** Every router of the service; the spec test walks their routes. */
export function createRouters(deps: AppDeps): Router<Partial<AuthState>>[] {
  const actions = deps.actions ?? defaultActions();
  const contexts = new ContextService({
    db: deps.db,
    actions,
    defaultTtlSeconds: deps.config.contextTtlSeconds,
    listener: deps.listener ?? ContextChangeListener.forPool(deps.pool, deps.logger),
    onTerminalState: deps.onTerminalState ?? webhookEventHook,
  });
  const keyTtl = deps.config.idempotencyKeyTtlSeconds ?? DEFAULT_KEY_TTL_SECONDS;
  return [
    metaRoutes(deps.pool),
    tenantRoutes(deps.db, deps.config.adminToken, keyTtl),
    contextRoutes(contexts, deps.db, keyTtl) as Router<Partial<AuthState>>,
    ledgerRoutes(deps.db, keyTtl) as Router<Partial<AuthState>>,
    webhookRoutes(deps.db, keyTtl) as Router<Partial<AuthState>>,
  ];
}

/** The Koa application, without listening: tests and embedding services call its callback. */
export function createApp(deps: AppDeps): Koa {
  const app = new Koa();
  app.proxy = false;
  const routers = createRouters(deps);

  app.use(requestLog(deps.logger));
  app.use(problemMiddleware(deps.logger));
  app.use(authenticateTenant(deps.db));
  for (const router of routers) {
    app.use(router.routes());
    app.use(router.allowedMethods());
  }
  return app;
}
