// The card payment's two phases after it was accepted:
//   charge  (external)       the processor charges the card, once per key whatever happens;
//   credit  (transactional)  the ledger is credited and the payment ends, in one transaction.
// An unknown outcome (timeout, 5xx) is never guessed at: the phase answers retry, and the next
// attempt sends the same key, which the processor answers with the charge it already made.
import { externalPhase, transactionalPhase } from '../actions/async-action.ts';
import { done, fail, next, retry, type PhaseResult } from '../actions/phase-results.ts';
import { problemDocument } from '../http/problems.ts';
import { MAX_MINOR_UNITS } from '../ledger/money.ts';
import { postLegs } from '../ledger/repository.ts';
import type { ChargeOutcome, ChargeRequest, LookupOutcome } from './processor-client.ts';
import { recordChargeId } from './repository.ts';

export interface PaymentAction {
  type: 'payment';
  account: string;
  amount: number;
  source: string;
  currency?: string;
}

/** What the accepting step saves: the account's currency, and (payments accepted before the phase API) the old key. */
export interface AcceptedPayment {
  accountId: string;
  currency: string;
  processorKey?: string;
}

/** The processor, as the payment needs it (ProcessorClient, or a stand-in in tests). */
export interface ChargeRequester {
  createCharge(key: string, request: ChargeRequest, signal?: AbortSignal): Promise<ChargeOutcome>;
}
export interface ChargeLookup {
  getCharge(key: string, signal?: AbortSignal): Promise<LookupOutcome>;
}

export const CHARGE = 'charge';
export const CREDIT = 'credit';

function accepted(outputs: Readonly<Record<string, unknown>>): AcceptedPayment {
  return outputs['accepted'] as AcceptedPayment;
}

/** The key the processor sees: the phase key (see src/phases/keys.ts), or the one recorded before it existed. */
export function chargeKey(outputs: Readonly<Record<string, unknown>>, phaseKey: string): string {
  return accepted(outputs).processorKey ?? phaseKey;
}

/** A charge the processor reports, as the phase's answer. */
export function chargeResult(action: PaymentAction, outcome: ChargeOutcome): PhaseResult {
  switch (outcome.kind) {
    case 'charged':
      return next({ chargeId: outcome.charge.id });
    case 'declined':
      return fail(problemDocument('payment-declined', `The card (${action.source}) was declined; charge ${outcome.charge.id}.`, { charge: outcome.charge.id }));
    case 'rejected':
      return fail(problemDocument('payment-rejected', `The processor refused the payment (${outcome.status}): ${outcome.detail}`));
    case 'unknown':
      return retry(outcome.reason);
  }
}

export function chargePhase(processor: ChargeRequester) {
  return externalPhase<PaymentAction>(CHARGE, async ({ action, outputs, key, signal }) => {
    const { currency } = accepted(outputs);
    return chargeResult(action, await processor.createCharge(chargeKey(outputs, key), { amount: action.amount, currency, source: action.source }, signal));
  });
}

/** Reconciliation's question for the charge phase: does the processor have a charge under the key? */
export function lookUpCharge(processor: ChargeLookup) {
  return async ({ action, outputs, key, signal }: { action: PaymentAction; outputs: Readonly<Record<string, unknown>>; key: string; signal: AbortSignal }): Promise<PhaseResult | undefined> => {
    const lookup = await processor.getCharge(chargeKey(outputs, key), signal);
    if (lookup.kind === 'unknown') return undefined;
    // No charge, and no attempt of ours is in flight (reconciliation holds the lease): sending
    // the same key again cannot charge twice.
    if (lookup.kind === 'not-found') return retry('the processor has no charge under this key');
    return chargeResult(action, lookup.charge.status === 'succeeded' ? { kind: 'charged', charge: lookup.charge } : { kind: 'declined', charge: lookup.charge });
  };
}

export const creditPhase = transactionalPhase<PaymentAction>(CREDIT, async (trx, { scope, action, outputs }) => {
  const { accountId } = accepted(outputs);
  const { chargeId } = outputs[CHARGE] as { chargeId: string };
  const { amount } = action;
  await recordChargeId(trx, scope.tenantId, scope.contextId, chargeId);
  // The account's lock, the room check and the credit are one statement (src/ledger/repository.ts).
  const { entries } = await postLegs(trx, scope, [{ accountId, amount }], { maxBalance: MAX_MINOR_UNITS });
  if (!entries) {
    // The card was charged but the credit cannot be held: end the payment instead of retrying
    // forever; reconciliation's audit reports the charge on a failed context (to be refunded).
    return fail(problemDocument('balance-limit-exceeded', `Account ${accountId} cannot hold ${amount} more; charge ${chargeId} must be refunded.`, { charge: chargeId }));
  }
  return done({
    charge: chargeId,
    entries: entries.map((entry) => ({ id: entry.id, account: entry.account_id, amount: entry.amount, balanceAfter: entry.balance_after })),
  });
});
