import type { Context } from 'koa';
import { readJsonBody } from './body.ts';
import { ProblemError } from './problems.ts';

/**
 * For endpoints with no ordering subtleties (POST): the body as JSON, or the matching 4xx.
 * `fallback` is used when the body is absent; without one a body is required.
 */
export async function requireJsonBody(ctx: Context, fallback?: unknown): Promise<unknown> {
  const body = await readJsonBody(ctx);
  switch (body.kind) {
    case 'json':
      return body.value;
    case 'missing':
      if (fallback !== undefined) return fallback;
      throw new ProblemError('malformed-body', 'This request needs a JSON body.');
    case 'malformed':
      throw new ProblemError('malformed-body', body.detail);
    case 'unsupported-media-type':
      throw new ProblemError('unsupported-media-type', 'Send the body as application/json (UTF-8).');
    case 'too-large':
      throw new ProblemError('payload-too-large', `The body may be at most ${body.limit} bytes.`);
  }
}
