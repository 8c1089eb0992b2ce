// The ledger's actions. Each runs inside the context's transaction, in one statement that locks
// the accounts it touches and moves them only if every check holds on the locked rows, so the
// balance it checks is the balance it changes; a refusal is explained from those same rows.
import type { Transaction } from 'kysely';
import type { Database } from '../db/schema.ts';
import { defineAction, type ActionOutcome, type ActionScope } from '../actions/registry.ts';
import { uuidSchema } from '../http/ids.ts';
import { ProblemError, problemDocument } from '../http/problems.ts';
import { postLegs, type AccountRow, type EntryRow, type Leg, type PostedLegs } from './repository.ts';
import { amountSchema, currencySchema, MAX_MINOR_UNITS } from './money.ts';

interface DepositAction {
  type: 'deposit';
  account: string;
  amount: number;
  currency?: string;
}

interface TransferAction {
  type: 'transfer';
  from: string;
  to: string;
  amount: number;
  currency?: string;
}

function entryResult(entry: EntryRow): Record<string, unknown> {
  return { id: entry.id, account: entry.account_id, amount: entry.amount, balanceAfter: entry.balance_after };
}

function requireAccount(accounts: Map<string, AccountRow>, id: string, pointer: string): AccountRow {
  const account = accounts.get(id.toLowerCase());
  if (!account) throw new ProblemError('unknown-account', `${pointer}: there is no account ${id} in this tenant.`);
  return account;
}

function requireCurrency(account: AccountRow, currency: string | undefined, pointer: string): void {
  if (currency !== undefined && currency !== account.currency) {
    throw new ProblemError('currency-mismatch', `${pointer}: account ${account.id} holds ${account.currency}, not ${currency}.`);
  }
}

function requireRoom(account: AccountRow, amount: number): void {
  if (account.balance > MAX_MINOR_UNITS - amount) {
    throw new ProblemError('balance-limit-exceeded', `Account ${account.id} cannot hold more than ${MAX_MINOR_UNITS} minor units.`);
  }
}

/**
 * Posts the legs in one statement that locks the accounts and moves them only if every check
 * holds; when it moved nothing, `explain` (on the rows it locked) throws or returns the reason.
 */
async function post(
  trx: Transaction<Database>,
  scope: ActionScope,
  legs: Leg[],
  currency: string | undefined,
  explain: (accounts: Map<string, AccountRow>) => ActionOutcome | undefined,
): Promise<ActionOutcome> {
  const posted: PostedLegs = await postLegs(trx, scope, legs, { currency, maxBalance: MAX_MINOR_UNITS });
  if (posted.entries) return { state: 'succeeded', result: { entries: posted.entries.map(entryResult) } };
  const reason = explain(posted.accounts);
  if (reason) return reason;
  throw new Error(`context ${scope.contextId}: the legs were refused for no reason the action knows`);
}

export const depositAction = defineAction<DepositAction>({
  type: 'deposit',
  schema: {
    type: 'object',
    required: ['type', 'account', 'amount'],
    properties: {
      type: { const: 'deposit' },
      account: uuidSchema,
      amount: amountSchema,
      currency: currencySchema,
    },
    additionalProperties: false,
  },
  async execute(trx: Transaction<Database>, scope, action) {
    return post(trx, scope, [{ accountId: action.account, amount: action.amount }], action.currency, (accounts) => {
      const account = requireAccount(accounts, action.account, '/action/account');
      requireCurrency(account, action.currency, '/action/currency');
      requireRoom(account, action.amount);
      return undefined;
    });
  },
});

export const transferAction = defineAction<TransferAction>({
  type: 'transfer',
  schema: {
    type: 'object',
    required: ['type', 'from', 'to', 'amount'],
    properties: {
      type: { const: 'transfer' },
      from: uuidSchema,
      to: uuidSchema,
      amount: amountSchema,
      currency: currencySchema,
    },
    additionalProperties: false,
  },
  async execute(trx, scope, action) {
    if (action.from.toLowerCase() === action.to.toLowerCase()) {
      throw new ProblemError('invalid-action', '/action/to must name another account than /action/from.');
    }
    const legs = [
      { accountId: action.from, amount: -action.amount },
      { accountId: action.to, amount: action.amount },
    ];
    return post(trx, scope, legs, action.currency, (accounts) => {
      const from = requireAccount(accounts, action.from, '/action/from');
      const to = requireAccount(accounts, action.to, '/action/to');
      if (from.currency !== to.currency) {
        throw new ProblemError('currency-mismatch', `Account ${from.id} holds ${from.currency} and account ${to.id} holds ${to.currency}.`);
      }
      requireCurrency(from, action.currency, '/action/currency');
      if (from.balance < action.amount) {
        return {
          state: 'failed',
          error: problemDocument(
            'insufficient-funds',
            `Account ${from.id} holds ${from.balance} ${from.currency} minor units; the transfer needs ${action.amount}.`,
            { account: from.id, balance: from.balance, amount: action.amount },
          ),
        };
      }
      requireRoom(to, action.amount);
      return undefined;
    });
  },
});
