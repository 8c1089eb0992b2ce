// The context row is the job: a processing context with run_after <= now() is due. A worker
// claims one of the action types it knows with FOR UPDATE SKIP LOCKED (never waiting on another
// worker, never taking a job it could not run) and holds it by a lease; a crashed worker's
// lease runs out and any other worker takes the job over. Every write below is conditional on
// the lease (locked_by) and on the recovery point it started from, so a worker that lost its
// lease changes nothing. Only the phase runner and reconciliation call these.
import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database } from '../db/schema.ts';

/**
 * How long a claim holds a job by default. It must outlast one external call plus a
 * transaction; when it runs out, another worker may take over.
 */
export const DEFAULT_LEASE_SECONDS = 10;

type Executor = Kysely<Database> | Transaction<Database>;

export interface ClaimedJob {
  tenantId: string;
  contextId: string;
  type: string;
  action: unknown;
  /** The outputs saved so far, by step name ('accepted', then phase names). */
  outputs: Record<string, unknown>;
  /** The last step that committed. */
  recoveryPoint: string;
  attempts: number;
  /** The worker whose lease ran out on this job (it crashed or was too slow); null when none held it. */
  previousHolder: string | null;
  /** When the lease ends, by this process's clock (a little early: measured before the claim was sent). */
  leaseEndsAt: number;
  /** The W3C traceparent of the request that accepted the action: the job's spans continue its trace. Null when it was not traced. */
  traceParent: string | null;
}

interface ClaimRow {
  tenant_id: string;
  id: string;
  action: unknown;
  phase_outputs: Record<string, unknown>;
  recovery_point: string | null;
  attempts: number;
  previous_holder: string | null;
  trace_parent: string | null;
}

function toJob(row: ClaimRow | undefined, leaseEndsAt: number): ClaimedJob | undefined {
  if (!row) return undefined;
  const action = row.action as { type?: unknown } | null;
  return {
    tenantId: row.tenant_id,
    contextId: row.id,
    type: typeof action?.type === 'string' ? action.type : '',
    action: row.action,
    outputs: row.phase_outputs,
    recoveryPoint: row.recovery_point ?? 'accepted',
    attempts: row.attempts,
    previousHolder: row.previous_holder,
    leaseEndsAt,
    traceParent: row.trace_parent,
  };
}

/** Most jobs one claim statement takes: a worker asks for as many as it has free slots. */
export const MAX_CLAIM_BATCH = 64;

/**
 * Claims the `limit` jobs of action type `type` that have been due longest; counts each one's
 * attempt. One type per statement: with an equality on the type, contexts_runnable (type,
 * run_after) is read in run_after order and the scan ends after `limit` free rows (0.04 ms with
 * 10,000 due); `= ANY(types)` made Postgres read and sort every due row instead (3.2 ms). The
 * limit is a literal, not a parameter, so each batch size keeps the plan of its own (a generic
 * plan guesses at a parameter's LIMIT).
 */
export function claimDueStatement(holder: string, leaseSeconds: number, type: string, limit = 1) {
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_CLAIM_BATCH) throw new RangeError(`claim limit ${limit} is not 1..${MAX_CLAIM_BATCH}`);
  return sql<ClaimRow>`
    UPDATE contexts AS c
       SET locked_by = ${holder},
           locked_until = now() + make_interval(secs => ${leaseSeconds}),
           attempts = c.attempts + 1
      FROM (SELECT tenant_id, id, locked_by FROM contexts
             WHERE state = 'processing' AND action ->> 'type' = ${type} AND run_after <= now()
               AND (locked_until IS NULL OR locked_until < now())
             ORDER BY run_after
             LIMIT ${sql.lit(limit)}
               FOR UPDATE SKIP LOCKED) AS due
     WHERE c.tenant_id = due.tenant_id AND c.id = due.id
 RETURNING c.tenant_id, c.id, c.action, c.phase_outputs, c.recovery_point, c.attempts, due.locked_by AS previous_holder, c.trace_parent`;
}

export async function claimNextJob(db: Kysely<Database>, holder: string, leaseSeconds: number, type: string): Promise<ClaimedJob | undefined> {
  return (await claimDueJobs(db, holder, leaseSeconds, type, 1))[0];
}

/** Up to `limit` due jobs of `type` in one statement (one round trip for a worker's free slots). */
export async function claimDueJobs(db: Kysely<Database>, holder: string, leaseSeconds: number, type: string, limit: number): Promise<ClaimedJob[]> {
  const leaseEndsAt = Date.now() + leaseSeconds * 1000;
  const { rows } = await claimDueStatement(holder, leaseSeconds, type, limit).execute(db);
  return rows.flatMap((row) => toJob(row, leaseEndsAt) ?? []);
}

/**
 * Reconciliation's claim of one processing job that no worker holds now, due or not (parked
 * ones too): a lease like a worker's, but no attempt is counted and the schedule is kept.
 */
