// Operator actions (retry, reconcile, re-deliver) are conditional on the entity tag of the row the
// operator saw, like every other write here. The tag of a row is "r<xmin>" (src/operations/).
// This module turns If-Match into the condition the action's one statement checks, and explains
// afterwards why a statement that changed nothing changed nothing.
import { formatEntityTag, parseTagCondition, strongTag } from './entity-tag.ts';

/** Any row (`If-Match: *`), or one of these xmin values (strong tags only: RFC 9110 §13.1.1). */
export type RowCondition = { readonly any: true } | { readonly any: false; readonly xmins: readonly string[] };

// "r<xmin>", and what time alone changes in the representation as a suffix ("-expired": an open
// context past its expiry; "-free": a lease that ran out): a conditional GET must not call a
// representation unchanged when only the clock moved, and an action's If-Match still names the row.
const ROW_TAG = /^r(\d{1,10})(?:-[a-z]+)*$/;

export function rowEntityTag(xmin: string, derived: readonly string[] = []): string {
  return formatEntityTag(strongTag(`r${xmin}${derived.map((name) => `-${name}`).join('')}`));
}

/** undefined: no If-Match at all, which an operator action refuses (428, RFC 6585 §3). */
export function rowCondition(ifMatch: string | undefined): RowCondition | undefined {
  const condition = parseTagCondition(ifMatch);
  if (condition === undefined) return undefined;
  if (condition.any) return { any: true };
  // A weak tag never matches in If-Match; a tag that is not one of ours matches no row.
  const xmins = condition.tags.flatMap((tag) => (tag.weak ? [] : (ROW_TAG.exec(tag.opaque)?.slice(1, 2) ?? [])));
  return { any: false, xmins };
}

export type OperatorRefusal =
  | { readonly kind: 'not-found' }
  | { readonly kind: 'stale'; readonly current: string }
  | { readonly kind: 'not-applicable' };

/**
 * Why the conditional statement changed nothing, from the row as it is now: gone (404), changed
 * since the operator saw it (412), or as seen but not in a state the action applies to (409).
 */
export function explainRefusal(ifMatch: string | undefined, currentXmin: string | undefined): OperatorRefusal {
  if (currentXmin === undefined) return { kind: 'not-found' };
  const condition = parseTagCondition(ifMatch);
  const current = rowEntityTag(currentXmin);
  // The row as seen when If-Match is `*` or names its xmin (whatever time-derived suffix it carries).
  const passes = condition !== undefined && (condition.any || condition.tags.some((tag) => !tag.weak && ROW_TAG.exec(tag.opaque)?.[1] === currentXmin));
  return passes ? { kind: 'not-applicable' } : { kind: 'stale', current };
}
