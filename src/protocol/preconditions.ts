// The decision table for requests on one idempotence context. Pure: given what the request says
// and what the context is, it returns the one answer, in the order the README's status table uses:
// existence (404) → gone (410) → precondition present (428) → body (413/415/400) → replay of the
// same action (200) → preconditions (412, RFC 9110 §13.2.2) → state (409) → execute.
import { createHash } from 'node:crypto';
import { ifMatchPasses, ifNoneMatchPasses, strongTag, type EntityTag, type TagCondition } from './entity-tag.ts';
import { hasAcceptedAction, type ContextState } from './context-state.ts';

export interface ContextView {
  readonly state: ContextState;
  readonly version: number;
  /** Fingerprint of the request that executed the action; null until then. */
  readonly fingerprint: string | null;
  /** While processing, the worker's progress shows in the representation (attempts, lastError). */
  readonly progress?: { readonly attempts: number; readonly lastError: string | null };
}

export interface Conditions {
  readonly ifMatch?: TagCondition | undefined;
  readonly ifNoneMatch?: TagCondition | undefined;
}

/** What reading the request body found; the body is judged only at its place in the order. */
export type BodyReading =
  | { readonly kind: 'json'; readonly value: unknown; readonly fingerprint: string }
  | { readonly kind: 'missing' }
  | { readonly kind: 'malformed'; readonly detail: string }
  | { readonly kind: 'unsupported-media-type'; readonly mediaType: string }
  | { readonly kind: 'too-large'; readonly limit: number };

export type Rejection =
  | 'not-found'
  | 'context-cancelled'
  | 'context-expired'
  | 'precondition-required'
  | 'precondition-failed'
  | 'context-already-executed'
  | 'malformed-body'
  | 'unsupported-media-type'
  | 'payload-too-large';

export type PutDecision =
  | { readonly kind: 'reject'; readonly reason: Rejection; readonly detail?: string }
  | { readonly kind: 'replay' }
  | { readonly kind: 'create'; readonly body: unknown; readonly fingerprint: string }
  | { readonly kind: 'execute'; readonly body: unknown; readonly fingerprint: string };

export type DeleteDecision = { readonly kind: 'reject'; readonly reason: Rejection } | { readonly kind: 'cancel' };

export type GetDecision =
  | { readonly kind: 'reject'; readonly reason: Rejection }
  | { readonly kind: 'not-modified' }
  | { readonly kind: 'ok' };

/**
 * The strong validator of a context: its version, which every state change bumps. Two changes of
 * the representation happen without one, and RFC 9110 §8.8.3 wants a strong validator to change
 * whenever the representation does: expiry (state `expired`, no write at all) and a worker's
 * progress on a processing context (attempts, lastError).
 */
export function contextEntityTag(view: Pick<ContextView, 'state' | 'version' | 'progress'>): EntityTag {
  if (view.state === 'expired') return strongTag(`${view.version}-expired`);
  const progress = view.state === 'processing' ? view.progress : undefined;
  if (progress && (progress.attempts > 0 || progress.lastError !== null)) {
    const digest = createHash('sha256').update(`${progress.attempts}\n${progress.lastError ?? ''}`).digest('base64url');
    return strongTag(`${view.version}.${progress.attempts}.${digest.slice(0, 8)}`);
  }
  return strongTag(String(view.version));
}

function gone(context: ContextView): Rejection | undefined {
  if (context.state === 'cancelled') return 'context-cancelled';
  if (context.state === 'expired') return 'context-expired';
  return undefined;
}

function bodyRejection(body: BodyReading): PutDecision | undefined {
  switch (body.kind) {
    case 'json':
      return undefined;
    case 'missing':
      return { kind: 'reject', reason: 'malformed-body', detail: 'The request needs a JSON body: {"action": {...}}.' };
    case 'malformed':
      return { kind: 'reject', reason: 'malformed-body', detail: body.detail };
    case 'unsupported-media-type':
      return { kind: 'reject', reason: 'unsupported-media-type' };
    case 'too-large':
      return { kind: 'reject', reason: 'payload-too-large', detail: `The body may be at most ${body.limit} bytes.` };
  }
}

