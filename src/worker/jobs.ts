// The context row is the job: a processing context with run_after <= now() is due. Workers
// claim one with FOR UPDATE SKIP LOCKED (never waiting on each other) and hold it by a lease;
// a crashed worker's lease runs out and any other worker takes the job over.
import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/schema.ts';

/**
 * How long a claim holds a job. It must outlast one processor call (its timeout) plus a
 * transaction; when it runs out, another worker may take over, and the conditional writes
 * (locked_by, recovery_point) make the slower one give up.
 */
export const DEFAULT_LEASE_SECONDS = 10;

export interface ClaimedJob {
  tenantId: string;
  contextId: string;
  attempts: number;
  recoveryPoint: 'accepted' | 'charge_confirmed' | 'finished' | null;
  /** The worker whose lease ran out on this job (it crashed or was too slow); null when none held it. */
  previousHolder: string | null;
}

export async function claimNextJob(db: Kysely<Database>, workerId: string, leaseSeconds: number): Promise<ClaimedJob | undefined> {
  const { rows } = await sql<{ tenant_id: string; id: string; attempts: number; recovery_point: ClaimedJob['recoveryPoint']; previous_holder: string | null }>`
    UPDATE contexts AS c
       SET locked_by = ${workerId},
           locked_until = now() + make_interval(secs => ${leaseSeconds}),
           attempts = c.attempts + 1
      FROM (SELECT tenant_id, id, locked_by FROM contexts
             WHERE state = 'processing' AND run_after <= now()
               AND (locked_until IS NULL OR locked_until < now())
             ORDER BY run_after
             LIMIT 1
               FOR UPDATE SKIP LOCKED) AS due
     WHERE c.tenant_id = due.tenant_id AND c.id = due.id
 RETURNING c.tenant_id, c.id, c.attempts, c.recovery_point, due.locked_by AS previous_holder`.execute(db);
  const row = rows[0];
  return row && { tenantId: row.tenant_id, contextId: row.id, attempts: row.attempts, recoveryPoint: row.recovery_point, previousHolder: row.previous_holder };
}

/**
 * Gives the job back after an attempt whose outcome is unknown: due again after `delaySeconds`,
 * or parked (run_after NULL, still processing, attempts visible) for reconciliation.
 */
export async function rescheduleJob(
  db: Kysely<Database>,
  job: ClaimedJob,
  workerId: string,
  delaySeconds: number | null,
  error: string,
): Promise<void> {
  await db
    .updateTable('contexts')
    .set({
      run_after: delaySeconds === null ? null : sql<Date>`now() + make_interval(secs => ${delaySeconds})`,
      locked_by: null,
      locked_until: null,
      last_error: error.slice(0, 500),
    })
    .where('tenant_id', '=', job.tenantId)
    .where('id', '=', job.contextId)
    .where('locked_by', '=', workerId)
    .where('state', '=', 'processing')
    .execute();
}

/**
 * Recovery point "charge confirmed": only the lease holder, and only once. One statement (the
 * context's recovery point and the payment's charge id together, atomically), so one round trip
 * instead of a four-statement transaction.
 */
export async function confirmCharge(db: Kysely<Database>, job: ClaimedJob, workerId: string, chargeId: string): Promise<boolean> {
  const { rows } = await sql<{ confirmed: number }>`
    WITH confirmed AS (
      UPDATE contexts
         SET recovery_point = 'charge_confirmed', last_error = NULL
       WHERE tenant_id = ${job.tenantId} AND id = ${job.contextId}
         AND locked_by = ${workerId} AND state = 'processing' AND recovery_point = 'accepted'
   RETURNING tenant_id, id
    ), recorded AS (
      UPDATE payments p SET charge_id = ${chargeId}
        FROM confirmed c
       WHERE p.tenant_id = c.tenant_id AND p.context_id = c.id
   RETURNING 1
    )
    SELECT count(*)::int AS confirmed FROM confirmed`.execute(db);
  return rows[0]?.confirmed === 1;
}
