// What an operator may do, each conditional on the entity tag of the row they saw, and each
// written to the audit log (operator_actions) — allowed or refused — and, when it is about a
// context, to that context's timeline. The decisive step of each is one conditional statement;
// what is read after a statement that changed nothing only explains the refusal.
import { sql, type Kysely, type Transaction } from 'kysely';
import type { Logger } from 'pino';
import type { ActionRegistry } from '../actions/registry.ts';
import type { Database } from '../db/schema.ts';
import { inTransaction } from '../db/transaction.ts';
import { reconcileJobs, type ReconcileOptions } from '../phases/reconcile.ts';
import { explainRefusal, type OperatorRefusal, type RowCondition } from '../protocol/operator-preconditions.ts';

export interface OperatorRequest {
  /** Who acted, as they named themselves (the admin credential is shared); "operator" when unnamed. */
  actor: string;
  reason?: string;
  /** The If-Match header as sent, and what it allows. */
  ifMatch: string;
  condition: RowCondition;
}

export type ActionVerdict<T> = { kind: 'done'; value: T } | OperatorRefusal;

type Executor = Kysely<Database> | Transaction<Database>;

interface LogEntry {
  action: string;
  tenantId: string | null;
  contextId: string | null;
  target: string;
  outcome: string;
  detail: Record<string, unknown>;
}

/** One audit-log row, and the context's timeline event, in one statement (in the action's transaction when it did something). */
async function logAction(db: Executor, request: OperatorRequest, entry: LogEntry): Promise<void> {
  const detail = JSON.stringify({ ...entry.detail, actor: request.actor, ...(request.reason ? { reason: request.reason } : {}) });
  await sql`
    WITH logged AS (
      INSERT INTO operator_actions (actor, action, tenant_id, target, if_match, outcome, detail)
      VALUES (${request.actor}, ${entry.action}, ${entry.tenantId}, ${entry.target}, ${request.ifMatch.slice(0, 200)}, ${entry.outcome}, ${detail}::jsonb)
      RETURNING id
    )
    INSERT INTO context_events (tenant_id, context_id, at, kind, outcome, detail)
    SELECT ${entry.tenantId}::uuid, ${entry.contextId}::uuid, now(), 'operator', ${`${entry.action}: ${entry.outcome}`}, ${detail}::jsonb
      FROM logged WHERE ${entry.contextId}::uuid IS NOT NULL`.execute(db);
}

function seenCondition(condition: RowCondition) {
  return condition.any ? sql`` : sql`AND xmin::text = ANY(${[...condition.xmins]}::text[])`;
}

async function contextXmin(db: Kysely<Database>, tenantId: string, contextId: string): Promise<string | undefined> {
  const { rows } = await sql<{ xmin: string }>`SELECT xmin::text AS xmin FROM contexts WHERE tenant_id = ${tenantId} AND id = ${contextId}`.execute(db);
  return rows[0]?.xmin;
}

async function refused<T>(db: Kysely<Database>, request: OperatorRequest, entry: Omit<LogEntry, 'outcome'>, xmin: string | undefined, why: Record<string, unknown>): Promise<ActionVerdict<T>> {
  const refusal = explainRefusal(request.ifMatch, xmin);
  await logAction(db, request, { ...entry, outcome: refusal.kind, detail: { ...entry.detail, ...(refusal.kind === 'not-applicable' ? why : {}) } });
  return refusal;
}

/** A parked job (out of attempts) due again now, its attempts counted from zero. */
export async function retryParkedJob(db: Kysely<Database>, request: OperatorRequest, tenantId: string, contextId: string): Promise<ActionVerdict<{ attemptsBefore: number }>> {
  const entry = { action: 'retry', tenantId, contextId, target: `context ${contextId}`, detail: {} };
  const done = await inTransaction(db, async (trx) => {
    const { rows } = await sql<{ attempts: number; last_error: string | null }>`
      UPDATE contexts AS c SET run_after = now(), attempts = 0
        FROM (SELECT tenant_id, id, attempts, last_error FROM contexts
               WHERE tenant_id = ${tenantId} AND id = ${contextId} AND state = 'processing' AND run_after IS NULL
                 AND (locked_until IS NULL OR locked_until < now()) ${seenCondition(request.condition)}
                 FOR UPDATE) AS parked
       WHERE c.tenant_id = parked.tenant_id AND c.id = parked.id
   RETURNING parked.attempts, parked.last_error`.execute(trx);
    const row = rows[0];
    if (!row) return undefined;
    await logAction(trx, request, { ...entry, outcome: 'done', detail: { attemptsBefore: row.attempts, lastError: row.last_error } });
    return { attemptsBefore: row.attempts };
  });
  if (done) return { kind: 'done', value: done };
  return refused(db, request, entry, await contextXmin(db, tenantId, contextId), { why: 'only a parked job (processing, out of attempts, held by no worker) can be retried' });
}

