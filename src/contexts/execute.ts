// Executing an action on a context: PUT /contexts/{id} and the one-shot POST. The pure decision
// (protocol/preconditions.ts) is made twice where it matters: once on a plain read, which answers
// replays, 404s and 412s without a lock or a write, and again under the row lock right before
// executing, which is the one that counts. Duplicates that arrive while the first request holds
// the lock wait for it, see the recorded outcome, and replay it.
import type { Span } from '@opentelemetry/api';
import type { Kysely, Transaction } from 'kysely';
import type { ActionRegistry } from '../actions/registry.ts';
import type { Database } from '../db/schema.ts';
import { inTransaction } from '../db/transaction.ts';
import { isUuid } from '../http/ids.ts';
import { decidePut, type BodyReading, type Conditions } from '../protocol/preconditions.ts';
import { contextBody, contextETag, contextPath, contextView } from './representation.ts';
import { findContext, insertOpenContext, lockContext, type ContextRow } from './repository.ts';
import { rejection, replay } from './rejections.ts';
import { writeContextState, type ContextResponse, type TerminalStateHook } from './state-writer.ts';
import { ATTR } from '../telemetry/attributes.ts';
import { inSpan } from '../telemetry/tracer.ts';

export interface ExecutionDeps {
  db: Kysely<Database>;
  actions: ActionRegistry;
  defaultTtlSeconds: number;
  onTerminalState?: TerminalStateHook;
  /** The mount path of the routes ('' at the root). */
  basePath: string;
}

const CREATE_ATTEMPTS = 3;

type Prepared = ReturnType<ActionRegistry['prepare']>;

async function run(deps: ExecutionDeps, trx: Transaction<Database>, tenantId: string, row: ContextRow, prepared: Prepared, fingerprint: string, created: boolean): Promise<ContextResponse> {
  // The action's own statements (a synchronous action's effect, or an asynchronous one's acceptance).
  const outcome = await inSpan('action execute', async (span) => {
    const outcome = await prepared.run(trx, { tenantId, contextId: row.id });
    if (span.isRecording()) span.setAttributes({ [ATTR.actionType]: actionType(prepared.action), [ATTR.outcome]: outcome.state });
    return outcome;
  });
  return writeContextState(trx, tenantId, row, { kind: 'execute', action: prepared.action, fingerprint, outcome, created }, deps);
}

function actionType(action: unknown): string {
  const type = (action as { type?: unknown } | null)?.type;
  return typeof type === 'string' ? type : '';
}

type Decision = ReturnType<typeof decidePut>;

/** A decision, as the span of the statement it was made on names it. */
function decided(span: Span, decision: Decision): Decision {
  if (span.isRecording()) span.setAttribute(ATTR.decision, decision.kind);
  return decision;
}

/** The plain read and the first decision: replays, 404s and 412s are answered from it. */
function readAndDecide(deps: ExecutionDeps, tenantId: string, id: string, conditions: Conditions, body: BodyReading, creatable: boolean) {
  return inSpan('context read', async (span) => {
    const row = creatable ? await findContext(deps.db, tenantId, id) : undefined;
    return { row, decision: decided(span, decidePut(row && contextView(row), conditions, body, creatable)) };
  });
}

/** PUT /contexts/{id}: execute, replay, create-and-execute, or refuse — exactly one of them. */
export async function executePut(deps: ExecutionDeps, tenantId: string, id: string, conditions: Conditions, body: BodyReading): Promise<ContextResponse> {
  const creatable = isUuid(id);
  for (let attempt = 1; ; attempt++) {
    const { row, decision } = await readAndDecide(deps, tenantId, id, conditions, body, creatable);
    switch (decision.kind) {
      case 'reject':
        throw rejection(decision.reason, id, row, decision.detail);
      case 'replay':
        return replay(row as ContextRow, deps.basePath);
      case 'execute': {
        const prepared = deps.actions.prepare(decision.body);
        return inTransaction(deps.db, async (trx) => {
          // The decision again, under the row lock: the one that counts.
          const { locked, again } = await inSpan('context lock', async (span) => {
            const locked = await lockContext(trx, tenantId, id);
            return { locked, again: decided(span, decidePut(locked && contextView(locked), conditions, body, creatable)) };
          });
          if (again.kind === 'replay') return replay(locked as ContextRow, deps.basePath);
          if (again.kind !== 'execute') {
            throw again.kind === 'reject' ? rejection(again.reason, id, locked, again.detail) : new Error('context vanished');
          }
          return run(deps, trx, tenantId, locked as ContextRow, prepared, decision.fingerprint, false);
        });
      }
      case 'create': {
        const prepared = deps.actions.prepare(decision.body);
        const created = await inTransaction(deps.db, async (trx) => {
          const claimed = await inSpan('context insert', (span) =>
            insertOpenContext(trx, tenantId, id, deps.defaultTtlSeconds).then((inserted) => {
              if (span.isRecording()) span.setAttribute(ATTR.outcome, inserted ? 'inserted' : 'exists');
              return inserted;
            }),
          );
          if (!claimed) return undefined; // someone else created it first: decide again on their row
          return run(deps, trx, tenantId, claimed, prepared, decision.fingerprint, true);
        });
        if (created) return created;
        if (attempt >= CREATE_ATTEMPTS) throw new Error(`context ${id} keeps changing under concurrent creation`);
        continue;
      }
    }
  }
}

/**
 * One-shot POST /contexts: creates a context and executes its action in the caller's
 * transaction (the one that also records the Idempotency-Key).
 */
export async function createAndExecute(
  deps: ExecutionDeps,
  trx: Transaction<Database>,
  tenantId: string,
  body: { action: unknown; ttlSeconds?: number },
  fingerprint: string,
  idempotencyKey: string,
  contextId: string,
): Promise<ContextResponse> {
  const prepared = deps.actions.prepare({ action: body.action });
  const row = await insertOpenContext(trx, tenantId, contextId, body.ttlSeconds ?? deps.defaultTtlSeconds, idempotencyKey);
  if (!row) throw new Error('a fresh random UUID collided');
  return run(deps, trx, tenantId, row, prepared, fingerprint, true);
}

/**
 * What a one-shot POST answers when repeated: the context's own record — the 202 while its
 * action is being completed, then the answer recorded when it ended.
 */
export async function oneShotReplay(trx: Transaction<Database>, tenantId: string, contextId: string, basePath: string): Promise<ContextResponse> {
  const row = await findContext(trx, tenantId, contextId);
  if (!row) throw new Error(`keyed context ${contextId} is missing`);
  if (row.state === 'processing') return replay(row, basePath);
  return { status: row.response_status ?? 200, body: contextBody(row, basePath), etag: contextETag(row), replayed: true, location: contextPath(row.id, basePath) };
}
