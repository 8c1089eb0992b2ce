// Reading and validating a POST /charges request: the Idempotency-Key header and the JSON body.
import { createHash } from 'node:crypto';
import type { Context } from 'koa';
import getRawBody from 'raw-body';
import { ProcessorProblem } from './problems.ts';

const BODY_LIMIT = 16 * 1024;
const KEY_PATTERN = /^[\x20-\x7e]{1,255}$/;
const CURRENCY_PATTERN = /^[A-Z]{3}$/;
const FIELDS = ['amount', 'currency', 'source'];

export interface ChargeRequest {
  amount: number;
  currency: string;
  source: string;
}

export function isIdempotencyKey(value: string): boolean {
  return KEY_PATTERN.test(value);
}

/** The Idempotency-Key header: 1 to 255 printable ASCII characters, else 400. */
export function requireIdempotencyKey(ctx: Context): string {
  const value = ctx.get('Idempotency-Key');
  if (value === '') throw new ProcessorProblem('invalid-idempotency-key', 'Send an Idempotency-Key header.');
  if (!isIdempotencyKey(value)) {
    throw new ProcessorProblem('invalid-idempotency-key', 'The Idempotency-Key must be 1 to 255 printable ASCII characters.');
  }
  return value;
}

async function readJson(ctx: Context): Promise<unknown> {
  if (ctx.request.type !== 'application/json') {
    ctx.req.resume(); // drain, so the connection stays usable
    throw new ProcessorProblem('unsupported-media-type', 'Send the body as application/json.');
  }
  // raw-body's own errors (too large, aborted) are turned into problems by the error middleware.
  const text = await getRawBody(ctx.req, { limit: BODY_LIMIT, encoding: 'utf-8', length: ctx.get('Content-Length') || null });
  if (text.trim() === '') throw new ProcessorProblem('malformed-body', 'This request needs a JSON body.');
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ProcessorProblem('malformed-body', `The body is not valid JSON: ${(error as Error).message}`);
  }
}

/** The charge request: `{amount: positive integer, currency: /^[A-Z]{3}$/, source: string}`, nothing else. */
export async function readChargeRequest(ctx: Context): Promise<ChargeRequest> {
  const value = await readJson(ctx);
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ProcessorProblem('malformed-body', 'The body must be a JSON object.');
  }
  const body = value as Record<string, unknown>;
  const problems: string[] = [];
  const { amount, currency, source } = body;
  if (typeof amount !== 'number' || !Number.isSafeInteger(amount) || amount <= 0) {
    problems.push('/amount must be a positive integer (minor units)');
  }
  if (typeof currency !== 'string' || !CURRENCY_PATTERN.test(currency)) {
    problems.push('/currency must be three capital letters');
  }
  if (typeof source !== 'string' || source.length === 0 || source.length > 255) {
    problems.push('/source must be a string of 1 to 255 characters');
  }
  const extra = Object.keys(body).filter((name) => !FIELDS.includes(name));
  if (extra.length > 0) problems.push(`unknown members: ${extra.join(', ')}`);
  if (problems.length > 0 || typeof amount !== 'number' || typeof currency !== 'string' || typeof source !== 'string') {
    throw new ProcessorProblem('validation-failed', problems.join('; '));
  }
  return { amount, currency, source };
}

/** What "the same request" means for an idempotency key: the same amount, currency and source. */
export function chargeFingerprint(request: ChargeRequest): string {
  return createHash('sha256').update(JSON.stringify([request.amount, request.currency, request.source])).digest('hex');
}
