// The context engine as a library: the /contexts routes of this service, mounted in another Koa
// application over its own Postgres pool, with its own action types and its own authentication.
// It builds the same router as the service (createContextRouter in app.ts), so the protocol —
// preconditions, replays, Idempotency-Key, long-poll — is the service's, not a copy of it.
import type Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import type { Kysely } from 'kysely';
import pg from 'pg';
import { pino, type Logger } from 'pino';
import { createContextRouter, defaultActions, DEFAULT_KEY_TTL_SECONDS } from './app.ts';
import type { ActionRegistry } from './actions/registry.ts';
import { ContextChangeListener } from './contexts/change-listener.ts';
import type { TerminalStateHook } from './contexts/state-writer.ts';
import { reconcileJobs, type ReconcileOptions, type ReconcileReport } from './phases/reconcile.ts';
import { Worker, type WorkerOptions } from './phases/worker.ts';
import { createDatabase } from './db/database.ts';
import { migrate } from './db/migrate.ts';
import type { Database } from './db/schema.ts';
import { apiKeyAuthentication, unauthorized, type TenantState } from './http/auth.ts';
import { problemMiddleware } from './http/errors.ts';
import { generateApiKey, hashApiKey } from './tenants/api-keys.ts';
import { findTenantByKeyHash, insertTenant } from './tenants/repository.ts';

/**
 * Decides the tenant of a request to /contexts: its `id` is the id of a row of `tenants` (see
 * createTenant), and contexts, their ids and Idempotency-Keys are scoped by it. Resolve
 * `undefined` for "no valid credentials" (401 problem+json, `WWW-Authenticate: Bearer`), or
 * throw a ProblemError to answer with another problem. Runs before any route, for every method.
 */
export type Authenticate = (ctx: Context) => Promise<{ readonly id: string } | undefined>;

export interface ContextEngineOptions {
  /**
   * The pool the engine queries through (unless `db` is given), migrates with (`migrate()`) and
   * copies the settings of for the one LISTEN connection of long-polls. Make it with
   * `createPool(url)`: the engine needs int8 columns as numbers and refuses a pool that parses
   * them as strings.
   */
  pool: pg.Pool;
  /** A Kysely instance over that pool, if the host has one already; default `createDatabase(pool)`. */
  db?: Kysely<Database>;
  /** The action types contexts may execute (synchronous and asynchronous); default `defaultActions()` (deposit, transfer, payment). */
  actions?: ActionRegistry;
  /** Default: the service's own `Authorization: Bearer <api key>` of a tenant (see createTenant). */
  authenticate?: Authenticate;
  /** Lifetime of a context created without `ttlSeconds`; default 86 400 (24 h). */
  contextTtlSeconds?: number;
  /** How long an Idempotency-Key is remembered; default 86 400 (24 h). */
  idempotencyKeyTtlSeconds?: number;
  /**
   * Runs inside the transaction of every final state change (requests, workers, reconciliation),
   * after the engine has queued the change's webhook event: it adds to the outbox, never replaces it.
   */
  onTerminalState?: TerminalStateHook;
  /** Where unexpected errors (answered 500/503) are logged; default a pino logger on stdout. */
  logger?: Logger;
}

export interface ContextEngine {
  /** `POST|GET /contexts`, `GET|PUT|DELETE /contexts/:id`; mount with `router.routes()` and `router.allowedMethods()`. */
  readonly router: Router<TenantState>;
  /**
   * Mount before the router: on `/contexts` and `/contexts/…` only, it answers every error as
   * application/problem+json and authenticates (401 before 404); other paths pass untouched.
   */
  readonly middleware: Middleware;
  /** The registry the engine executes; register more types before the first request. */
  readonly actions: ActionRegistry;
  readonly db: Kysely<Database>;
  /** Applies the engine's forward-only migrations (db/migrations); returns the names applied now. */
  migrate(): Promise<string[]>;
  /**
   * A worker for the engine's asynchronous actions (same registry, database, logger and hook):
   * `await engine.createWorker({ concurrency: 8 }).run(untilSignal())`.
   */
  createWorker(options?: Partial<Omit<WorkerOptions, 'db' | 'actions'>>): Worker;
  /** Reconciles the asynchronous actions that have a reconcile hook (see reconcileJobs). */
  reconcile(options?: Partial<Omit<ReconcileOptions, 'onTerminalState'>>): Promise<ReconcileReport>;
  /** Closes the long-poll LISTEN connection; the pool stays the host's to end. */
  close(): Promise<void>;
}

