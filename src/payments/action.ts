// The card payment action. Accepting it is synchronous (validate, record the job in the same
// transaction as the context's new version); charging the card is the worker's (src/worker/).
import { defineAction } from '../actions/registry.ts';
import { uuidSchema } from '../http/ids.ts';
import { ProblemError } from '../http/problems.ts';
import { lockAccounts } from '../ledger/repository.ts';
import { amountSchema, currencySchema, MAX_MINOR_UNITS } from '../ledger/money.ts';
import { isKnownPaymentSource, KNOWN_PAYMENT_SOURCES } from './sources.ts';
import { insertPayment, processorKeyFor } from './repository.ts';

interface PaymentAction {
  type: 'payment';
  account: string;
  amount: number;
  source: string;
  currency?: string;
}

export const paymentAction = defineAction<PaymentAction>({
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
  async execute(trx, scope, action) {
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
    await insertPayment(trx, {
      tenant_id: scope.tenantId,
      context_id: scope.contextId,
      account_id: account.id,
      amount: action.amount,
      currency: account.currency,
      source: action.source,
      processor_key: processorKeyFor(scope.tenantId, scope.contextId),
    });
    return { state: 'processing' };
  },
});
