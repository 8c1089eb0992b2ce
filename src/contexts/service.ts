// Transactions for idempotence contexts. The pure decision (protocol/preconditions.ts) is made
// twice where it matters: once on a plain read, which answers replays, 404s and 412s without a
// lock or a write, and again under the row lock right before executing, which is the one that
// counts. Duplicates that arrive while the first request holds the lock wait for it, see the
// recorded outcome, and replay it.
import { randomUUID } from 'node:crypto';
import type { Kysely, Transaction } from 'kysely';
import type { Database } from '../db/schema.ts';
import type { ActionRegistry } from '../actions/registry.ts';
import { ProblemError } from '../http/problems.ts';
import { isUuid } from '../http/ids.ts';
import { setTimeout as sleep } from 'node:timers/promises';
import { canTransition, mayStillChange } from '../protocol/context-state.ts';
import { formatEntityTag, type TagCondition } from '../protocol/entity-tag.ts';
import type { ContextChangeListener } from './change-listener.ts';
import {
  decideDelete,
  decideGet,
  decidePut,
  contextEntityTag,
  type BodyReading,
  type Conditions,
  type Rejection,
} from '../protocol/preconditions.ts';
import { contextBody, contextETag, contextPath, contextView, renderContextRow } from './representation.ts';
import {
  cancelContext,
  findContext,
  insertOpenContext,
  listContexts,
  lockContext,
  recordExecution,
  type ContextRow,
  type ListFilter,
  type OutboxEvent,
} from './repository.ts';

export interface ContextResponse {
  status: number;
  body: string;
  etag: string;
  replayed: boolean;
  location?: string;
  /** Seconds, on 202: when to look again (or long-poll with Prefer: wait). */
  retryAfter?: number;
}

/** Called inside the transaction that puts a context into a final state (the webhook outbox). */
export type TerminalStateHook = (
  trx: Transaction<Database>,
  tenantId: string,
  state: 'succeeded' | 'failed' | 'cancelled',
  representation: Record<string, unknown>,
) => Promise<void>;

export interface ContextServiceOptions {
  db: Kysely<Database>;
  actions: ActionRegistry;
  defaultTtlSeconds: number;
  onTerminalState?: TerminalStateHook;
  /** Enables long-polls; without it Prefer: wait is ignored. */
  listener?: ContextChangeListener;
  /**
   * The default outbox, fused: an execution's final state and its webhook event are written by
   * one statement instead of the record and then `onTerminalState` (src/webhooks/outbox.ts).
   * Cancellations still go through `onTerminalState`.
   */
  outboxEvent?: (state: 'succeeded' | 'failed', representation: string) => OutboxEvent;
}

/** Suggested wait before a client looks at a processing context again. */
export const PROCESSING_RETRY_AFTER_SECONDS = 1;

/** `waited`: the request was held as a long-poll (Prefer: wait applied). */
export type ReadResult = ({ kind: 'ok'; response: ContextResponse } | { kind: 'not-modified'; etag: string }) & { waited?: boolean };

const RETRYABLE_SQLSTATES = new Set(['40001', '40P01']); // serialization failure, deadlock
const MAX_ATTEMPTS = 3;

