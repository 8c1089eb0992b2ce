import getRawBody from 'raw-body';
import type { Context } from 'koa';
import { fingerprintJson } from '../protocol/fingerprint.ts';
import type { BodyReading } from '../protocol/preconditions.ts';

export const JSON_BODY_LIMIT = 64 * 1024;
/** No request of this API nests deeper; fingerprinting and validation recurse, so depth is bounded. */
export const MAX_JSON_DEPTH = 32;

/**
 * Why a parsed body cannot be fingerprinted or stored, if it cannot: nesting beyond
 * MAX_JSON_DEPTH (64 KiB of `[` would overflow the stack of the canonicalizer), or a number that
 * JSON allows but a double cannot hold (`1e400` parses to Infinity, which has no canonical form).
 * Walks without recursion, for the same reason.
 */
export function jsonLimitViolation(value: unknown): string | undefined {
  const pending: [unknown, number][] = [[value, 1]];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const [node, depth] = next;
    if (typeof node === 'number' && !Number.isFinite(node)) return 'A number in the body is out of range (JSON numbers here must fit a 64-bit float).';
    if (node === null || typeof node !== 'object') continue;
    if (depth > MAX_JSON_DEPTH) return `The body nests arrays and objects deeper than ${MAX_JSON_DEPTH} levels.`;
    for (const child of Object.values(node)) pending.push([child, depth + 1]);
  }
  return undefined;
}

/**
 * A host application may have run a body parser before the engine (koa-bodyparser and
 * @koa/bodyparser set ctx.request.body; Express's express.json() and Fastify set req.body). The
 * parsed value is as good as the bytes: the fingerprint is of its canonical JSON.
 */
function parsedByHost(ctx: Context): { value: unknown } | undefined {
  const fromKoa = (ctx.request as { body?: unknown }).body;
  if (fromKoa !== undefined) return { value: fromKoa };
  const fromNode = (ctx.req as { body?: unknown }).body;
  if (fromNode !== undefined) return { value: fromNode };
  return undefined;
}

/** The server is set up wrong, not the request: a 500 that says so, and does not invite a retry. */
export class HostMisconfigurationError extends Error {
  override readonly name = 'HostMisconfigurationError';
}

function hasBody(ctx: Context): boolean {
  const length = ctx.get('Content-Length');
  return ctx.get('Transfer-Encoding') !== '' || (length !== '' && length !== '0');
}

/**
 * Reads a JSON request body without judging it: the caller decides where in its order of checks a
 * missing, malformed or foreign body matters (a 404 must win over a 415, for example).
 */
export async function readJsonBody(ctx: Context, limit = JSON_BODY_LIMIT): Promise<BodyReading> {
  if (!hasBody(ctx)) return { kind: 'missing' };
  if (ctx.req.readableEnded) {
    const parsed = parsedByHost(ctx);
    if (!parsed) {
      throw new HostMisconfigurationError(
        'The request body was read by something in front of the idempotence engine and left nothing for it. ' +
          'Mount the engine before the body parser, or use one that keeps the parsed body in ctx.request.body or req.body.',
      );
    }
    const violation = jsonLimitViolation(parsed.value);
    if (violation !== undefined) return { kind: 'malformed', detail: violation };
    return { kind: 'json', value: parsed.value, fingerprint: fingerprintJson(parsed.value) };
  }
  const mediaType = ctx.request.type;
  const charset = ctx.request.charset;
  const isJson = mediaType === 'application/json' || /^application\/[^/]+\+json$/.test(mediaType);
  if (!isJson || (charset !== '' && charset.toLowerCase() !== 'utf-8')) {
    ctx.req.resume(); // drain, so the connection stays usable
    return { kind: 'unsupported-media-type', mediaType: ctx.get('Content-Type') };
  }
  let text: string;
  try {
    text = await getRawBody(ctx.req, { limit, encoding: 'utf-8', length: ctx.get('Content-Length') || null });
  } catch (error) {
    if ((error as { type?: unknown }).type === 'entity.too.large') return { kind: 'too-large', limit };
    throw error;
  }
  if (text.trim() === '') return { kind: 'missing' };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { kind: 'malformed', detail: `The body is not valid JSON: ${(error as Error).message}` };
  }
  const violation = jsonLimitViolation(value);
  if (violation !== undefined) return { kind: 'malformed', detail: violation };
  return { kind: 'json', value, fingerprint: fingerprintJson(value) };
}
