import type { Insertable, Kysely, Selectable, Transaction } from 'kysely';
import type { Database, PaymentsTable } from '../db/schema.ts';

type Executor = Kysely<Database> | Transaction<Database>;

export type PaymentRow = Omit<Selectable<PaymentsTable>, 'created_at'>;

export async function insertPayment(trx: Executor, payment: Insertable<PaymentsTable>): Promise<void> {
  await trx.insertInto('payments').values(payment).execute();
}

export async function recordChargeId(trx: Executor, tenantId: string, contextId: string, chargeId: string): Promise<void> {
  await trx
    .updateTable('payments')
    .set({ charge_id: chargeId })
    .where('tenant_id', '=', tenantId)
    .where('context_id', '=', contextId)
    .execute();
}
