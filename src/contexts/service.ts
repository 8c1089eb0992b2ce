// Idempotence contexts: create, read (and long-poll), execute, cancel, list. Executing lives in
// execute.ts, every state change in state-writer.ts; this is the surface the routes call.
import { randomUUID } from 'node:crypto';
import type { Kysely, Transaction } from 'kysely';
import type { ActionRegistry } from '../actions/registry.ts';
import type { Database } from '../db/schema.ts';
import { inTransaction } from '../db/transaction.ts';
import { isUuid } from '../http/ids.ts';
import { mayStillChange } from '../protocol/context-state.ts';
import type { TagCondition } from '../protocol/entity-tag.ts';
import { decideDelete, decideGet, type BodyReading, type Conditions } from '../protocol/preconditions.ts';
import type { ContextChangeListener } from './change-listener.ts';
import { createAndExecute, executePut, oneShotReplay, type ExecutionDeps } from './execute.ts';
import { rejection } from './rejections.ts';
import { contextBody, contextETag, contextPath, contextView } from './representation.ts';
import { findContext, insertOpenContext, listContexts, lockContext, type ContextRow, type ListFilter } from './repository.ts';
import { writeContextState, type ContextResponse, type TerminalStateHook } from './state-writer.ts';

export { PROCESSING_RETRY_AFTER_SECONDS, type ContextResponse, type TerminalStateHook } from './state-writer.ts';

export interface ContextServiceOptions {
  db: Kysely<Database>;
  actions: ActionRegistry;
  defaultTtlSeconds: number;
  /** The host's hook in the transaction of every final state change (the webhook event is queued regardless). */
  onTerminalState?: TerminalStateHook;
  /** Enables long-polls; without it Prefer: wait is ignored. */
  listener?: ContextChangeListener;
  /** Where the routes are mounted ('' at the root, '/api'): links and Location headers follow it. */
  basePath?: string;
  /** A held long-poll re-reads its context this often, notified or not (default DEFAULT_RECHECK_MS). */
  recheckMs?: number;
}

/** `waited`: the request was held as a long-poll (Prefer: wait applied). */
export type ReadResult = ({ kind: 'ok'; response: ContextResponse } | { kind: 'not-modified'; etag: string }) & { waited?: boolean };

/** How often a held long-poll re-reads its context when no notification came (LONG_POLL_RECHECK_MS). */
export const DEFAULT_RECHECK_MS = 1_000;

