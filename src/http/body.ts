import getRawBody from 'raw-body';
import type { Context } from 'koa';
import { fingerprintJson } from '../protocol/fingerprint.ts';
import type { BodyReading } from '../protocol/preconditions.ts';

export const JSON_BODY_LIMIT = 64 * 1024;

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
  return { kind: 'json', value, fingerprint: fingerprintJson(value) };
}
