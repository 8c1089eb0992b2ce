import { createHash } from 'node:crypto';
import canonicalizeModule from 'canonicalize';

// canonicalize is CommonJS (module.exports = fn) but its typings declare an ES default export.
const canonicalize = canonicalizeModule as unknown as (input: unknown) => string | undefined;

/**
 * The fingerprint of a JSON request body: SHA-256 over its RFC 8785 canonical form, so that key
 * order, whitespace and number spelling (1.0 vs 1) do not make two equal requests look different.
 */
export function fingerprintJson(value: unknown): string {
  const canonical = canonicalize(value);
  if (canonical === undefined) throw new TypeError('value has no JSON form');
  return createHash('sha256').update(canonical).digest('hex');
}