function rejection(reason: Rejection, id: string, row: ContextRow | undefined, detail?: string): ProblemError {
  const etag = row ? contextETag(row) : undefined;
  const withTag = etag ? { headers: { ETag: etag } } : {};
  switch (reason) {
    case 'not-found':
      return new ProblemError('not-found', `There is no context ${id}.`);
    case 'context-cancelled':
      return new ProblemError('context-cancelled', `Context ${id} was cancelled; create a new context.`);
    case 'context-expired':
      return new ProblemError('context-expired', `Context ${id} expired at ${row?.expires_at.toISOString()}; create a new context.`);
    case 'precondition-required':
      return new ProblemError(
        'precondition-required',
        'Send If-Match with the context\'s ETag, or If-None-Match: * to create a context with this id.',
      );
    case 'precondition-failed':
      return new ProblemError(
        'precondition-failed',
        `The context's current ETag is ${etag ?? 'absent'}; read it and decide again.`,
        { ...withTag, extensions: etag ? { currentETag: etag } : {} },
      );
    case 'context-already-executed':
      return new ProblemError(
        'context-already-executed',
        `Context ${id} has already taken a different action (or is taking it); a context acts once. Use a new context.`,
        withTag,
      );
    case 'malformed-body':
      return new ProblemError('malformed-body', detail);
    case 'unsupported-media-type':
      return new ProblemError('unsupported-media-type', 'Send the body as application/json (UTF-8).');
    case 'payload-too-large':
      return new ProblemError('payload-too-large', detail);
  }
}

/** True when the condition lists a tag of this context version (`"2"` or `"2.<progress>"`). */
function namesVersion(condition: TagCondition, version: number): boolean {
  return !condition.any && condition.tags.some((tag) => tag.opaque === String(version) || tag.opaque.startsWith(`${version}.`));
}

/** The recorded answer again: the 202 while the action is still being completed, then the final 200. */
function replay(row: ContextRow): ContextResponse {
  if (row.state === 'processing') {
    // The recorded 202 showed version N with no progress yet; its tag is the plain version.
    return {
      status: 202,
      body: row.response_body ?? contextBody(row),
      etag: formatEntityTag(contextEntityTag({ state: 'processing', version: row.version })),
      replayed: true,
      location: contextPath(row.id),
      retryAfter: PROCESSING_RETRY_AFTER_SECONDS,
    };
  }
  return { status: 200, body: contextBody(row), etag: contextETag(row), replayed: true };
}

export class ContextService {
  private readonly db: Kysely<Database>;
  private readonly actions: ActionRegistry;
  private readonly defaultTtlSeconds: number;
  private readonly onTerminalState: TerminalStateHook;
  private readonly listener: ContextChangeListener | undefined;
  private readonly outboxEvent: ContextServiceOptions['outboxEvent'];

  constructor(options: ContextServiceOptions) {
    this.db = options.db;
    this.actions = options.actions;
    this.defaultTtlSeconds = options.defaultTtlSeconds;
    this.onTerminalState = options.onTerminalState ?? (async () => undefined);
    this.listener = options.listener;
    this.outboxEvent = options.outboxEvent;
  }

  async create(
    tenantId: string,
    ttlSeconds: number | undefined,
    executor: Kysely<Database> = this.db,
    idempotencyKey: string | null = null,
  ): Promise<ContextResponse> {
    const row = await insertOpenContext(executor, tenantId, randomUUID(), ttlSeconds ?? this.defaultTtlSeconds, idempotencyKey);
    if (!row) throw new Error('a fresh random UUID collided');
    return { status: 201, body: contextBody(row), etag: contextETag(row), replayed: false, location: contextPath(row.id) };
  }

  /**
   * GET, optionally as a long-poll (RFC 7240 `Prefer: wait`): while the context may still change
   * and the client's copy is of the current version, hold the request until a commit changes
   * the version or the wait is over, then answer as a plain GET would.
   */
  async read(tenantId: string, id: string, conditions: Conditions, waitSeconds = 0): Promise<ReadResult> {
    const row = isUuid(id) ? await findContext(this.db, tenantId, id) : undefined;
    const first = this.answerRead(row, id, conditions); // 404, 410 and a failed If-Match never wait
    if (!row || waitSeconds <= 0 || !this.listener || !mayStillChange(contextView(row).state)) return first;
    // Hold only while the client's copy is of the current version: without If-None-Match, or
    // with a tag of this version (a worker's progress changes the tag, not the version).
    if (conditions.ifNoneMatch && first.kind !== 'not-modified' && !namesVersion(conditions.ifNoneMatch, row.version)) return first;
    const latest = await this.waitForChange(row, tenantId, waitSeconds, this.listener);
    return { ...this.answerRead(latest, id, conditions), waited: true };
  }

