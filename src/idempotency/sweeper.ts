import { setTimeout as sleep } from 'node:timers/promises';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Database } from '../db/schema.ts';
import { deleteExpiredKeys } from './repository.ts';

/** How often expired Idempotency-Keys are removed; a key past expires_at is reusable before that anyway. */
export const SWEEP_INTERVAL_MS = 60_000;

/** Runs in worker processes until the signal aborts. Contexts and their history are untouched. */
export async function runKeySweeper(db: Kysely<Database>, options: { signal: AbortSignal; logger?: Logger; intervalMs?: number }): Promise<void> {
  while (!options.signal.aborted) {
    try {
      let removed: number;
      do {
        removed = await deleteExpiredKeys(db);
        if (removed > 0) options.logger?.info({ removed }, 'expired idempotency keys removed');
      } while (removed > 0 && !options.signal.aborted);
    } catch (error) {
      options.logger?.warn({ err: error }, 'idempotency key sweep failed');
    }
    await sleep(options.intervalMs ?? SWEEP_INTERVAL_MS, undefined, { signal: options.signal }).catch(() => undefined);
  }
}
