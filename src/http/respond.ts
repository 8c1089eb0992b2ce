import type { Context } from 'koa';
import etag from 'etag';
import { parseTagCondition } from '../protocol/entity-tag.ts';
import { decideConditionalRead, type Conditions } from '../protocol/preconditions.ts';
import { parseEntityTag } from '../protocol/entity-tag.ts';
import { ProblemError } from './problems.ts';
import { HAL_JSON } from './media.ts';

/** If-Match / If-None-Match as sent; a header that is present but empty still counts as present. */
export function conditionsOf(ctx: Context): Conditions {
  const header = (name: string): string | undefined => {
    const value = ctx.headers[name];
    return Array.isArray(value) ? value.join(', ') : value;
  };
  return {
    ifMatch: parseTagCondition(header('if-match')),
    ifNoneMatch: parseTagCondition(header('if-none-match')),
  };
}

export interface Representation {
  status: number;
  body: string;
  etag: string;
  replayed?: boolean;
  location?: string;
  retryAfter?: number;
}

export function sendRepresentation(ctx: Context, representation: Representation): void {
  ctx.status = representation.status;
  ctx.set('ETag', representation.etag);
  if (representation.location) ctx.set('Location', representation.location);
  if (representation.replayed) ctx.set('Idempotent-Replayed', 'true');
  if (representation.retryAfter !== undefined) ctx.set('Retry-After', String(representation.retryAfter));
  ctx.body = representation.body;
  ctx.type = HAL_JSON;
}

/** 304 per RFC 9110 §15.4.5: no body, but the validator the client should keep. */
export function sendNotModified(ctx: Context, tag: string): void {
  ctx.status = 304;
  ctx.set('ETag', tag);
}

/** Reads that may be cached by the client but must be revalidated (ETag → If-None-Match). */
export function markRevalidate(ctx: Context): void {
  ctx.set('Cache-Control', 'private, no-cache');
}

/**
 * A conditional GET of a computed document (lists, single accounts): the strong validator is
 * either given (row versions) or a hash of the bytes (`etag` package).
 */
export function sendConditionalRead(ctx: Context, body: string, tag: string = etag(body)): void {
  markRevalidate(ctx);
  const current = parseEntityTag(tag);
  if (!current) throw new Error(`not an entity tag: ${tag}`);
  const decision = decideConditionalRead(conditionsOf(ctx), current);
  if (decision.kind === 'reject') {
    throw new ProblemError('precondition-failed', `The current ETag is ${tag}.`, { headers: { ETag: tag }, extensions: { currentETag: tag } });
  }
  if (decision.kind === 'not-modified') return sendNotModified(ctx, tag);
  sendRepresentation(ctx, { status: 200, body, etag: tag });
}

/** The same answer as sendRepresentation, as data (to record for Idempotency-Key replays). */
export function storedRepresentation(representation: Representation, extraHeaders: Record<string, string> = {}): {
  status: number;
  body: string;
  headers: Record<string, string>;
} {
  const headers: Record<string, string> = { 'Content-Type': HAL_JSON, ETag: representation.etag, ...extraHeaders };
  if (representation.location) headers['Location'] = representation.location;
  if (representation.retryAfter !== undefined) headers['Retry-After'] = String(representation.retryAfter);
  return { status: representation.status, body: representation.body, headers };
}