/** True when `changed` settled within `ms` (false: the time ran out first). */
async function wakeOrTimeout(changed: Promise<void>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), Math.max(0, ms))));
  try {
    return await Promise.race([changed.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** True when the condition lists a tag of this context version (`"2"` or `"2.<progress>"`). */
function namesVersion(condition: TagCondition, version: number): boolean {
  return !condition.any && condition.tags.some((tag) => tag.opaque === String(version) || tag.opaque.startsWith(`${version}.`));
}

export class ContextService {
  private readonly deps: ExecutionDeps;
  private readonly listener: ContextChangeListener | undefined;
  private readonly recheckMs: number;

  constructor(options: ContextServiceOptions) {
    this.deps = {
      db: options.db,
      actions: options.actions,
      defaultTtlSeconds: options.defaultTtlSeconds,
      basePath: options.basePath ?? '',
      ...(options.onTerminalState ? { onTerminalState: options.onTerminalState } : {}),
    };
    this.listener = options.listener;
    this.recheckMs = options.recheckMs ?? DEFAULT_RECHECK_MS;
  }

  async create(
    tenantId: string,
    ttlSeconds: number | undefined,
    executor: Kysely<Database> = this.deps.db,
    idempotencyKey: string | null = null,
  ): Promise<ContextResponse> {
    const row = await insertOpenContext(executor, tenantId, randomUUID(), ttlSeconds ?? this.deps.defaultTtlSeconds, idempotencyKey);
    if (!row) throw new Error('a fresh random UUID collided');
    return { status: 201, body: contextBody(row, this.deps.basePath), etag: contextETag(row), replayed: false, location: contextPath(row.id, this.deps.basePath) };
  }

  /**
   * GET, optionally as a long-poll (RFC 7240 `Prefer: wait`): while the context may still change
   * and the client's copy is of the current version, hold the request until a commit changes
   * the version or the wait is over, then answer as a plain GET would.
   */
  /**
   * GET /contexts/{id}, held up to `waitSeconds` for a change (long-poll). `whileWaiting` wraps
   * the wait itself, in which no connection is used: the concurrency limit hands the request's
   * slot to the tenant's other requests for that long (src/http/rate-limits.ts).
   */
  async read(tenantId: string, id: string, conditions: Conditions, waitSeconds = 0, whileWaiting?: <T>(waiting: Promise<T>) => Promise<T>): Promise<ReadResult> {
    const row = isUuid(id) ? await findContext(this.deps.db, tenantId, id) : undefined;
    const first = this.answerRead(row, id, conditions); // 404, 410 and a failed If-Match never wait
    if (!row || waitSeconds <= 0 || !this.listener || !mayStillChange(contextView(row).state)) return first;
    // Hold only while the client's copy is of the current version: without If-None-Match, or
    // with a tag of this version (a worker's progress changes the tag, not the version).
    if (conditions.ifNoneMatch && first.kind !== 'not-modified' && !namesVersion(conditions.ifNoneMatch, row.version)) return first;
    const latest = await this.waitForChange(row, tenantId, waitSeconds, this.listener, whileWaiting);
    return { ...this.answerRead(latest, id, conditions), waited: true };
  }

  private async waitForChange(
    row: ContextRow,
    tenantId: string,
    waitSeconds: number,
    listener: ContextChangeListener,
    whileWaiting: <T>(waiting: Promise<T>) => Promise<T> = (waiting) => waiting,
  ): Promise<ContextRow | undefined> {
    const subscription = await listener.subscribe(tenantId, row.id);
    const deadline = Date.now() + waitSeconds * 1000;
    try {
      let latest = await findContext(this.deps.db, tenantId, row.id);
      // Woken by a notification (a new version committed: db/migrations/002), answer with what is
      // there. Otherwise re-read every recheck period for the same thing, a new version (not a
      // worker's claim, which changes only the tag), so a notification that never came (a
      // pooler, a reconnect) costs a delay, not the change.
      while (latest && latest.version === row.version && Date.now() < deadline) {
        // The request's concurrency slot is given back while it only waits (src/http/concurrency-slots.ts).
        const notified = await whileWaiting(wakeOrTimeout(subscription.changed, Math.min(this.recheckMs, deadline - Date.now())));
        latest = await findContext(this.deps.db, tenantId, row.id);
        if (notified) break;
      }
      return latest;
    } finally {
      subscription.cancel();
    }
  }

  private answerRead(row: ContextRow | undefined, id: string, conditions: Conditions): ReadResult {
    const decision = decideGet(row && contextView(row), conditions);
    if (decision.kind === 'reject') throw rejection(decision.reason, id, row);
    const found = row as ContextRow;
    if (decision.kind === 'not-modified') return { kind: 'not-modified', etag: contextETag(found) };
    return { kind: 'ok', response: { status: 200, body: contextBody(found, this.deps.basePath), etag: contextETag(found), replayed: false } };
  }

  /** PUT /contexts/{id}: execute, replay, create-and-execute, or refuse — exactly one of them. */
  execute(tenantId: string, id: string, conditions: Conditions, body: BodyReading): Promise<ContextResponse> {
    return executePut(this.deps, tenantId, id, conditions, body);
  }

  /** One-shot POST /contexts, in the caller's transaction (the one that records the Idempotency-Key). */
  createAndExecute(
    trx: Transaction<Database>,
    tenantId: string,
    body: { action: unknown; ttlSeconds?: number },
    fingerprint: string,
    idempotencyKey: string,
    contextId: string = randomUUID(),
  ): Promise<ContextResponse> {
    return createAndExecute(this.deps, trx, tenantId, body, fingerprint, idempotencyKey, contextId);
  }

  oneShotReplay(trx: Transaction<Database>, tenantId: string, contextId: string): Promise<ContextResponse> {
    return oneShotReplay(trx, tenantId, contextId, this.deps.basePath);
  }

  /** DELETE /contexts/{id}: an open context becomes cancelled; answers with nothing (204). */
  async cancel(tenantId: string, id: string, conditions: Conditions): Promise<void> {
    if (!isUuid(id)) throw rejection('not-found', id, undefined);
    await inTransaction(this.deps.db, async (trx) => {
      const locked = await lockContext(trx, tenantId, id);
      const decision = decideDelete(locked && contextView(locked), conditions);
      if (decision.kind === 'reject') throw rejection(decision.reason, id, locked);
      await writeContextState(trx, tenantId, locked as ContextRow, { kind: 'cancel' }, this.deps);
    });
  }

  /** The mount path the representations name. */
  get basePath(): string {
    return this.deps.basePath;
  }

  async list(tenantId: string, filter: ListFilter, limit: number, before: number | undefined, idempotencyKey?: string): Promise<ContextRow[]> {
    return listContexts(this.deps.db, tenantId, filter, limit, before, idempotencyKey);
  }
}
