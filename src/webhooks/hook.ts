import type { TerminalStateHook } from '../contexts/service.ts';
import { enqueueWebhookEvent } from './outbox.ts';

/** Every final state of a context becomes a webhook event, in the transaction that set it. */
export const webhookEventHook: TerminalStateHook = (trx, tenantId, state, representation) =>
  enqueueWebhookEvent(trx, tenantId, { type: `context.${state}`, data: representation });