  private async waitForChange(row: ContextRow, tenantId: string, waitSeconds: number, listener: ContextChangeListener): Promise<ContextRow | undefined> {
    const subscription = await listener.subscribe(tenantId, row.id);
    const timer = new AbortController();
    try {
      const reread = await findContext(this.db, tenantId, row.id);
      if (!reread || reread.version !== row.version) return reread;
      await Promise.race([subscription.changed, sleep(waitSeconds * 1000, undefined, { signal: timer.signal }).catch(() => undefined)]);
      return findContext(this.db, tenantId, row.id);
    } finally {
      timer.abort();
      subscription.cancel();
    }
  }

  private answerRead(row: ContextRow | undefined, id: string, conditions: Conditions): ReadResult {
    const decision = decideGet(row && contextView(row), conditions);
    if (decision.kind === 'reject') throw rejection(decision.reason, id, row);
    const found = row as ContextRow;
    if (decision.kind === 'not-modified') return { kind: 'not-modified', etag: contextETag(found) };
    return { kind: 'ok', response: { status: 200, body: contextBody(found), etag: contextETag(found), replayed: false } };
  }

  /** PUT /contexts/{id}: execute, replay, create-and-execute, or refuse — exactly one of them. */
  async execute(tenantId: string, id: string, conditions: Conditions, body: BodyReading): Promise<ContextResponse> {
    const creatable = isUuid(id);
    for (let attempt = 1; ; attempt++) {
      const row = creatable ? await findContext(this.db, tenantId, id) : undefined;
      const decision = decidePut(row && contextView(row), conditions, body, creatable);
      switch (decision.kind) {
        case 'reject':
          throw rejection(decision.reason, id, row, decision.detail);
        case 'replay':
          return replay(row as ContextRow);
        case 'execute': {
          const prepared = this.actions.prepare(decision.body);
          return this.inTransaction(async (trx) => {
            const locked = await lockContext(trx, tenantId, id);
            const again = decidePut(locked && contextView(locked), conditions, body, creatable);
            if (again.kind === 'replay') return replay(locked as ContextRow);
            if (again.kind !== 'execute') {
              throw again.kind === 'reject' ? rejection(again.reason, id, locked, again.detail) : new Error('context vanished');
            }
            return this.run(trx, tenantId, locked as ContextRow, prepared, decision.fingerprint, 200);
          });
        }
        case 'create': {
          const prepared = this.actions.prepare(decision.body);
          const created = await this.inTransaction(async (trx) => {
            const claimed = await insertOpenContext(trx, tenantId, id, this.defaultTtlSeconds);
            if (!claimed) return undefined; // someone else created it first: decide again on their row
            return this.run(trx, tenantId, claimed, prepared, decision.fingerprint, 201);
          });
          if (created) return created;
          if (attempt >= MAX_ATTEMPTS) throw new Error(`context ${id} keeps changing under concurrent creation`);
          continue;
        }
      }
    }
  }

  /**
   * One-shot POST /contexts: creates a context and executes its action in the caller's
   * transaction (the one that also records the Idempotency-Key).
   */
  async createAndExecute(
    trx: Transaction<Database>,
    tenantId: string,
    body: { action: unknown; ttlSeconds?: number },
    fingerprint: string,
    idempotencyKey: string,
    contextId: string = randomUUID(),
  ): Promise<ContextResponse> {
    const prepared = this.actions.prepare({ action: body.action });
    const row = await insertOpenContext(trx, tenantId, contextId, body.ttlSeconds ?? this.defaultTtlSeconds, idempotencyKey);
    if (!row) throw new Error('a fresh random UUID collided');
    return this.run(trx, tenantId, row, prepared, fingerprint, 201);
  }

