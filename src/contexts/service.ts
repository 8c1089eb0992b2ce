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
import { canTransition } from '../protocol/context-state.ts';
import {
  decideDelete,
  decideGet,
  decidePut,
  type BodyReading,
  type Conditions,
  type Rejection,
} from '../protocol/preconditions.ts';
import { contextBody, contextETag, contextPath, contextView, renderContext } from './representation.ts';
import {
  cancelContext,
  findContext,
  insertOpenContext,
  listContexts,
  lockContext,
  recordExecution,
  type ContextRow,
  type ListFilter,
} from './repository.ts';

export interface ContextResponse {
  status: number;
  body: string;
  etag: string;
  replayed: boolean;
  location?: string;
}

export type ReadResult = { kind: 'ok'; response: ContextResponse } | { kind: 'not-modified'; etag: string };

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
        `Context ${id} has already executed a different action; its outcome is final. Use a new context.`,
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

function replay(row: ContextRow): ContextResponse {
  return { status: 200, body: contextBody(row), etag: contextETag(row), replayed: true };
}

export class ContextService {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly actions: ActionRegistry,
    private readonly defaultTtlSeconds: number,
  ) {}

  async create(tenantId: string, ttlSeconds: number | undefined): Promise<ContextResponse> {
    const row = await insertOpenContext(this.db, tenantId, randomUUID(), ttlSeconds ?? this.defaultTtlSeconds);
    if (!row) throw new Error('a fresh random UUID collided');
    return { status: 201, body: contextBody(row), etag: contextETag(row), replayed: false, location: contextPath(row.id) };
  }

  async read(tenantId: string, id: string, conditions: Conditions): Promise<ReadResult> {
    const row = isUuid(id) ? await findContext(this.db, tenantId, id) : undefined;
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
    const version = row.version + 1;
    const representation = renderContext({
      id: row.id,
      state: outcome.state,
      version,
      action: prepared.action,
      result,
      error,
      createdAt: row.created_at,
      updatedAt: row.now,
      expiresAt: row.expires_at,
    });
    const responseBody = JSON.stringify(representation);
    await recordExecution(trx, {
      tenantId,
      id: row.id,
      expectedVersion: row.version,
      state: outcome.state,
      action: prepared.action,
      fingerprint,
      result,
      error,
      responseStatus: status,
      responseBody,
    });
    const etag = contextETag({ ...row, state: outcome.state, version });
    const response: ContextResponse = { status, body: responseBody, etag, replayed: false };
    if (status === 201) response.location = contextPath(row.id);
    return response;
  }

  /** DELETE /contexts/{id}: an open context becomes cancelled; answers with nothing (204). */
  async cancel(tenantId: string, id: string, conditions: Conditions): Promise<void> {
    if (!isUuid(id)) throw rejection('not-found', id, undefined);
    await this.inTransaction(async (trx) => {
      const locked = await lockContext(trx, tenantId, id);
      const decision = decideDelete(locked && contextView(locked), conditions);
      if (decision.kind === 'reject') throw rejection(decision.reason, id, locked);
      await cancelContext(trx, tenantId, id, (locked as ContextRow).version);
    });
  }

  async list(tenantId: string, filter: ListFilter, limit: number, before: number | undefined): Promise<ContextRow[]> {
    return listContexts(this.db, tenantId, filter, limit, before);
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
