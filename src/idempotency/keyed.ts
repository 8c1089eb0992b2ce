// A POST with an Idempotency-Key runs inside one transaction with the claim of its key: the
// effect and the record of the answer commit together, or neither does. So only committed
// outcomes are ever replayed; a request that failed (4xx before any effect, 5xx, a cut
// connection) left nothing behind, and its retry executes normally.
import type { Kysely, Transaction } from 'kysely';
import type { Database } from '../db/schema.ts';
import { inTransaction } from '../db/transaction.ts';
import { ProblemError } from '../http/problems.ts';
import { claimKey, findKey, recordKeyOutcome, type KeyRow, type KeyScope } from './repository.ts';

export interface StoredResponse {
  status: number;
  body: string;
  headers: Record<string, string>;
}

export interface Execution {
  response: StoredResponse;
  /** What to keep for replays when it differs from the response (a secret shown once). */
  record?: StoredResponse;
  /** A one-shot context: the context is the record; replays read its current answer. */
  contextId?: string;
}

export interface KeyedOutcome {
  response: StoredResponse;
  replayed: boolean;
  expiresAt: Date;
}

export interface KeyedRequest {
  scope: KeyScope;
  fingerprint: string;
  ttlSeconds: number;
  /** The context a one-shot POST will create: recorded with the claim (see claimKey). */
  contextId?: string;
  execute(trx: Transaction<Database>): Promise<Execution>;
  /** Builds the replayed answer; by default the recorded response. */
  replay?(trx: Transaction<Database>, row: KeyRow): Promise<StoredResponse>;
}

const MAX_ATTEMPTS = 3;

export async function runWithIdempotencyKey(db: Kysely<Database>, request: KeyedRequest): Promise<KeyedOutcome> {
  for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
    const outcome = await inTransaction(db, async (trx): Promise<KeyedOutcome | undefined> => {
      const expiresAt = await claimKey(trx, request.scope, request.fingerprint, request.ttlSeconds, request.contextId ?? null);
      if (expiresAt) {
        const execution = await request.execute(trx);
        if (execution.contextId !== undefined && execution.contextId !== request.contextId) {
          throw new Error(`keyed POST created context ${execution.contextId}, not the ${request.contextId ?? 'none'} it claimed`);
        }
        if (execution.contextId === undefined) await recordKeyOutcome(trx, request.scope, execution.record ?? execution.response);
        return { response: execution.response, replayed: false, expiresAt };
      }
      const row = await findKey(trx, request.scope);
      if (!row) return undefined; // swept between the two statements: claim again
      if (row.fingerprint !== request.fingerprint) {
        throw new ProblemError(
          'idempotency-key-reused',
          `Idempotency-Key "${request.scope.key}" was first used with a different request body; use a new key for a new request.`,
        );
      }
      const response = request.replay
        ? await request.replay(trx, row)
        : { status: row.response_status ?? 200, body: row.response_body ?? '', headers: row.response_headers };
      return { response, replayed: true, expiresAt: row.expires_at };
    });
    if (outcome) return outcome;
  }
  throw new Error(`Idempotency-Key ${request.scope.key} could neither be claimed nor read`);
}
