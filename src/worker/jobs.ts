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

/** Recovery point "charge confirmed": only the lease holder, and only once. */
export async function confirmCharge(db: Kysely<Database>, job: ClaimedJob, workerId: string, chargeId: string): Promise<boolean> {
  return db.transaction().execute(async (trx) => {
    const updated = await trx
      .updateTable('contexts')
      .set({ recovery_point: 'charge_confirmed', last_error: null })
      .where('tenant_id', '=', job.tenantId)
      .where('id', '=', job.contextId)
      .where('locked_by', '=', workerId)
      .where('state', '=', 'processing')
      .where('recovery_point', '=', 'accepted')
      .executeTakeFirst();
    if (updated.numUpdatedRows !== 1n) return false;
    await trx
      .updateTable('payments')
      .set({ charge_id: chargeId })
      .where('tenant_id', '=', job.tenantId)
      .where('context_id', '=', job.contextId)
      .execute();
    return true;
  });
}
