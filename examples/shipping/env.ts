// The example's configuration, read the same way by its API and its workers.
import { pino } from 'pino';
import { createPool } from '../../src/index.ts';

export function required(name: string): string {
  const value = process.env[name]?.trim();
  if (!value) {
    console.error(`${name} is not set: the shipping example needs DATABASE_URL, SHIPPING_PROVIDER_URL and EXAMPLE_API_KEY (see docs/async-actions.md).`);
    process.exit(1);
  }
  return value;
}

export function wholeNumber(name: string, fallback: number): number {
  const raw = process.env[name]?.trim();
  if (!raw) return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) < 1) {
    console.error(`${name} must be a whole number ≥ 1 (got "${raw}")`);
    process.exit(1);
  }
  return Number(raw);
}

export function exampleSetup(role: string) {
  const logger = pino({ level: process.env['LOG_LEVEL']?.trim() || 'info', name: `shipping-${role}` });
  const pool = createPool(required('DATABASE_URL'));
  return { logger, pool, providerUrl: required('SHIPPING_PROVIDER_URL') };
}
