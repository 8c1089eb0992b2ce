// The last atomic phase of a payment: credit the account (or record the decline) and finish the
// context, in one transaction under the context's row lock. Used by the worker and by
// reconciliation; whoever comes second finds the context no longer processing and does nothing.
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.ts';
import { problemDocument, type ProblemDocument } from '../http/problems.ts';
import { lockAccounts, postEntries } from '../ledger/repository.ts';
import { MAX_MINOR_UNITS } from '../ledger/money.ts';
import { renderContextRow } from '../contexts/representation.ts';
import { lockContext } from '../contexts/repository.ts';
import type { TerminalStateHook } from '../contexts/service.ts';
import { failpoint } from '../worker/failpoints.ts';
import { findPayment } from './repository.ts';

export type PaymentResolution =
  | { kind: 'charged'; chargeId: string }
  | { kind: 'declined'; chargeId: string | undefined; detail: string }
  | { kind: 'rejected'; detail: string };

export interface CompletionGuard {
  /** When set, only this lease holder may finish the job. */
  workerId?: string;
}

export async function completePayment(
  db: Kysely<Database>,
  tenantId: string,
  contextId: string,
  resolution: PaymentResolution,
  onTerminalState: TerminalStateHook,
  guard: CompletionGuard = {},
): Promise<boolean> {
  return db.transaction().execute(async (trx) => {
    const row = await lockContext(trx, tenantId, contextId);
    if (!row || row.state !== 'processing') return false;
    if (guard.workerId !== undefined && row.locked_by !== guard.workerId) return false;
    const payment = await findPayment(trx, tenantId, contextId);
    if (!payment) throw new Error(`processing context ${contextId} has no payment`);

    let state: 'succeeded' | 'failed';
    let result: Record<string, unknown> | null = null;
    let error: ProblemDocument | null = null;
    const accounts = resolution.kind === 'charged' ? await lockAccounts(trx, tenantId, [payment.account_id]) : undefined;
    const balance = accounts?.get(payment.account_id)?.balance ?? 0;
    if (resolution.kind === 'charged' && balance > MAX_MINOR_UNITS - payment.amount) {
      // The card was charged but the credit cannot be held: end the payment instead of retrying
      // forever; reconciliation reports the charge on a failed context (to be refunded).
      state = 'failed';
      error = problemDocument('balance-limit-exceeded', `Account ${payment.account_id} cannot hold ${payment.amount} more; charge ${resolution.chargeId} must be refunded.`, { charge: resolution.chargeId });
    } else if (resolution.kind === 'charged') {
      const entries = await postEntries(trx, tenantId, contextId, [{ accountId: payment.account_id, amount: payment.amount }]);
      state = 'succeeded';
      result = {
        charge: resolution.chargeId,
        entries: entries.map((entry) => ({ id: entry.id, account: entry.account_id, amount: entry.amount, balanceAfter: entry.balance_after })),
      };
    } else {
      state = 'failed';
      error =
        resolution.kind === 'declined'
          ? problemDocument('payment-declined', resolution.detail, resolution.chargeId ? { charge: resolution.chargeId } : {})
          : problemDocument('payment-rejected', resolution.detail);
    }
    const version = row.version + 1;
    const representation = renderContextRow(row, { state, version, result, error, updatedAt: row.now });
    const body = JSON.stringify(representation);
    const updated = await trx
      .updateTable('contexts')
      .set({
        state,
        version,
        result: result === null ? null : JSON.stringify(result),
        error: error === null ? null : JSON.stringify(error),
        response_status: 200,
        response_body: body,
        recovery_point: 'finished',
        run_after: null,
        locked_by: null,
        locked_until: null,
        last_error: null,
        updated_at: row.now,
      })
      .where('tenant_id', '=', tenantId)
      .where('id', '=', contextId)
      .where('version', '=', row.version)
      .executeTakeFirst();
    if (updated.numUpdatedRows !== 1n) throw new Error(`context ${contextId} changed under its lock`);
    // The charge id is usually recorded already (recovery point charge_confirmed).
    if (resolution.kind !== 'rejected' && resolution.chargeId && payment.charge_id !== resolution.chargeId) {
      await trx
        .updateTable('payments')
        .set({ charge_id: resolution.chargeId })
        .where('tenant_id', '=', tenantId)
        .where('context_id', '=', contextId)
        .execute();
    }
    await onTerminalState(trx, tenantId, state, representation);
    failpoint('inside-credit');
    return true;
  });
}
