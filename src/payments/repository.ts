import type { Insertable, Kysely, Selectable, Transaction } from 'kysely';
import type { Database, PaymentsTable } from '../db/schema.ts';

type Executor = Kysely<Database> | Transaction<Database>;

export type PaymentRow = Omit<Selectable<PaymentsTable>, 'created_at'>;

/**
 * The Idempotency-Key the processor sees for a payment: derived from the context (ids are
 * unique per tenant, so the tenant is part of it), never random, so every retry and every
 * worker that takes the job over sends the same key.
 */
export function processorKeyFor(tenantId: string, contextId: string): string {
  return `ctx_${tenantId}_${contextId}`;
}

export async function insertPayment(trx: Executor, payment: Insertable<PaymentsTable>): Promise<void> {
  await trx.insertInto('payments').values(payment).execute();
}

export async function findPayment(db: Executor, tenantId: string, contextId: string): Promise<PaymentRow | undefined> {
  return db
    .selectFrom('payments')
    .select(['tenant_id', 'context_id', 'account_id', 'amount', 'currency', 'source', 'processor_key', 'charge_id'])
    .where('tenant_id', '=', tenantId)
    .where('context_id', '=', contextId)
    .executeTakeFirst();
}

export async function findPaymentByKey(db: Executor, processorKey: string): Promise<PaymentRow | undefined> {
  return db
    .selectFrom('payments')
    .select(['tenant_id', 'context_id', 'account_id', 'amount', 'currency', 'source', 'processor_key', 'charge_id'])
    .where('processor_key', '=', processorKey)
    .executeTakeFirst();
}

export async function recordChargeId(trx: Executor, tenantId: string, contextId: string, chargeId: string): Promise<void> {
  await trx
    .updateTable('payments')
    .set({ charge_id: chargeId })
    .where('tenant_id', '=', tenantId)
    .where('context_id', '=', contextId)
    .execute();
}
