// The context engine as a library: the /contexts routes of this service, mounted in another Koa
// application over its own Postgres pool, with its own action types and its own authentication.
// It builds the same router as the service (createContextRouter in app.ts), so the protocol —
// preconditions, replays, Idempotency-Key, long-poll — is the service's, not a copy of it.
import Router from '@koa/router';
import type { IncomingMessage, ServerResponse } from 'node:http';
import Koa, { type Context, type Middleware } from 'koa';
import type { Kysely } from 'kysely';
import pg from 'pg';
import { pino, type Logger } from 'pino';
import { createContextRouter, defaultActions, DEFAULT_KEY_TTL_SECONDS } from './app.ts';
import type { ActionRegistry } from './actions/registry.ts';
import { ContextChangeListener } from './contexts/change-listener.ts';
import type { TerminalStateHook } from './contexts/state-writer.ts';
import { reconcileJobs, type ReconcileOptions, type ReconcileReport } from './phases/reconcile.ts';
import { JobNotifier } from './phases/job-notifier.ts';
import { Worker, type WorkerOptions } from './phases/worker.ts';
import { createDatabase, poolForSchema } from './db/database.ts';
import { checkSchemaName, migrate, searchPath } from './db/migrate.ts';
import type { Database } from './db/schema.ts';
import { apiKeyAuthentication, BEARER_CHALLENGE, unauthorized, type TenantState } from './http/auth.ts';
import { problemMiddleware } from './http/errors.ts';
import { traceRequests } from './http/request-span.ts';
import { routeResolver } from './http/route-template.ts';
import { generateApiKey, hashApiKey } from './tenants/api-keys.ts';
import { consoleRoutes } from './console/routes.ts';
import { journalRequests } from './http/request-journal.ts';
import { OperationsJournal } from './operations/journal.ts';
import { journalPhases } from './operations/phase-events.ts';
import { adminRoutes } from './operations/routes.ts';
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
  /**
   * Where the LISTEN connections (long-polls, the workers' wake-ups) go instead of the pool's
   * server: past a connection pooler in transaction mode, which does not carry notifications.
   * Default: the pool's settings.
   */
  listenUrl?: string;
  /** How often a held long-poll re-reads its context, notified or not; default 1000 ms. */
  longPollRecheckMs?: number;
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
  /**
   * The mount path: `'/api'` serves `/api/contexts` and `/api/contexts/:id`, and links, Location
   * headers and recorded representations name those paths. Default: the root.
   */
  prefix?: string;
  /**
   * The Postgres schema of every engine table and of its migration bookkeeping
   * (`idempotence_migrations`); created by `migrate()`. The engine then queries through a pool of
   * its own with that schema first on the search_path (then public, where an action may write
   * the host's tables), so a host's `tenants`, `schema_migrations` or anything else is never
   * touched. Default: public.
   */
  schema?: string;
  /**
   * The `WWW-Authenticate` challenge of a 401 (RFC 9110 §11.6.1). Default: `Bearer realm="api"`
   * with the built-in API keys; with your own `authenticate`, none unless you name your scheme here.
   */
  challenge?: string;
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
  /**
   * The engine as a Node request handler, for Express, Fastify or node:http: `(req, res, next)`.
   * Requests outside the engine's paths go to `next` (or get a 404 without one). Under Express,
   * mount it at the root or under its prefix (`app.use('/api', engine.handler)` with `prefix:
   * '/api'`); a body parser in front is fine: the engine uses the body it parsed.
   */
  readonly handler: (req: IncomingMessage, res: ServerResponse, next?: (error?: unknown) => void) => void;
  /** The schema the engine's tables are in. */
  readonly schema: string;
  /**
   * Where the engine records, in batches, each write request on /contexts and each phase its
   * workers run: the timelines and charts of the operator console. Flushed by close().
   */
  readonly journal: OperationsJournal;
  /**
   * The admin API (`<prefix>/admin/…`) and the operator console (`<prefix>/console`), for the
   * given admin credential — never a tenant key; your own authentication does not apply to them.
   * Mount with `routes()` and `allowedMethods()`; docs/console.md.
   */
  operationsRouter(options: { adminToken: string }): Router;
  /** Closes the long-poll LISTEN connection (and the engine's own pool, with `schema`); the host's pool stays the host's to end. */
  close(): Promise<void>;
}

const INT8_OID = 20;

function checkPrefix(prefix: string): string {
  if (prefix === '' || prefix === '/') return '';
  if (!/^(\/[A-Za-z0-9._~-]+)+$/.test(prefix)) throw new TypeError(`prefix ${JSON.stringify(prefix)} must be a path like "/api" (no trailing slash)`);
  return prefix;
}

function requireNumericInt8(pool: pg.Pool): void {
  const parse = (pool.options.types ?? pg.types).getTypeParser(INT8_OID, 'text') as (value: string) => unknown;
  if (parse('1') !== 1) {
    throw new TypeError('createContextEngine: the pool parses int8 columns as strings; make it with createPool(url) from this package.');
  }
}

