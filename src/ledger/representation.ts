import { link } from '../http/hal.ts';
import type { AccountRow, EntryRow } from './repository.ts';

export function accountPath(id: string): string {
  return `/accounts/${id}`;
}

export function accountETag(row: Pick<AccountRow, 'version'>): string {
  return `"${row.version}"`;
}

export function renderAccount(row: AccountRow): Record<string, unknown> {
  return {
    id: row.id,
    name: row.name,
    currency: row.currency,
    balance: row.balance,
    version: row.version,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
    _links: {
      self: link(accountPath(row.id)),
      entries: link(`${accountPath(row.id)}/entries`),
    },
  };
}

export function renderEntry(row: EntryRow): Record<string, unknown> {
  return {
    id: row.id,
    account: row.account_id,
    context: row.context_id,
    amount: row.amount,
    balanceAfter: row.balance_after,
    createdAt: row.created_at.toISOString(),
    _links: {
      account: link(accountPath(row.account_id)),
      context: link(`/contexts/${row.context_id}`),
    },
  };
}
