// How the context service refuses a request, and how it answers one it has answered before.
import { ProblemError } from '../http/problems.ts';
import { formatEntityTag } from '../protocol/entity-tag.ts';
import { contextEntityTag, type Rejection } from '../protocol/preconditions.ts';
import { contextBody, contextETag, contextPath } from './representation.ts';
import type { ContextRow } from './repository.ts';
import { PROCESSING_RETRY_AFTER_SECONDS, type ContextResponse } from './state-writer.ts';

export function rejection(reason: Rejection, id: string, row: ContextRow | undefined, detail?: string): ProblemError {
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

/** The recorded answer again: the 202 while the action is still being completed, then the final 200. */
export function replay(row: ContextRow, basePath = ''): ContextResponse {
  if (row.state === 'processing') {
    // The recorded 202 showed version N with no progress yet; its tag is the plain version.
    return {
      status: 202,
      body: row.response_body ?? contextBody(row, basePath),
      etag: formatEntityTag(contextEntityTag({ state: 'processing', version: row.version })),
      replayed: true,
      location: contextPath(row.id, basePath),
      retryAfter: PROCESSING_RETRY_AFTER_SECONDS,
    };
  }
  return { status: 200, body: contextBody(row, basePath), etag: contextETag(row), replayed: true };
}
