// The one way this code base opens a transaction. Postgres may abort a transaction that did
// nothing wrong — a serialization failure (40001) or a deadlock it broke by choosing this
// transaction as the victim (40P01) — and then the whole transaction may simply run again:
// nothing of it committed. So may one that a pooler in transaction mode broke by losing a named
// statement (26000, 42P05): the statement never ran, the process sends every statement unnamed
// from then on (prepared-statements.ts), and the next attempt cannot meet it again. Anything else
// is the caller's to handle.
import type { Kysely, Transaction } from 'kysely';
import { ATTR } from '../telemetry/attributes.ts';
import { inSpan } from '../telemetry/tracer.ts';
import { isPreparedStatementError } from './prepared-statements.ts';

const RETRYABLE_SQLSTATES = new Set(['40001', '40P01']);
export const TRANSACTION_ATTEMPTS = 3;

export function isRetryableTransactionError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return (typeof code === 'string' && RETRYABLE_SQLSTATES.has(code)) || isPreparedStatementError(error);
}

/**
 * Runs `work` in a transaction, again (up to three times in all) when it was aborted as retryable.
 * One span, "transaction", covers every attempt: the statement groups of each are its children.
 */
export function inTransaction<DB, T>(db: Kysely<DB>, work: (trx: Transaction<DB>) => Promise<T>): Promise<T> {
  return inSpan('transaction', async (span) => {
    for (let attempt = 1; ; attempt++) {
      try {
        const result = await db.transaction().execute(work);
        if (span.isRecording()) span.setAttributes({ [ATTR.attempts]: attempt, [ATTR.retried]: attempt > 1 });
        return result;
      } catch (error) {
        const retry = attempt < TRANSACTION_ATTEMPTS && isRetryableTransactionError(error);
        if (span.isRecording() && !retry) span.setAttributes({ [ATTR.attempts]: attempt, [ATTR.retried]: attempt > 1 });
        if (!retry) throw error;
      }
    }
  });
}
