import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** 256 random bits; the prefix makes a leaked key easy to recognise in logs and scanners. */
export function generateApiKey(): string {
  return `idem_${randomBytes(32).toString('base64url')}`;
}

export function hashApiKey(key: string): Buffer {
  return createHash('sha256').update(key, 'utf8').digest();
}

/** Compares two secrets in time independent of where they differ (and of their lengths). */
export function secretsEqual(a: string, b: string): boolean {
  return timingSafeEqual(hashApiKey(a), hashApiKey(b));
}

/** RFC 6750 §2.1: `Authorization: Bearer <token>`; the scheme is case-insensitive. */
export function bearerToken(authorization: string | undefined): string | undefined {
  const match = /^Bearer +([\x21-\x7e]+) *$/i.exec(authorization ?? '');
  return match?.[1];
}
