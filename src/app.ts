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
import { contextRoutes } from './contexts/routes.ts';
import { authenticateTenant, type AuthState, type TenantState } from './http/auth.ts';
import { docsRoutes } from './http/docs.ts';
import { problemMiddleware } from './http/errors.ts';
import { metaRoutes } from './http/meta-routes.ts';
import { metricsRoutes, ServiceMetrics } from './http/metrics.ts';
import { RequestLimits, type RateLimitStore } from './http/rate-limits.ts';
import { requestLog } from './http/request-log.ts';
import { traceRequests } from './http/request-span.ts';
import { routeResolver } from './http/route-template.ts';
import { depositAction, transferAction } from './ledger/actions.ts';
import { ledgerRoutes } from './ledger/routes.ts';
import { createPaymentAction, type PaymentActionOptions } from './payments/action.ts';
import { tenantRoutes } from './tenants/routes.ts';
import { consoleRoutes } from './console/routes.ts';
import { journalRequests } from './http/request-journal.ts';
import { OperationsJournal } from './operations/journal.ts';
import { journalPhases } from './operations/phase-events.ts';
import { adminRoutes } from './operations/routes.ts';
import { webhookRoutes } from './webhooks/routes.ts';

export interface AppDeps {
  pool: pg.Pool;
  db: Kysely<Database>;
  config: Pick<Config, 'adminToken' | 'contextTtlSeconds'> & Partial<Pick<Config, 'idempotencyKeyTtlSeconds' | 'authCacheTtlSeconds' | 'rateLimits' | 'longPollRecheckMs'>>;
  logger: Logger;
  /** The action types contexts execute; default: defaultActions() (deposit, transfer, payment). */
  actions?: ActionRegistry;
  /** Wakes long-polls; one is made from the pool when not given. */
  listener?: ContextChangeListener;
  /** Runs inside the transaction of every final state change, after the webhook event is queued. */
  onTerminalState?: TerminalStateHook;
  /** Served at /metrics; default: a registry of this app's own over `pool` and `db`. */
  metrics?: ServiceMetrics;
  /**
   * Where the request rates of `config.rateLimits` are counted; default this process's memory.
   * A rate-limiter-flexible limiter over a shared store (Redis, Postgres…) makes them one limit
   * for every API process (docs/rate-limits.md). Without `config.rateLimits` nothing is limited.
   */
  rateLimitStore?: RateLimitStore;
  /**
   * Where write requests that touch a context (and the phases the admin API's reconcile runs) are
   * recorded for the operator console's timelines and charts; one is made over `db` when not
   * given. The caller that passes one closes it (flushes) on shutdown.
   */
  journal?: OperationsJournal;
}

/** Idempotency-Key retention when the configuration does not say (24 h, as Stripe keeps keys). */
export const DEFAULT_KEY_TTL_SECONDS = 86_400;

/** The bundled actions: deposit and transfer (synchronous), payment (asynchronous, through `processor`). */
export function defaultActions(options: PaymentActionOptions = {}): ActionRegistry {
  return new ActionRegistry().register(depositAction).register(transferAction).register(createPaymentAction(options));
}

export type ContextRouterDeps = Pick<AppDeps, 'pool' | 'db' | 'logger' | 'actions' | 'listener' | 'onTerminalState'> & {
  config: Pick<AppDeps['config'], 'contextTtlSeconds' | 'idempotencyKeyTtlSeconds' | 'longPollRecheckMs'>;
  /** The mount path of the routes; '' (the root) for the service. */
  basePath?: string;
};

/** The /contexts routes over their service; the service mounts them, and so does the library (src/engine.ts). */
export function createContextRouter(deps: ContextRouterDeps): Router<TenantState> {
  const contexts = new ContextService({
    db: deps.db,
    actions: deps.actions ?? defaultActions(),
    defaultTtlSeconds: deps.config.contextTtlSeconds,
    listener: deps.listener ?? ContextChangeListener.forPool(deps.pool, deps.logger),
    ...(deps.onTerminalState ? { onTerminalState: deps.onTerminalState } : {}),
    ...(deps.basePath ? { basePath: deps.basePath } : {}),
    ...(deps.config.longPollRecheckMs ? { recheckMs: deps.config.longPollRecheckMs } : {}),
  });
  return contextRoutes(contexts, deps.db, deps.config.idempotencyKeyTtlSeconds ?? DEFAULT_KEY_TTL_SECONDS);
}

/** Every router of the service; the spec test walks their routes. */
export function createRouters(deps: AppDeps, limits?: RequestLimits, journal?: OperationsJournal): Router<Partial<AuthState>>[] {
  const keyTtl = deps.config.idempotencyKeyTtlSeconds ?? DEFAULT_KEY_TTL_SECONDS;
  const listener = deps.listener ?? ContextChangeListener.forPool(deps.pool, deps.logger);
  const metrics = deps.metrics ?? new ServiceMetrics({ pool: deps.pool, db: deps.db, logger: deps.logger });
  metrics.watchListener(() => listener.health);
  // The busiest routers first: Koa runs them in order until one matches.
  return [
    // Their routes read only the tenant's id (TenantState), which AuthState's tenant carries.
    createContextRouter({ ...deps, listener }) as unknown as Router<Partial<AuthState>>,
    ledgerRoutes(deps.db, keyTtl) as Router<Partial<AuthState>>,
    webhookRoutes(deps.db, keyTtl) as Router<Partial<AuthState>>,
    tenantRoutes(deps.db, deps.config.adminToken, keyTtl, limits),
    adminRoutes({
      db: deps.db,
      adminToken: deps.config.adminToken,
      actions: deps.actions ?? defaultActions(),
      logger: deps.logger,
      ...(limits ? { limits } : {}),
      ...(deps.onTerminalState ? { onTerminalState: deps.onTerminalState } : {}),
      ...(journal ? { observePhase: journalPhases(journal) } : {}),
    }) as Router<Partial<AuthState>>,
    consoleRoutes() as Router<Partial<AuthState>>,
    metaRoutes(deps.pool, { db: deps.db, listener, logger: deps.logger }),
    docsRoutes(),
    metricsRoutes(metrics),
  ];
}

/** The Koa application, without listening: tests and embedding services call its callback. */
export function createApp(deps: AppDeps): Koa {
  const app = new Koa();
  app.proxy = false;
  const metrics = deps.metrics ?? new ServiceMetrics({ pool: deps.pool, db: deps.db, logger: deps.logger });
  const limits = deps.config.rateLimits && RequestLimits.create(deps.config.rateLimits, deps.logger, deps.rateLimitStore);
  const journal = deps.journal ?? new OperationsJournal({ db: deps.db, logger: deps.logger });
  const routers = createRouters({ ...deps, metrics }, limits, journal);
  const route = routeResolver(routers);

  // Outermost: the request's span holds everything after it, the log line and the metrics too.
  app.use(traceRequests(route));
  app.use(requestLog(deps.logger, route));
  app.use(metrics.middleware(route));
  app.use(journalRequests(journal, route));
  app.use(problemMiddleware(deps.logger));
  app.use(authenticateTenant(deps.db, deps.config.authCacheTtlSeconds, limits));
  for (const router of routers) {
    app.use(router.routes());
    app.use(router.allowedMethods());
  }
  return app;
}