  /**
   * What a one-shot POST answers when repeated: the context's own record — the 202 while its
   * action is being completed, then the answer recorded when it ended.
   */
  async oneShotReplay(trx: Transaction<Database>, tenantId: string, contextId: string): Promise<ContextResponse> {
    const row = await findContext(trx, tenantId, contextId);
    if (!row) throw new Error(`keyed context ${contextId} is missing`);
    if (row.state === 'processing') return replay(row);
    return {
      status: row.response_status ?? 200,
      body: contextBody(row),
      etag: contextETag(row),
      replayed: true,
      location: contextPath(row.id),
    };
  }

  private async run(
    trx: Transaction<Database>,
    tenantId: string,
    row: ContextRow,
    prepared: ReturnType<ActionRegistry['prepare']>,
    fingerprint: string,
    status: 200 | 201,
  ): Promise<ContextResponse> {
    const outcome = await prepared.run(trx, { tenantId, contextId: row.id });
    if (!canTransition(row.state, outcome.state)) throw new Error(`illegal transition ${row.state} → ${outcome.state}`);
    const result = outcome.state === 'succeeded' ? outcome.result : null;
    const error = outcome.state === 'failed' ? outcome.error : null;
    // An accepted asynchronous action answers 202 (RFC 9110 §15.3.3), also when it created the context.
    const answer = outcome.state === 'processing' ? 202 : status;
    const version = row.version + 1;
    const representation = renderContextRow(row, {
      state: outcome.state,
      version,
      action: prepared.action,
      result,
      error,
      updatedAt: row.now,
      attempts: 0,
      lastError: null,
    });
    const responseBody = JSON.stringify(representation);
    const fusedEvent = outcome.state !== 'processing' && this.outboxEvent ? this.outboxEvent(outcome.state, responseBody) : undefined;
    await recordExecution(trx, {
      tenantId,
      id: row.id,
      expectedVersion: row.version,
      state: outcome.state,
      action: prepared.action,
      fingerprint,
      result,
      error,
      responseStatus: answer,
      responseBody,
    }, fusedEvent);
    if (outcome.state !== 'processing' && !fusedEvent) await this.onTerminalState(trx, tenantId, outcome.state, representation);
    const etag = contextETag({ ...row, state: outcome.state, version });
    const response: ContextResponse = { status: answer, body: responseBody, etag, replayed: false };
    if (answer !== 200) response.location = contextPath(row.id);
    if (answer === 202) response.retryAfter = PROCESSING_RETRY_AFTER_SECONDS;
    return response;
  }

  /** DELETE /contexts/{id}: an open context becomes cancelled; answers with nothing (204). */
  async cancel(tenantId: string, id: string, conditions: Conditions): Promise<void> {
    if (!isUuid(id)) throw rejection('not-found', id, undefined);
    await this.inTransaction(async (trx) => {
      const locked = await lockContext(trx, tenantId, id);
      const decision = decideDelete(locked && contextView(locked), conditions);
      if (decision.kind === 'reject') throw rejection(decision.reason, id, locked);
      const row = locked as ContextRow;
      await cancelContext(trx, tenantId, id, row.version);
      const representation = renderContextRow(row, { state: 'cancelled', version: row.version + 1, updatedAt: row.now });
      await this.onTerminalState(trx, tenantId, 'cancelled', representation);
    });
  }

  async list(tenantId: string, filter: ListFilter, limit: number, before: number | undefined, idempotencyKey?: string): Promise<ContextRow[]> {
    return listContexts(this.db, tenantId, filter, limit, before, idempotencyKey);
  }

  private async inTransaction<T>(work: (trx: Transaction<Database>) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.db.transaction().execute(work);
      } catch (error) {
        const code = (error as { code?: unknown }).code;
        if (attempt >= MAX_ATTEMPTS || typeof code !== 'string' || !RETRYABLE_SQLSTATES.has(code)) throw error;
      }
    }
  }
}
