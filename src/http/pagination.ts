import { ProblemError } from './problems.ts';

export const DEFAULT_PAGE_SIZE = 20;
export const MAX_PAGE_SIZE = 100;

export interface PageRequest {
  limit: number;
  /** Return rows strictly older than this position (rows are listed newest first). */
  before: number | undefined;
}

type Query = Record<string, string | string[] | undefined>;

/** One query parameter, given at most once; never with U+0000, which no Postgres text can hold. */
export function singleParam(query: Query, name: string): string | undefined {
  const value = query[name];
  if (Array.isArray(value)) throw new ProblemError('invalid-parameter', `Give "${name}" at most once.`);
  if (value?.includes('\u0000')) throw new ProblemError('invalid-parameter', `"${name}" must not contain the NUL character (U+0000).`);
  return value;
}

export function parsePageRequest(query: Query): PageRequest {
  const limitText = singleParam(query, 'limit');
  let limit = DEFAULT_PAGE_SIZE;
  if (limitText !== undefined) {
    limit = Number(limitText);
    if (!/^\d+$/.test(limitText) || limit < 1 || limit > MAX_PAGE_SIZE) {
      throw new ProblemError('invalid-parameter', `"limit" must be a whole number from 1 to ${MAX_PAGE_SIZE}.`);
    }
  }
  const cursor = singleParam(query, 'cursor');
  return { limit, before: cursor === undefined ? undefined : decodeCursor(cursor) };
}

// Cursors are opaque to clients; inside, the position of the last row of the previous page.
export function encodeCursor(position: number): string {
  return Buffer.from(`p${position}`).toString('base64url');
}

function decodeCursor(cursor: string): number {
  const text = /^[A-Za-z0-9_-]{1,40}$/.test(cursor) ? Buffer.from(cursor, 'base64url').toString('latin1') : '';
  const match = /^p(\d{1,15})$/.exec(text);
  if (!match?.[1]) throw new ProblemError('invalid-parameter', '"cursor" is not a cursor this service issued; follow _links.next.');
  return Number(match[1]);
}

/** Builds the `next` link from the page that was read with limit + 1 rows. */
export function pageOf<T extends { seq: number }>(rows: T[], limit: number): { items: T[]; nextCursor: string | undefined } {
  const items = rows.slice(0, limit);
  const last = items.at(-1);
  return { items, nextCursor: rows.length > limit && last ? encodeCursor(last.seq) : undefined };
}

export function queryString(params: Record<string, string | number | undefined>): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) if (value !== undefined) search.set(key, String(value));
  const text = search.toString();
  return text === '' ? '' : `?${text}`;
}
