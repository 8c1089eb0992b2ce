import type { Context } from 'koa';
import type { Kysely, Transaction } from 'kysely';
import type { Database } from '../db/schema.ts';
import { inTransaction } from '../db/transaction.ts';
import { ProblemError } from '../http/problems.ts';
import { fingerprintJson } from '../protocol/fingerprint.ts';
import { readIdempotencyKey } from './header.ts';
import { runWithIdempotencyKey, type Execution, type StoredResponse } from './keyed.ts';
import type { KeyRow } from './repository.ts';

/** Scope of the keys of tenant administration, which has no tenant. */
export const ADMIN_SCOPE = '00000000-0000-0000-0000-000000000000';

export interface IdempotentPost {
  db: Kysely<Database>;
  /** The tenant, or ADMIN_SCOPE. */
  scope: string;
  /** `POST /accounts`, …: keys are per operation. */
  operation: string;
  /** The parsed request body (undefined when there was none): its fingerprint guards the key. */
  body: unknown;
  ttlSeconds: number;
  /** A request that could never be retried safely without a key (a one-shot action). */
  keyRequired?: string;
  /** The id of the context a keyed one-shot POST creates (recorded with the key's claim). */
  contextId?: string;
  execute(trx: Transaction<Database>, key: string | undefined): Promise<Execution>;
  replay?(trx: Transaction<Database>, row: KeyRow): Promise<StoredResponse>;
}

export const IDEMPOTENCY_KEY_EXPIRES_HEADER = 'Idempotency-Key-Expires';

function send(ctx: Context, response: StoredResponse): void {
  ctx.status = response.status;
  for (const [name, value] of Object.entries(response.headers)) ctx.set(name, value);
  ctx.body = response.body;
  const type = response.headers['Content-Type'];
  if (type) ctx.type = type;
}

/**
 * Answers a POST, honouring Idempotency-Key: first use executes and records, the same key with
 * the same body replays (Idempotent-Replayed: true), with another body is 422, while the first
 * is still in its transaction the duplicate waits for it and replays.
 */
export async function respondIdempotently(ctx: Context, post: IdempotentPost): Promise<void> {
  // Node joins repeated header lines with ", "; count the raw lines to refuse a second key.
  const lines = ctx.req.rawHeaders.filter((name, index) => index % 2 === 0 && name.toLowerCase() === 'idempotency-key').length;
  const reading = lines > 1 ? readIdempotencyKey(['', '']) : readIdempotencyKey(ctx.headers['idempotency-key']);
  if (reading.kind === 'invalid') throw new ProblemError('invalid-idempotency-key', reading.detail);
  if (reading.kind === 'absent') {
    if (post.keyRequired) throw new ProblemError('idempotency-key-required', post.keyRequired);
    const execution = await inTransaction(post.db, (trx) => post.execute(trx, undefined));
    send(ctx, execution.response);
    return;
  }
  const outcome = await runWithIdempotencyKey(post.db, {
    scope: { scope: post.scope, operation: post.operation, key: reading.key },
    fingerprint: fingerprintJson(post.body ?? null),
    ttlSeconds: post.ttlSeconds,
    ...(post.contextId === undefined ? {} : { contextId: post.contextId }),
    execute: (trx) => post.execute(trx, reading.key),
    ...(post.replay ? { replay: post.replay } : {}),
  });
  send(ctx, outcome.response);
  ctx.set(IDEMPOTENCY_KEY_EXPIRES_HEADER, outcome.expiresAt.toUTCString());
  if (outcome.replayed) ctx.set('Idempotent-Replayed', 'true');
}
