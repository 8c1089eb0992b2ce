/** Balances and amounts stay exact as JSON numbers (and as JavaScript numbers): at most 2^53 - 1 minor units. */
export const MAX_MINOR_UNITS = Number.MAX_SAFE_INTEGER;

const ISO_4217 = new Set(Intl.supportedValuesOf('currency'));

export function isCurrencyCode(code: string): boolean {
  return ISO_4217.has(code);
}

export const amountSchema = { type: 'integer', minimum: 1, maximum: MAX_MINOR_UNITS } as const;
export const currencySchema = { type: 'string', pattern: '^[A-Z]{3}$' } as const;
