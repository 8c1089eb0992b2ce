// Once a minute, one worker counts the contexts by state into context_state_counts (the console's
// state chart) and removes journal rows past their retention. Several workers may run it: the
// minute's rows are written by whichever gets there first (ON CONFLICT DO NOTHING), and the
// count is taken by one index-only pass over contexts_state_page per minute.
import { sql, type Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Database } from '../db/schema.ts';

/** Days the journal and the per-minute counts are kept, unless configured. */
export const DEFAULT_OPERATIONS_RETENTION_DAYS = 7;
const PRUNE_BATCH = 10_000;

/** Writes this minute's counts unless a sample of it exists; returns the rows written. */
export async function sampleContextStates(db: Kysely<Database>): Promise<number> {
  const result = await sql`
    INSERT INTO context_state_counts (minute, tenant_id, state, count)
    SELECT date_trunc('minute', now()), tenant_id,
           CASE WHEN state = 'processing' AND run_after IS NULL THEN 'parked'
                WHEN state = 'open' AND expires_at <= now() THEN 'expired'
                ELSE state END,
           count(*)
      FROM contexts
     WHERE NOT EXISTS (SELECT 1 FROM context_state_counts WHERE minute = date_trunc('minute', now()))
     GROUP BY 1, 2, 3
    ON CONFLICT (minute, tenant_id, state) DO NOTHING`.execute(db);
  return Number(result.numAffectedRows ?? 0);
}

/** Deletes up to a batch of each kind of journal row older than `days`; returns how many went. */
export async function pruneOperations(db: Kysely<Database>, days: number): Promise<number> {
  let removed = 0;
  for (const [table, column] of [['context_events', 'at'], ['request_outcome_counts', 'minute'], ['context_state_counts', 'minute'], ['operator_actions', 'at']] as const) {
    const result = await sql`
      DELETE FROM ${sql.table(table)} WHERE ctid = ANY (ARRAY(
        SELECT ctid FROM ${sql.table(table)} WHERE ${sql.ref(column)} < now() - make_interval(days => ${days}) LIMIT ${PRUNE_BATCH}))`.execute(db);
    removed += Number(result.numAffectedRows ?? 0);
  }
  return removed;
}

export interface SamplerOptions {
  signal: AbortSignal;
  logger: Logger;
  retentionDays?: number;
  intervalMs?: number;
}

/** Samples at once, then every minute, until the signal aborts. */
export async function runOperationsSampler(db: Kysely<Database>, options: SamplerOptions): Promise<void> {
  const interval = options.intervalMs ?? 60_000;
  while (!options.signal.aborted) {
    try {
      await sampleContextStates(db);
      await pruneOperations(db, options.retentionDays ?? DEFAULT_OPERATIONS_RETENTION_DAYS);
    } catch (error) {
      options.logger.warn({ err: error }, 'operations sampler: this minute is not sampled');
    }
    await new Promise<void>((resolve) => {
      const stop = () => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        options.signal.removeEventListener('abort', stop);
        resolve();
      }, interval);
      options.signal.addEventListener('abort', stop, { once: true });
    });
  }
}
