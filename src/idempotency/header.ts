// The Idempotency-Key request header (IETF httpapi draft "The Idempotency-Key HTTP Header
// Field"): a Structured Field sf-string (RFC 8941 §3.3.3), `"8e03978e-…"`. Stripe-style clients
// send the bare value; both name the same key, which is the value without quotes.

export const MAX_KEY_LENGTH = 255;

export type KeyReading =
  | { readonly kind: 'absent' }
  | { readonly kind: 'invalid'; readonly detail: string }
  | { readonly kind: 'key'; readonly key: string };

const PRINTABLE = /^[\x20-\x7e]*$/;

/** RFC 8941 §4.2.5: inside the quotes, `\"` and `\\` are the only escapes. */
function unquote(text: string): string | undefined {
  let out = '';
  for (let i = 1; i < text.length - 1; i++) {
    const ch = text[i];
    if (ch === '\\') {
      // RFC 8941 §3.3.3: an escape needs a character after it; the closing quote cannot be one.
      if (i + 1 >= text.length - 1) return undefined;
      const next = text[i + 1];
      if (next !== '"' && next !== '\\') return undefined;
      out += next;
      i++;
    } else if (ch === '"') {
      return undefined;
    } else {
      out += ch;
    }
  }
  return out;
}

export function readIdempotencyKey(header: string | string[] | undefined): KeyReading {
  if (header === undefined) return { kind: 'absent' };
  if (Array.isArray(header)) return { kind: 'invalid', detail: 'Send one Idempotency-Key header.' };
  const text = header.trim();
  if (!PRINTABLE.test(text)) return { kind: 'invalid', detail: 'The Idempotency-Key must be printable ASCII.' };
  let key = text;
  if (text.startsWith('"')) {
    const unquoted = text.length >= 2 && text.endsWith('"') ? unquote(text) : undefined;
    if (unquoted === undefined) return { kind: 'invalid', detail: 'The Idempotency-Key is not a valid structured-field string.' };
    key = unquoted;
  }
  if (key.length === 0) return { kind: 'invalid', detail: 'The Idempotency-Key is empty.' };
  if (key.length > MAX_KEY_LENGTH) return { kind: 'invalid', detail: `The Idempotency-Key may be at most ${MAX_KEY_LENGTH} characters.` };
  return { kind: 'key', key };
}
