// Test card tokens, in the manner of well-known processors: the only sources the bundled
// processor knows. `tok_ok` is always charged, `tok_declined` always declined.
export const KNOWN_PAYMENT_SOURCES = ['tok_ok', 'tok_declined'] as const;

export function isKnownPaymentSource(source: string): boolean {
  return (KNOWN_PAYMENT_SOURCES as readonly string[]).includes(source);
}
