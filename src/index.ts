/**
 * The idempotence-context engine as a library, for Koa applications that want `/contexts` —
 * execute-exactly-once with If-Match / If-None-Match: *, replays, 412s, Idempotency-Key,
 * long-poll — over their own Postgres and their own action types.
 *
 * ```ts
 * const pool = createPool(process.env.DATABASE_URL);
 * const engine = createContextEngine({ pool, actions: defaultActions().register(myAction) });
 * await engine.migrate();
 * app.use(engine.middleware);              // problem+json + authentication, on /contexts only
 * app.use(engine.router.routes());
 * app.use(engine.router.allowedMethods());
 * ```
 *
 * **Actions.** `defineAction({ type, schema, execute })` declares one: the engine validates
 * `{"action": {...}}` against `schema` (JSON Schema 2020-12, 422 `invalid-action` otherwise) and
 * calls `execute(trx, { tenantId, contextId }, action)` inside the transaction that records the
 * context's new version, so whatever the handler writes through `trx` commits exactly once, with
 * the record a retry is answered from. A handler returns one of
 * - `{ state: 'succeeded', result }` or `{ state: 'failed', error }` — synchronous: the PUT answers
 *   200 (201 when it created the context) with the final state;
 * - `{ state: 'processing' }` — asynchronous: the PUT answers 202 and the context stays
 *   `processing` until a worker finishes it. Today the bundled worker (src/worker/) completes
 *   card payments only: it claims every processing context and expects the payment row that
 *   `paymentAction` writes. There is no public completion API yet, so custom actions should be
 *   synchronous; a custom asynchronous action would stay `processing` (and the bundled worker,
 *   if it runs on the same database, would keep failing to claim it).
 * Throw a `ProblemError` (e.g. `new ProblemError('invalid-action', detail)`) for a request that
 * cannot run at all: 422, and everything the handler wrote is rolled back. The built-in
 * `depositAction`, `transferAction` and `paymentAction` are defined and registered the same way
 * (`defaultActions()` registers all three).
 *
 * **Tenants.** Every context belongs to a tenant; its id, its Idempotency-Keys and its accounts
 * are scoped by it. The `authenticate` hook decides the tenant of each request (default: the
 * service's `Authorization: Bearer <api key>`); the id it returns must be a row of `tenants`,
 * which `createTenant` adds.
 *
 * **Paths.** The routes are `/contexts` and `/contexts/:id` at the root of the host application,
 * and the links, `Location` headers and recorded representations name those absolute paths: do
 * not mount the router under a prefix. The engine reads request bodies itself; keep body parsers
 * of the host off `/contexts`.
 */
export { createContextEngine, createTenant, type Authenticate, type ContextEngine, type ContextEngineOptions } from './engine.ts';
export { defaultActions } from './app.ts';
export {
  ActionRegistry,
  defineAction,
  type ActionDefinition,
  type ActionHandler,
  type ActionOutcome,
  type ActionScope,
} from './actions/registry.ts';
export { depositAction, transferAction } from './ledger/actions.ts';
export { paymentAction } from './payments/action.ts';
export { migrate } from './db/migrate.ts';
export { createDatabase, createPool, type Database } from './db/database.ts';
export type { TerminalStateHook } from './contexts/service.ts';
export type { TenantState } from './http/auth.ts';
export { ProblemError, problemDocument, type ProblemDocument, type ProblemSlug } from './http/problems.ts';
