/**
 * The idempotence-context engine as a library, for Koa applications that want `/contexts` —
 * execute-exactly-once with If-Match / If-None-Match: *, replays, 412s, Idempotency-Key,
 * long-poll — over their own Postgres and their own action types. The guide, with a worked
 * example of an asynchronous action, is docs/async-actions.md.
 *
 * ```ts
 * const pool = createPool(process.env.DATABASE_URL);
 * const engine = createContextEngine({ pool, actions: new ActionRegistry().register(myAction) });
 * await engine.migrate();
 * app.use(engine.middleware);              // problem+json + authentication, on /contexts only
 * app.use(engine.router.routes());
 * app.use(engine.router.allowedMethods());
 * // in the worker process:
 * await engine.createWorker({ concurrency: 8 }).run(untilSignal());
 * ```
 *
 * **Synchronous actions.** `defineAction({ type, schema, execute })`: the engine validates
 * `{"action": {...}}` against `schema` (JSON Schema 2020-12, 422 `invalid-action` otherwise) and
 * calls `execute(trx, { tenantId, contextId }, action)` inside the transaction that records the
 * context's new version, so whatever the handler writes through `trx` commits exactly once, with
 * the record a retry is answered from. It returns `{ state: 'succeeded', result }` or
 * `{ state: 'failed', error }`; the PUT answers 200 (201 when it created the context).
 *
 * **Asynchronous actions.** `defineAsyncAction({ type, schema, accept, phases, reconcile })`:
 * `accept` runs in the request's transaction and the request answers 202; then a worker runs the
 * `phases` in order — `transactionalPhase(name, (trx, call) => …)` with the context row locked,
 * `externalPhase(name, ({ key, signal, outputs }) => …)` outside any transaction with a key
 * derived from the context — each answering `next(output)`, `retry(reason)`, `fail(problem)` or
 * `done(result)`. The engine keeps the recovery points, leases, attempts and the recorded answer.
 *
 * Throw a `ProblemError` from `execute` or `accept` for a request that cannot run at all: 422,
 * and everything written is rolled back.
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
export { createContextEngine, createTenant, ensureTenant, type Authenticate, type ContextEngine, type ContextEngineOptions } from './engine.ts';
export { defaultActions } from './app.ts';
export {
  ActionRegistry,
  defineAction,
  type ActionDefinition,
  type ActionHandler,
  type ActionOutcome,
  type ActionScope,
} from './actions/registry.ts';
export {
  defineAsyncAction,
  externalPhase,
  transactionalPhase,
  type AsyncActionDefinition,
  type AuditFinding,
  type ExternalCall,
  type ExternalPhase,
  type Phase,
  type PhaseCall,
  type ReconcileCall,
  type TransactionalPhase,
} from './actions/async-action.ts';
export { done, fail, next, retry, type AcceptResult, type PhaseResult } from './actions/phase-results.ts';
export { phaseKey } from './phases/keys.ts';
export { JobNotifier } from './phases/job-notifier.ts';
export { Worker, untilSignal, DEFAULT_MAX_ATTEMPTS, type JobOutcome, type WorkerOptions } from './phases/worker.ts';
export type { JobResult } from './phases/runner.ts';
export { reconcileJobs, unresolved, type JobReconciliation, type ReconcileOptions, type ReconcileReport } from './phases/reconcile.ts';
export { failpointNames } from './phases/failpoints.ts';
export { runWebhookDeliverer, deliverDueWebhooks, type RunDelivererOptions } from './webhooks/deliverer.ts';
export { enqueueWebhookEvent } from './webhooks/outbox.ts';
export { runKeySweeper } from './idempotency/sweeper.ts';
export { runOperationsSampler, sampleContextStates, DEFAULT_OPERATIONS_RETENTION_DAYS, type SamplerOptions } from './operations/sampler.ts';
export { OperationsJournal, type JournalEvent } from './operations/journal.ts';
export { depositAction, transferAction } from './ledger/actions.ts';
export { createPaymentAction, type PaymentActionOptions } from './payments/action.ts';
export { migrate } from './db/migrate.ts';
export { inTransaction } from './db/transaction.ts';
export { createDatabase, createPool, DEFAULT_DATABASE_TIMEOUTS, sendsNamedStatements, type Database, type DatabaseOptions, type DatabaseTimeouts } from './db/database.ts';
export type { TerminalStateHook } from './contexts/state-writer.ts';
export type { TenantState } from './http/auth.ts';
export { ProblemError, problemDocument, type ProblemDocument, type ProblemSlug } from './http/problems.ts';
