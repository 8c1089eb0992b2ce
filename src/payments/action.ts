// The card payment, an asynchronous action on the phase API (src/actions/async-action.ts).
// Accepting it is synchronous — validate, lock the account, record the payment — in the
// transaction of the context's new version; the charge and the credit are its phases.
import { defineAsyncAction } from '../actions/async-action.ts';
import { next } from '../actions/phase-results.ts';
import type { ActionHandler } from '../actions/registry.ts';
import { uuidSchema } from '../http/ids.ts';
import { ProblemError } from '../http/problems.ts';
import { lockAccounts } from '../ledger/repository.ts';
import { amountSchema, currencySchema, MAX_MINOR_UNITS } from '../ledger/money.ts';
import { phaseKey } from '../phases/keys.ts';
import { auditCharges } from './audit.ts';
import { CHARGE, chargePhase, creditPhase, lookUpCharge, type AcceptedPayment, type ChargeLookup, type ChargeRequester, type PaymentAction } from './phases.ts';
import { ProcessorClient, type Charge, type ChargePage } from './processor-client.ts';
import { isKnownPaymentSource, KNOWN_PAYMENT_SOURCES } from './sources.ts';
import { insertPayment } from './repository.ts';

/** Where the card processor is when nothing says otherwise (PROCESSOR_URL; the simulator's default port). */
export const DEFAULT_PROCESSOR_URL = 'http://127.0.0.1:3001';

export interface PaymentProcessor extends ChargeRequester, ChargeLookup {
  listCharges?(after?: string, limit?: number): Promise<ChargePage>;
}

export interface PaymentActionOptions {
  /** Default: a ProcessorClient of DEFAULT_PROCESSOR_URL with a 2 s timeout. */
  processor?: PaymentProcessor;
}

export function createPaymentAction(options: PaymentActionOptions = {}): ActionHandler {
  const processor = options.processor ?? new ProcessorClient({ baseUrl: DEFAULT_PROCESSOR_URL, timeoutMs: 2_000 });
  const lister = processor.listCharges ? { listCharges: processor.listCharges.bind(processor) } : undefined;
  return defineAsyncAction<PaymentAction>({
    type: 'payment',
    schema: {
      type: 'object',
      required: ['type', 'account', 'amount', 'source'],
      properties: {
        type: { const: 'payment' },
        account: uuidSchema,
        amount: amountSchema,
        source: { type: 'string', minLength: 1, maxLength: 255 },
        currency: currencySchema,
      },
      additionalProperties: false,
    },
    async accept(trx, scope, action) {
      if (!isKnownPaymentSource(action.source)) {
        throw new ProblemError(
          'unknown-payment-source',
          `/action/source "${action.source}" is not a known card token; test tokens: ${KNOWN_PAYMENT_SOURCES.join(', ')}.`,
        );
      }
      const accounts = await lockAccounts(trx, scope.tenantId, [action.account]);
      const account = accounts.get(action.account.toLowerCase());
      if (!account) throw new ProblemError('unknown-account', `/action/account: there is no account ${action.account} in this tenant.`);
      if (action.currency !== undefined && action.currency !== account.currency) {
        throw new ProblemError('currency-mismatch', `/action/currency: account ${account.id} holds ${account.currency}, not ${action.currency}.`);
      }
      if (account.balance > MAX_MINOR_UNITS - action.amount) {
        throw new ProblemError('balance-limit-exceeded', `Account ${account.id} cannot hold more than ${MAX_MINOR_UNITS} minor units.`);
      }
      // The payments row is the payment's own record (reconciliation's audit reads it): the
      // processor key it names is the charge phase's key.
      await insertPayment(trx, {
        tenant_id: scope.tenantId,
        context_id: scope.contextId,
        account_id: account.id,
        amount: action.amount,
        currency: account.currency,
        source: action.source,
        processor_key: phaseKey(scope, CHARGE),
      });
      const saved: AcceptedPayment = { accountId: account.id, currency: account.currency };
      return next(saved);
    },
    phases: [chargePhase(processor), creditPhase],
    reconcile: lookUpCharge(processor),
    ...(lister ? { audit: (db) => auditCharges(db, lister) } : {}),
  });
}

export type { Charge };