/** Runs the action's reconciliation for this one job now (it must be processing and held by no worker). */
export async function reconcileJob(
  db: Kysely<Database>,
  actions: ActionRegistry,
  request: OperatorRequest,
  tenantId: string,
  contextId: string,
  options: Pick<ReconcileOptions, 'logger' | 'onTerminalState' | 'basePath' | 'observePhase'>,
): Promise<ActionVerdict<{ outcome: string }>> {
  const entry = { action: 'reconcile', tenantId, contextId, target: `context ${contextId}`, detail: {} };
  const seen = request.condition.any ? {} : { seen: request.condition.xmins };
  const report = await reconcileJobs(db, actions, { ...options, repair: true, only: { tenantId, contextId, ...seen } });
  const job = report.jobs[0];
  if (job && job.outcome !== 'lease-lost') {
    await logAction(db, request, { ...entry, outcome: 'done', detail: { result: job.outcome, recoveryPoint: job.recoveryPoint } });
    return { kind: 'done', value: { outcome: job.outcome } };
  }
  return refused(db, request, entry, await contextXmin(db, tenantId, contextId), {
    why: 'only a processing job held by no worker, of an action type with a reconcile hook, can be reconciled',
  });
}

/** A webhook delivery sent again: due now, attempts counted from zero (also one that was delivered). */
export async function redeliverWebhook(db: Kysely<Database>, request: OperatorRequest, deliveryId: number): Promise<ActionVerdict<{ attemptsBefore: number; wasDelivered: boolean }>> {
  const entry = { action: 'redeliver', tenantId: null, contextId: null, target: `webhook delivery ${deliveryId}`, detail: {} };
  const done = await inTransaction(db, async (trx) => {
    const { rows } = await sql<{ tenant_id: string; context_id: string | null; attempts: number; delivered: boolean }>`
      UPDATE webhook_deliveries AS d SET next_attempt_at = now(), attempts = 0, delivered_at = NULL, locked_until = NULL
        FROM (SELECT id, attempts, delivered_at IS NOT NULL AS delivered FROM webhook_deliveries
               WHERE id = ${deliveryId} AND (locked_until IS NULL OR locked_until < now()) ${seenCondition(request.condition)}
                 FOR UPDATE) AS before
       WHERE d.id = before.id
   RETURNING d.tenant_id, d.context_id, before.attempts, before.delivered`.execute(trx);
    const row = rows[0];
    if (!row) return undefined;
    const detail = { delivery: deliveryId, attemptsBefore: row.attempts, wasDelivered: row.delivered };
    await logAction(trx, request, { ...entry, tenantId: row.tenant_id, contextId: row.context_id, outcome: 'done', detail });
    return { attemptsBefore: row.attempts, wasDelivered: row.delivered };
  });
  if (done) return { kind: 'done', value: done };
  const { rows } = await sql<{ xmin: string }>`SELECT xmin::text AS xmin FROM webhook_deliveries WHERE id = ${deliveryId}`.execute(db);
  return refused(db, request, entry, rows[0]?.xmin, { why: 'the delivery is being sent right now' });
}

/** Every action's audit hook (for payments: the processor's charges against ours), its findings kept with the log entry. */
export async function runAudit(db: Kysely<Database>, actions: ActionRegistry, request: Omit<OperatorRequest, 'ifMatch' | 'condition'>, logger: Logger): Promise<{ at: Date; findings: unknown[] }> {
  const findings: unknown[] = [];
  for (const [type, plan] of actions.asynchronous()) {
    if (!plan.audit) continue;
    try {
      for (const finding of await plan.audit(db)) findings.push({ ...finding, type });
    } catch (error) {
      logger.warn({ err: error, type }, 'audit could not run');
      findings.push({ kind: 'audit-failed', type, detail: (error as Error).message });
    }
  }
  const at = new Date();
  await logAction(db, { ...request, ifMatch: '', condition: { any: true } }, { action: 'audit', tenantId: null, contextId: null, target: 'all actions', outcome: 'done', detail: { findings, ranAt: at.toISOString() } });
  return { at, findings };
}
