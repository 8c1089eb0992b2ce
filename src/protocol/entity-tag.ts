// Entity tags and the conditional-request header fields that carry them (RFC 9110 §8.8.3, §13.1).

/** One entity-tag: `W/"opaque"` or `"opaque"` (RFC 9110 §8.8.3). */
export interface EntityTag {
  readonly weak: boolean;
  readonly opaque: string;
}

/**
 * The value of If-Match or If-None-Match: `*` or a list of entity tags (RFC 9110 §13.1.1, §13.1.2).
 * Members that are not well-formed entity tags are dropped, so a header made only of garbage is a
 * list that matches nothing: it stays a precondition, and it fails.
 */
export type TagCondition = { readonly any: true } | { readonly any: false; readonly tags: readonly EntityTag[] };

// etagc = %x21 / %x23-7E / obs-text (RFC 9110 §8.8.3): any visible character but DQUOTE.
const ETAGC = /^[\x21\x23-\x7e\x80-\xff]*$/;

export function formatEntityTag(tag: EntityTag): string {
  return `${tag.weak ? 'W/' : ''}"${tag.opaque}"`;
}

/** A strong validator for a row version. Versions change on every state change of the row. */
export function strongTag(opaque: string): EntityTag {
  return { weak: false, opaque };
}

export function parseEntityTag(text: string): EntityTag | undefined {
  const trimmed = text.trim();
  const weak = trimmed.startsWith('W/');
  const quoted = weak ? trimmed.slice(2) : trimmed;
  if (quoted.length < 2 || !quoted.startsWith('"') || !quoted.endsWith('"')) return undefined;
  const opaque = quoted.slice(1, -1);
  return ETAGC.test(opaque) ? { weak, opaque } : undefined;
}

/**
 * Parses `"*" / #entity-tag`. A comma may appear inside an opaque-tag, so the list is scanned
 * quote by quote rather than split on commas. Several header lines arrive joined by ", ".
 */
export function parseTagCondition(header: string | undefined): TagCondition | undefined {
  if (header === undefined) return undefined;
  if (header.trim() === '*') return { any: true };
  const tags: EntityTag[] = [];
  let i = 0;
  while (i < header.length) {
    const ch = header[i];
    if (ch === ',' || ch === ' ' || ch === '\t') {
      i++;
      continue;
    }
    const weak = header.startsWith('W/"', i);
    const open = weak ? i + 2 : i;
    if (header[open] === '"') {
      const close = header.indexOf('"', open + 1);
      if (close === -1) break;
      const tag = parseEntityTag(header.slice(i, close + 1));
      if (tag) tags.push(tag);
      i = close + 1;
    } else {
      // Not an entity tag: skip to the next list member.
      const comma = header.indexOf(',', i);
      i = comma === -1 ? header.length : comma + 1;
    }
  }
  return { any: false, tags };
}

/** RFC 9110 §8.8.3.2: strong comparison — both strong and the same opaque-tag. */
export function strongMatch(a: EntityTag, b: EntityTag): boolean {
  return !a.weak && !b.weak && a.opaque === b.opaque;
}

/** RFC 9110 §8.8.3.2: weak comparison — the same opaque-tag, weakness ignored. */
export function weakMatch(a: EntityTag, b: EntityTag): boolean {
  return a.opaque === b.opaque;
}

/** If-Match (RFC 9110 §13.1.1): true when `*` and a representation exists, or a listed tag matches strongly. */
export function ifMatchPasses(condition: TagCondition, current: EntityTag | undefined): boolean {
  if (current === undefined) return false;
  if (condition.any) return true;
  return condition.tags.some((tag) => strongMatch(tag, current));
}

/** If-None-Match (RFC 9110 §13.1.2): false when `*` and a representation exists, or a listed tag matches weakly. */
export function ifNoneMatchPasses(condition: TagCondition, current: EntityTag | undefined): boolean {
  if (current === undefined) return true;
  if (condition.any) return false;
  return !condition.tags.some((tag) => weakMatch(tag, current));
}
