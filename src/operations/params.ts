// The admin API's path parameters: an id that cannot name a row names none (404, as on
// /contexts/{id}), before anything is read.
import { isUuid } from '../http/ids.ts';
import { ProblemError } from '../http/problems.ts';

export function uuidParam(value: string | undefined, name: string): string {
  if (value === undefined || !isUuid(value)) throw new ProblemError('not-found', `${name} "${value ?? ''}" is not a UUID, so nothing has it.`);
  return value.toLowerCase();
}

export function deliveryParam(value: string | undefined): number {
  const text = value ?? '';
  if (!/^\d{1,15}$/.test(text)) throw new ProblemError('not-found', `Webhook delivery "${text}" is not a delivery number, so there is none.`);
  return Number(text);
}