const INT8_OID = 20;
const ENGINE_PATH = /^\/contexts(\/|$)/;

function requireNumericInt8(pool: pg.Pool): void {
  const parse = (pool.options.types ?? pg.types).getTypeParser(INT8_OID, 'text') as (value: string) => unknown;
  if (parse('1') !== 1) {
    throw new TypeError('createContextEngine: the pool parses int8 columns as strings; make it with createPool(url) from this package.');
  }
}

/** The /contexts routes of the service, ready to mount in another Koa application. */
export function createContextEngine(options: ContextEngineOptions): ContextEngine {
  requireNumericInt8(options.pool);
  const db = options.db ?? createDatabase(options.pool);
  const logger = options.logger ?? pino({ name: 'context-engine' });
  const actions = options.actions ?? defaultActions();
  const listener = ContextChangeListener.forPool(options.pool, logger);
  const router = createContextRouter({
    pool: options.pool,
    db,
    logger,
    actions,
    listener,
    ...(options.onTerminalState ? { onTerminalState: options.onTerminalState } : {}),
    config: {
      contextTtlSeconds: options.contextTtlSeconds ?? 86_400,
      idempotencyKeyTtlSeconds: options.idempotencyKeyTtlSeconds ?? DEFAULT_KEY_TTL_SECONDS,
    },
  });

  const authenticate = options.authenticate ?? apiKeyAuthentication(db);
  const problems = problemMiddleware(logger);
  const middleware: Middleware = (ctx, next) => {
    if (!ENGINE_PATH.test(ctx.path)) return next();
    return problems(ctx, async () => {
      const tenant = await authenticate(ctx);
      if (!tenant) throw unauthorized('This request carries no credentials that name a tenant.', ctx.get('Authorization') !== '');
      (ctx.state as Partial<TenantState>).tenant = { id: tenant.id };
      await next();
    });
  };

  return {
    router,
    middleware,
    actions,
    db,
    async migrate() {
      return migrate(options.pool);
    },
    createWorker: (workerOptions = {}) =>
      new Worker({
        logger: logger.child({ role: 'worker' }),
        ...(options.onTerminalState ? { onTerminalState: options.onTerminalState } : {}),
        ...workerOptions,
        db,
        actions,
      }),
    reconcile: (reconcileOptions = {}) =>
      reconcileJobs(db, actions, {
        repair: true,
        logger,
        ...reconcileOptions,
        ...(options.onTerminalState ? { onTerminalState: options.onTerminalState } : {}),
      }),
    close: () => listener.close(),
  };
}

/**
 * Adds a tenant: the `id` an Authenticate hook returns, and an API key for the default
 * authentication (shown only here; only its hash is stored).
 */
export async function createTenant(db: Kysely<Database>, name: string): Promise<{ id: string; name: string; apiKey: string }> {
  const apiKey = generateApiKey();
  const tenant = await insertTenant(db, name, hashApiKey(apiKey));
  return { id: tenant.id, name: tenant.name, apiKey };
}

/**
 * The tenant whose API key is `apiKey`, added under `name` if no tenant has that key yet: for a
 * host with one fixed tenant and a key from its configuration. Safe to call at every start, from
 * several processes at once.
 */
export async function ensureTenant(db: Kysely<Database>, name: string, apiKey: string): Promise<{ id: string; name: string }> {
  const hash = hashApiKey(apiKey);
  await db.insertInto('tenants').values({ name, api_key_hash: hash }).onConflict((conflict) => conflict.column('api_key_hash').doNothing()).execute();
  const tenant = await findTenantByKeyHash(db, hash);
  if (!tenant) throw new Error('the tenant of this API key vanished');
  return { id: tenant.id, name: tenant.name };
}
