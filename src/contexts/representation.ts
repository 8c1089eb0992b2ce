import { link, type Links } from '../http/hal.ts';
import { effectiveState, isExecuted, type ContextState } from '../protocol/context-state.ts';
import { contextEntityTag, type ContextView } from '../protocol/preconditions.ts';
import { formatEntityTag } from '../protocol/entity-tag.ts';
import type { ContextRow } from './repository.ts';

/**
 * The path of a context under `basePath`, the engine's mount point ('' at the root, '/api' when
 * mounted there): links, Location headers and the recorded representations all name it.
 */
export function contextPath(id: string, basePath = ''): string {
  return `${basePath}/contexts/${id}`;
}

export function contextView(row: ContextRow): ContextView {
  return {
    state: effectiveState(row.state, row.expires_at, row.now),
    version: row.version,
    fingerprint: row.fingerprint,
    progress: { attempts: row.attempts, lastError: row.last_error },
  };
}

export function contextETag(row: ContextRow): string {
  return formatEntityTag(contextEntityTag(contextView(row)));
}

export interface ContextFields {
  id: string;
  state: ContextState;
  version: number;
  action: unknown;
  result: unknown;
  error: unknown;
  createdAt: Date;
  updatedAt: Date;
  expiresAt: Date;
  /** The Idempotency-Key of the one-shot POST that created the context, if any. */
  idempotencyKey: string | null;
  /** Shown while processing: how often a worker has tried, and why the last try did not finish. */
  attempts?: number;
  lastError?: string | null;
}

/** The HAL representation. Links say what may be done next: execute and cancel only while open. */
export function renderContext(fields: ContextFields, basePath = ''): Record<string, unknown> {
  const self = contextPath(fields.id, basePath);
  const links: Links = { self: link(self) };
  if (fields.state === 'open') {
    links['execute'] = link(self, 'PUT {"action": {...}} with If-Match');
    links['cancel'] = link(self, 'DELETE with If-Match');
  }
  return {
    id: fields.id,
    state: fields.state,
    version: fields.version,
    action: fields.action ?? null,
    result: fields.result ?? null,
    error: fields.error ?? null,
    createdAt: fields.createdAt.toISOString(),
    updatedAt: fields.updatedAt.toISOString(),
    expiresAt: fields.expiresAt.toISOString(),
    idempotencyKey: fields.idempotencyKey,
    ...(fields.state === 'processing' ? { attempts: fields.attempts ?? 0, lastError: fields.lastError ?? null } : {}),
    _links: links,
  };
}

/** The representation of a row, with what a transaction is about to change laid over it. */
export function renderContextRow(row: ContextRow, changes: Partial<ContextFields> = {}, basePath = ''): Record<string, unknown> {
  return renderContext({
    id: row.id,
    state: effectiveState(row.state, row.expires_at, row.now),
    version: row.version,
    action: row.action,
    result: row.result,
    error: row.error,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    expiresAt: row.expires_at,
    idempotencyKey: row.idempotency_key,
    attempts: row.attempts,
    lastError: row.last_error,
    ...changes,
  }, basePath);
}

/** An executed context is immutable: its representation is the one recorded when it executed. */
export function contextBody(row: ContextRow, basePath = ''): string {
  if (isExecuted(row.state) && row.response_body !== null) return row.response_body;
  return JSON.stringify(renderContextRow(row, {}, basePath));
}
