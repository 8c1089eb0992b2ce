// Standard Webhooks signatures (https://www.standardwebhooks.com, spec/standard-webhooks.md in
// github.com/standard-webhooks/standard-webhooks, "Signature scheme" and "Webhook headers"):
//
//   webhook-id:        the event id, the same on every retry (receivers de-duplicate by it)
//   webhook-timestamp: the attempt's time, integer Unix seconds
//   webhook-signature: space-separated `v1,<base64 HMAC-SHA256>` values
//
// The MAC covers `${id}.${timestamp}.${body}` and is keyed with the base64-decoded part of the
// `whsec_<base64>` secret. Signing the id and the timestamp with the body means a captured
// request cannot be replayed later (the timestamp ages out) or under another id.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export const WEBHOOK_SECRET_PREFIX = 'whsec_';
/** 256 random bits: the spec asks for at least 24 bytes (and at most 64). */
const SECRET_BYTES = 32;
/** How far the timestamp of a received webhook may be from the receiver's clock by default. */
export const DEFAULT_TOLERANCE_SECONDS = 300;

export interface WebhookHeaders {
  'webhook-id': string;
  'webhook-timestamp': string;
  'webhook-signature': string;
}

export interface VerifyOptions {
  /** Largest accepted distance between `webhook-timestamp` and `now`, either way (default 300). */
  toleranceSeconds?: number;
  /** The receiver's clock (default: the current time). */
  now?: Date;
}

export function generateWebhookSecret(): string {
  return WEBHOOK_SECRET_PREFIX + randomBytes(SECRET_BYTES).toString('base64');
}

/** The HMAC key: the base64-decoded part after `whsec_` (the prefix may be left off). */
function signingKey(secret: string): Buffer {
  const encoded = secret.startsWith(WEBHOOK_SECRET_PREFIX) ? secret.slice(WEBHOOK_SECRET_PREFIX.length) : secret;
  const key = Buffer.from(encoded, 'base64');
  if (key.length === 0) throw new Error('The webhook secret is empty or not base64.');
  return key;
}

function mac(key: Buffer, id: string, timestampSeconds: number, body: string | Uint8Array): string {
  return createHmac('sha256', key).update(`${id}.${timestampSeconds}.`, 'utf8').update(body).digest('base64');
}

/** The value of `webhook-signature` for one secret: `v1,<base64>`. The body is signed as UTF-8. */
export function signWebhook(secret: string, id: string, timestampSeconds: number, body: string | Uint8Array): string {
  if (!Number.isSafeInteger(timestampSeconds) || timestampSeconds < 0) throw new Error(`not a Unix time in seconds: ${timestampSeconds}`);
  return `v1,${mac(signingKey(secret), id, timestampSeconds, body)}`;
}

/**
 * True when one of the `v1` signatures in the header is the body's, made with this secret, and
 * the timestamp is within the tolerance of `now`. Give the body exactly as received (the raw
 * bytes, or their UTF-8 text): a parsed and re-serialized JSON body will not verify.
 */
export function verifyWebhook(
  secret: string,
  headers: WebhookHeaders,
  body: string | Uint8Array,
  options: VerifyOptions = {},
): boolean {
  const { toleranceSeconds = DEFAULT_TOLERANCE_SECONDS, now = new Date() } = options;
  const id = headers['webhook-id'];
  const timestampText = headers['webhook-timestamp'];
  if (!id || !/^\d{1,15}$/.test(timestampText)) return false;
  const timestamp = Number(timestampText);
  if (Math.abs(now.getTime() / 1000 - timestamp) > toleranceSeconds) return false;

  const expected = Buffer.from(mac(signingKey(secret), id, timestamp, body), 'utf8');
  let valid = false;
  for (const candidate of headers['webhook-signature'].split(' ')) {
    const comma = candidate.indexOf(',');
    if (comma < 0 || candidate.slice(0, comma) !== 'v1') continue; // other schemes (v1a) or garbage
    const given = Buffer.from(candidate.slice(comma + 1), 'utf8');
    // Lengths are public (a SHA-256 MAC is always 44 base64 characters); the bytes are compared
    // in constant time, and every candidate is compared so the time does not tell which matched.
    if (given.length === expected.length && timingSafeEqual(given, expected)) valid = true;
  }
  return valid;
}