export async function claimJobForReconciliation(
  db: Kysely<Database>,
  holder: string,
  leaseSeconds: number,
  tenantId: string,
  contextId: string,
  /** Only the row version(s) an operator saw (their xmin: src/protocol/operator-preconditions.ts). */
  seen?: readonly string[],
): Promise<ClaimedJob | undefined> {
  const leaseEndsAt = Date.now() + leaseSeconds * 1000;
  const asSeen = seen === undefined ? sql`` : sql`AND xmin::text = ANY(${[...seen]}::text[])`;
  const { rows } = await sql<ClaimRow>`
    UPDATE contexts AS c
       SET locked_by = ${holder}, locked_until = now() + make_interval(secs => ${leaseSeconds})
      FROM (SELECT tenant_id, id, locked_by FROM contexts
             WHERE tenant_id = ${tenantId} AND id = ${contextId} AND state = 'processing'
               AND (locked_until IS NULL OR locked_until < now()) ${asSeen}
               FOR UPDATE SKIP LOCKED) AS free
     WHERE c.tenant_id = free.tenant_id AND c.id = free.id
 RETURNING c.tenant_id, c.id, c.action, c.phase_outputs, c.recovery_point, c.attempts, free.locked_by AS previous_holder, c.trace_parent`.execute(db);
  return toJob(rows[0], leaseEndsAt);
}

/**
 * Commits the recovery point `phase` with its output, and renews the lease for the phases after
 * it. False when this holder no longer has the job at `from` (its lease ran out and another
 * worker took over): then nothing was written.
 */
export async function commitRecoveryPoint(
  db: Executor,
  job: ClaimedJob,
  holder: string,
  from: string,
  phase: string,
  output: unknown,
  leaseSeconds: number,
): Promise<boolean> {
  const result = await sql`
    UPDATE contexts
       SET recovery_point = ${phase},
           phase_outputs = phase_outputs || jsonb_build_object(${phase}::text, ${JSON.stringify(output ?? null)}::jsonb),
           last_error = NULL,
           locked_until = now() + make_interval(secs => ${leaseSeconds})
     WHERE tenant_id = ${job.tenantId} AND id = ${job.contextId}
       AND state = 'processing' AND locked_by = ${holder} AND recovery_point = ${from}`.execute(db);
  return Number(result.numAffectedRows ?? 0) === 1;
}

/**
 * Gives the job back after an attempt that did not finish: due again after `delaySeconds`, or
 * parked (run_after NULL, still processing, attempts and the error visible) when null.
 * `resetAttempts` is reconciliation's resume of a parked job.
 */
export async function releaseJob(
  db: Kysely<Database>,
  job: ClaimedJob,
  holder: string,
  schedule: { delaySeconds: number | null; error?: string; resetAttempts?: boolean } | 'unchanged',
): Promise<boolean> {
  let update = db
    .updateTable('contexts')
    .set({ locked_by: null, locked_until: null })
    .where('tenant_id', '=', job.tenantId)
    .where('id', '=', job.contextId)
    .where('locked_by', '=', holder)
    .where('state', '=', 'processing');
  if (schedule !== 'unchanged') {
    const { delaySeconds } = schedule;
    update = update.set({ run_after: delaySeconds === null ? null : sql<Date>`now() + make_interval(secs => ${delaySeconds})` });
    if (schedule.error !== undefined) update = update.set({ last_error: schedule.error.slice(0, 500) });
    if (schedule.resetAttempts) update = update.set({ attempts: 0 });
  }
  const result = await update.executeTakeFirst();
  return result.numUpdatedRows === 1n;
}

/** The one job, if it is a processing job of `type` that no worker holds now. */
export async function unheldJob(db: Kysely<Database>, type: string, which: { tenantId: string; contextId: string }): Promise<ClaimedJob[]> {
  const { rows } = await sql<ClaimRow>`
    SELECT tenant_id, id, action, phase_outputs, recovery_point, attempts, locked_by AS previous_holder FROM contexts
     WHERE tenant_id = ${which.tenantId} AND id = ${which.contextId}
       AND state = 'processing' AND action ->> 'type' = ${type}
       AND (locked_until IS NULL OR locked_until < now())`.execute(db);
  return rows.flatMap((row) => toJob(row, Date.now() + DEFAULT_LEASE_SECONDS * 1000) ?? []);
}

/** The processing jobs of `type` that no worker holds now, as a claim would return them: what reconciliation looks at. */
export async function unheldJobs(db: Kysely<Database>, type: string, limit: number): Promise<ClaimedJob[]> {
  const { rows } = await sql<ClaimRow>`
    SELECT tenant_id, id, action, phase_outputs, recovery_point, attempts, locked_by AS previous_holder, trace_parent FROM contexts
     WHERE state = 'processing' AND action ->> 'type' = ${type}
       AND (locked_until IS NULL OR locked_until < now())
     ORDER BY run_after NULLS FIRST
     LIMIT ${limit}`.execute(db);
  return rows.flatMap((row) => toJob(row, Date.now() + DEFAULT_LEASE_SECONDS * 1000) ?? []);
}