/** RFC 9110 §13.2.2 steps 1 and 3: If-Match first, If-None-Match only when If-Match is absent or true. */
function preconditionsHold(conditions: Conditions, current: EntityTag | undefined): boolean {
  if (conditions.ifMatch && !ifMatchPasses(conditions.ifMatch, current)) return false;
  if (conditions.ifNoneMatch && !ifNoneMatchPasses(conditions.ifNoneMatch, current)) return false;
  return true;
}

function hasPrecondition(conditions: Conditions): boolean {
  return conditions.ifMatch !== undefined || conditions.ifNoneMatch !== undefined;
}

/**
 * PUT /contexts/{id} with `{"action": ...}`.
 * `context` is undefined when no context with this id exists in the caller's tenant;
 * `creatable` says whether the id could name a new context (a well-formed UUID).
 */
export function decidePut(
  context: ContextView | undefined,
  conditions: Conditions,
  body: BodyReading,
  creatable: boolean,
): PutDecision {
  if (context === undefined) {
    // RFC 9110 §13.1.2: `If-None-Match: *` on PUT means "only if nothing is here yet".
    const createOnly = conditions.ifNoneMatch?.any === true && conditions.ifMatch === undefined;
    if (!creatable || !createOnly) return { kind: 'reject', reason: 'not-found' };
    const rejected = bodyRejection(body);
    if (rejected) return rejected;
    const json = body as Extract<BodyReading, { kind: 'json' }>;
    return { kind: 'create', body: json.value, fingerprint: json.fingerprint };
  }
  const goneReason = gone(context);
  if (goneReason) return { kind: 'reject', reason: goneReason };
  // RFC 6585 §3: state-changing requests must be conditional.
  if (!hasPrecondition(conditions)) return { kind: 'reject', reason: 'precondition-required' };
  const rejected = bodyRejection(body);
  if (rejected) return rejected;
  const json = body as Extract<BodyReading, { kind: 'json' }>;
  // RFC 9110 §13.1.1: a server may answer 2xx to a failed condition when it can tell the change
  // was already made by this very request — the same action, whatever validator it carries.
  // An action still being completed (processing) replays its 202 the same way.
  if (hasAcceptedAction(context.state) && context.fingerprint === json.fingerprint) return { kind: 'replay' };
  if (!preconditionsHold(conditions, contextEntityTag(context))) return { kind: 'reject', reason: 'precondition-failed' };
  if (context.state !== 'open') return { kind: 'reject', reason: 'context-already-executed' };
  return { kind: 'execute', body: json.value, fingerprint: json.fingerprint };
}

/** DELETE /contexts/{id}: cancels an open context. History (an executed context) is never deleted. */
export function decideDelete(context: ContextView | undefined, conditions: Conditions): DeleteDecision {
  if (context === undefined) return { kind: 'reject', reason: 'not-found' };
  const goneReason = gone(context);
  if (goneReason) return { kind: 'reject', reason: goneReason };
  if (!hasPrecondition(conditions)) return { kind: 'reject', reason: 'precondition-required' };
  if (!preconditionsHold(conditions, contextEntityTag(context))) return { kind: 'reject', reason: 'precondition-failed' };
  if (context.state !== 'open') return { kind: 'reject', reason: 'context-already-executed' };
  return { kind: 'cancel' };
}

/**
 * GET/HEAD on a single resource. If-None-Match that matches is 304 (RFC 9110 §13.1.2); a failed
 * If-Match is 412 (§13.1.1). A cancelled context is gone; an expired one still reads (state expired).
 */
export function decideGet(
  context: Pick<ContextView, 'state' | 'version'> | undefined,
  conditions: Conditions,
  current?: EntityTag,
): GetDecision {
  if (context === undefined) return { kind: 'reject', reason: 'not-found' };
  if (context.state === 'cancelled') return { kind: 'reject', reason: 'context-cancelled' };
  return decideConditionalRead(conditions, current ?? contextEntityTag(context));
}

/** RFC 9110 §13.2.2 for a safe method on a representation that exists. */
export function decideConditionalRead(conditions: Conditions, current: EntityTag): GetDecision {
  if (conditions.ifMatch && !ifMatchPasses(conditions.ifMatch, current)) {
    return { kind: 'reject', reason: 'precondition-failed' };
  }
  if (conditions.ifNoneMatch && !ifNoneMatchPasses(conditions.ifNoneMatch, current)) return { kind: 'not-modified' };
  return { kind: 'ok' };
}
