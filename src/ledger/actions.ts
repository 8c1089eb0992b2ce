// The ledger's actions. Each runs inside the context's transaction: it locks the accounts it
// touches before deciding anything, so the balance it checks is the balance it changes.
import type { Transaction } from 'kysely';
import type { Database } from '../db/schema.ts';
import { defineAction, type ActionOutcome, type ActionScope } from '../actions/registry.ts';
import { uuidSchema } from '../http/ids.ts';
import { ProblemError, problemDocument } from '../http/problems.ts';
import { lockAccounts, postEntries, type AccountRow, type EntryRow, type Leg } from './repository.ts';
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

/** Posts the legs (one statement) and reports their entries. */
async function succeed(trx: Transaction<Database>, scope: ActionScope, legs: Leg[]): Promise<ActionOutcome> {
  const posted = await postEntries(trx, scope.tenantId, scope.contextId, legs);
  return { state: 'succeeded', result: { entries: posted.map(entryResult) } };
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
    const accounts = await lockAccounts(trx, scope.tenantId, [action.account]);
    const account = requireAccount(accounts, action.account, '/action/account');
    requireCurrency(account, action.currency, '/action/currency');
    requireRoom(account, action.amount);
    return succeed(trx, scope, [{ accountId: account.id, amount: action.amount }]);
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
    const accounts = await lockAccounts(trx, scope.tenantId, [action.from, action.to]);
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
    return succeed(trx, scope, [
      { accountId: from.id, amount: -action.amount },
      { accountId: to.id, amount: action.amount },
    ]);
  },
});
