// The one function that writes a state change of a context — open → succeeded | failed |
// processing | cancelled, and processing → succeeded | failed. PUT, one-shot POST, DELETE, the
// worker and reconciliation all come here. In the caller's transaction, with the row locked (or
// just inserted) by it, it: checks the transition, bumps the version (conditionally on the one
// the decision was made on), stores the representation that replays are answered from, queues
// the webhook event of a final state in the same statement, and calls the host's hook. The
// `contexts_changed` trigger sends the long-poll notification in the same transaction (not for a
// context born in it: nobody can be waiting on it; db/migrations/006).
import type { Transaction } from 'kysely';
import type { Database } from '../db/schema.ts';
import type { ActionOutcome, ExecutionOutcome } from '../actions/registry.ts';
import { canTransition, type StoredState } from '../protocol/context-state.ts';
import { contextWebhookEvent } from '../webhooks/outbox.ts';
import { contextETag, contextPath, renderContextRow } from './representation.ts';
import type { ContextRow } from './repository.ts';
import { stateStatements } from './state-statements.ts';
import { ATTR } from '../telemetry/attributes.ts';
import { activeTraceParent } from '../telemetry/trace-parent.ts';
import { inSpan } from '../telemetry/tracer.ts';

/** Suggested wait before a client looks at a processing context again. */
export const PROCESSING_RETRY_AFTER_SECONDS = 1;

export interface ContextResponse {
  status: number;
  body: string;
  etag: string;
  replayed: boolean;
  location?: string;
  /** Seconds, on 202: when to look again (or long-poll with Prefer: wait). */
  retryAfter?: number;
}

/**
 * Called inside the transaction of every final state change, after the engine's own webhook
 * event is queued: for the host's own records or events. It adds to the outbox, never replaces it.
 */
export type TerminalStateHook = (
  trx: Transaction<Database>,
  tenantId: string,
  state: 'succeeded' | 'failed' | 'cancelled',
  representation: Record<string, unknown>,
) => Promise<void>;

export interface WriterOptions {
  /** The host's hook in the transaction of every final state (after the engine's webhook event). */
  onTerminalState?: TerminalStateHook | undefined;
  /** The engine's mount path ('' at the root): the links of the stored representation name it. */
  basePath?: string | undefined;
}

export type ContextChange =
  /** A request executes (or accepts) the action; `created` when the same request created the context. */
  | { readonly kind: 'execute'; readonly action: unknown; readonly fingerprint: string; readonly outcome: ExecutionOutcome; readonly created: boolean }
  /** A worker or reconciliation ends a processing context. */
  | { readonly kind: 'finish'; readonly outcome: ActionOutcome }
  | { readonly kind: 'cancel' };

function targetState(change: ContextChange): StoredState {
  return change.kind === 'cancel' ? 'cancelled' : change.outcome.state;
}

/** A JSON column's parameter: the text, or NULL. */
const json = (value: unknown): string | null => (value === null ? null : JSON.stringify(value));

function changedUnderLock(id: string): never {
  throw new Error(`context ${id} changed under its lock`);
}

/** Writes `change` to `row` of `tenantId` (locked by the caller's transaction) and returns what the request answers. */
export function writeContextState(
  trx: Transaction<Database>,
  tenantId: string,
  row: ContextRow,
  change: ContextChange,
  options: WriterOptions = {},
): Promise<ContextResponse> {
  return inSpan('context record', (span) => {
    if (span.isRecording()) span.setAttributes({ [ATTR.context]: row.id, [ATTR.state]: targetState(change) });
    return write(trx, tenantId, row, change, options);
  });
}

async function write(trx: Transaction<Database>, tenantId: string, row: ContextRow, change: ContextChange, options: WriterOptions): Promise<ContextResponse> {
  const basePath = options.basePath ?? '';
  const state = targetState(change);
  if (!canTransition(row.state, state)) throw new Error(`illegal transition ${row.state} → ${state} of context ${row.id}`);
  if (change.kind === 'finish' && row.state !== 'processing') throw new Error(`context ${row.id} is not processing`);
  const version = row.version + 1;
  const where = { tenantId, id: row.id, expected: row.version };
  const result = change.kind !== 'cancel' && change.outcome.state === 'succeeded' ? change.outcome.result : null;
  const error = change.kind !== 'cancel' && change.outcome.state === 'failed' ? change.outcome.error : null;
  const representation = renderContextRow(row, {
    state,
    version,
    updatedAt: row.now,
    ...(change.kind === 'execute' ? { action: change.action, attempts: 0, lastError: null } : {}),
    ...(change.kind === 'cancel' ? {} : { result, error }),
  }, basePath);
  const body = JSON.stringify(representation);
  const etag = contextETag({ ...row, state, version });

  let recorded: number;
  if (change.kind === 'execute' && change.outcome.state === 'processing') {
    // An accepted asynchronous action answers 202 (RFC 9110 §15.3.3), also when it created the context.
    // The active span (this one) is stored for the worker's phases to continue the trace; NULL when tracing is off.
    recorded = await stateStatements.accepted(trx, {
      ...where, version, action: JSON.stringify(change.action), fingerprint: change.fingerprint,
      outputs: JSON.stringify({ accepted: change.outcome.accepted }), status: 202, body, traceParent: activeTraceParent(),
    });
    if (recorded !== 1) changedUnderLock(row.id);
    return { status: 202, body, etag, replayed: false, location: contextPath(row.id, basePath), retryAfter: PROCESSING_RETRY_AFTER_SECONDS };
  }

  const final = state as 'succeeded' | 'failed' | 'cancelled';
  const event = contextWebhookEvent(final, body);
  if (change.kind === 'execute') {
    const status = change.created ? 201 : 200;
    recorded = await stateStatements.executed(
      trx, event, final as 'succeeded' | 'failed', version, JSON.stringify(change.action), change.fingerprint,
      json(result), json(error), status, body, tenantId, row.id, row.version,
    );
  } else if (change.kind === 'finish') {
    recorded = await stateStatements.finished(trx, event, {
      ...where, state: final as 'succeeded' | 'failed', version,
      result: json(result), error: json(error), body,
    });
  } else {
    recorded = await stateStatements.cancelled(trx, event, { ...where, version });
  }
  if (recorded !== 1) changedUnderLock(row.id);
  await options.onTerminalState?.(trx, tenantId, final, representation);

  if (change.kind === 'cancel') return { status: 204, body: '', etag, replayed: false };
  const status = change.kind === 'execute' && change.created ? 201 : 200;
  return { status, body, etag, replayed: false, ...(status === 201 ? { location: contextPath(row.id, basePath) } : {}) };
}