/** The /contexts routes of the service, ready to mount in another Koa application. */
export function createContextEngine(options: ContextEngineOptions): ContextEngine {
  requireNumericInt8(options.pool);
  const prefix = checkPrefix(options.prefix ?? '');
  const schema = checkSchemaName(options.schema ?? 'public');
  // With a schema of its own the engine queries through its own pool (search_path set per connection).
  const ownPool = schema === 'public' ? undefined : poolForSchema(options.pool, searchPath(schema));
  const pool = ownPool ?? options.pool;
  const db = options.db && !ownPool ? options.db : createDatabase(pool);
  const logger = options.logger ?? pino({ name: 'context-engine' });
  const actions = options.actions ?? defaultActions();
  const listener = ContextChangeListener.forPool(pool, logger, options.listenUrl);
  let notifier: JobNotifier | undefined; // made with the first worker
  const router = createContextRouter({
    pool,
    db,
    logger,
    actions,
    listener,
    basePath: prefix,
    ...(options.onTerminalState ? { onTerminalState: options.onTerminalState } : {}),
    config: {
      contextTtlSeconds: options.contextTtlSeconds ?? 86_400,
      idempotencyKeyTtlSeconds: options.idempotencyKeyTtlSeconds ?? DEFAULT_KEY_TTL_SECONDS,
      ...(options.longPollRecheckMs ? { longPollRecheckMs: options.longPollRecheckMs } : {}),
    },
  });

  const enginePath = new RegExp(`^${prefix.replaceAll('.', '\\.')}/contexts(/|$)`);
  const builtIn = options.authenticate === undefined;
  const authenticate: Authenticate = options.authenticate ?? apiKeyAuthentication(db);
  const challenge = options.challenge ?? (builtIn ? BEARER_CHALLENGE : null);
  const problems = problemMiddleware(logger);
  const guarded: Middleware = (ctx, next) =>
    problems(ctx, async () => {
      const tenant = await authenticate(ctx);
      if (!tenant) throw unauthorized('This request carries no credentials that name a tenant.', ctx.get('Authorization') !== '', challenge);
      (ctx.state as Partial<TenantState>).tenant = { id: tenant.id };
      await next();
    });

  const journal = new OperationsJournal({ db, logger: logger.child({ role: 'journal' }) });
  const resolve = routeResolver([router]);
  const journaled = journalRequests(journal, resolve);
  // The request's span (a child of the host's own server span when its HTTP is instrumented).
  const traced = traceRequests(resolve);
  const middleware: Middleware = (ctx, next) => (enginePath.test(ctx.path) ? traced(ctx, () => journaled(ctx, () => guarded(ctx, next))) : next());

  const inner = new Koa();
  inner.use(middleware).use(router.routes()).use(router.allowedMethods());
  const callback = inner.callback();
  const handler: ContextEngine['handler'] = (req, res, next) => {
    // Express strips the path it mounted a handler at from req.url; the engine's routes are absolute.
    const original = (req as { originalUrl?: unknown }).originalUrl;
    if (typeof original === 'string') req.url = original;
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (!enginePath.test(path)) {
      if (next) return next();
      res.statusCode = 404;
      res.end();
      return;
    }
    void callback(req, res);
  };

  return {
    router,
    middleware,
    handler,
    actions,
    db,
    schema,
    journal,
    operationsRouter({ adminToken }) {
      if (adminToken.length < 16) throw new TypeError('operationsRouter: the admin token must be at least 16 characters long');
      const operations = new Router();
      // Its own problem+json answers: the host's error handling knows nothing of ProblemError.
      operations.use(problems);
      const admin = adminRoutes({ db, adminToken, actions, logger, basePath: prefix, observePhase: journalPhases(journal), ...(options.onTerminalState ? { onTerminalState: options.onTerminalState } : {}) });
      operations.use(admin.routes(), admin.allowedMethods(), consoleRoutes(prefix).routes());
      return operations;
    },
    async migrate() {
      return migrate(pool, { schema });
    },
    createWorker: (workerOptions = {}) =>
      new Worker({
        logger: logger.child({ role: 'worker' }),
        basePath: prefix,
        notifier: (notifier ??= JobNotifier.forPool(pool, logger, options.listenUrl)),
        ...(options.onTerminalState ? { onTerminalState: options.onTerminalState } : {}),
        observePhase: journalPhases(journal),
        ...workerOptions,
        db,
        actions,
      }),
    reconcile: (reconcileOptions = {}) =>
      reconcileJobs(db, actions, {
        repair: true,
        logger,
        basePath: prefix,
        observePhase: journalPhases(journal),
        ...reconcileOptions,
        ...(options.onTerminalState ? { onTerminalState: options.onTerminalState } : {}),
      }),
    async close() {
      await journal.close();
      await listener.close();
      await notifier?.close();
      if (ownPool) {
        await db.destroy();
        if (!ownPool.ended) await ownPool.end();
      }
    },
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
