// Reconciliation: compares the processor's charges with our payments and ledger. Safe repairs
// (finishing a context whose charge the processor confirms; retrying a parked job, which sends
// the same key) are made through the same conditional phase the worker uses, so running this
// beside live workers cannot credit twice. Everything else is reported for a person.
import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/schema.ts';
import type { TerminalStateHook } from '../contexts/service.ts';
import type { Charge, ProcessorClient } from './processor-client.ts';
import { completePayment } from './complete.ts';

export interface Difference {
  kind:
    | 'charge-without-credit' // the card was charged, the account not (yet) credited
    | 'decline-not-recorded' // the processor declined, the context is still processing
    | 'credit-without-charge' // the account was credited, the processor has no such charge
    | 'charge-on-failed-context' // charged, but the context ended failed: needs a refund
    | 'unknown-charge' // a charge whose key names no payment of ours
    | 'parked-without-charge'; // a job that gave up with the outcome unknown and no charge exists
  key: string;
  tenantId?: string;
  contextId?: string;
  chargeId?: string;
  repaired: boolean;
}

export interface ReconcileReport {
  charges: number;
  payments: number;
  matched: number;
  differences: Difference[];
}

interface PaymentState {
  tenant_id: string;
  context_id: string;
  processor_key: string;
  charge_id: string | null;
  state: string;
  run_after: Date | null;
  credited: number;
}

async function allCharges(client: ProcessorClient): Promise<Map<string, Charge>> {
  const charges = new Map<string, Charge>();
  let after: string | undefined;
  do {
    const page = await client.listCharges(after, 1000);
    for (const charge of page.charges) charges.set(charge.idempotencyKey, charge);
    after = page.next;
  } while (after !== undefined);
  return charges;
}

async function allPayments(db: Kysely<Database>): Promise<PaymentState[]> {
  const { rows } = await sql<PaymentState>`
    SELECT p.tenant_id, p.context_id, p.processor_key, p.charge_id, c.state, c.run_after,
           (SELECT count(*)::int FROM entries e WHERE e.tenant_id = p.tenant_id AND e.context_id = p.context_id) AS credited
      FROM payments p JOIN contexts c ON c.tenant_id = p.tenant_id AND c.id = p.context_id`.execute(db);
  return rows;
}

export async function reconcile(
  db: Kysely<Database>,
  client: ProcessorClient,
  options: { repair: boolean; onTerminalState: TerminalStateHook },
): Promise<ReconcileReport> {
  const charges = await allCharges(client);
  const payments = await allPayments(db);
  const byKey = new Map(payments.map((payment) => [payment.processor_key, payment]));
  const differences: Difference[] = [];
  let matched = 0;

  for (const [key, charge] of charges) {
    const payment = byKey.get(key);
    if (!payment) {
      differences.push({ kind: 'unknown-charge', key, chargeId: charge.id, repaired: false });
      continue;
    }
    const where = { key, tenantId: payment.tenant_id, contextId: payment.context_id, chargeId: charge.id };
    if (payment.state === 'processing') {
      const kind = charge.status === 'succeeded' ? 'charge-without-credit' : 'decline-not-recorded';
      const repaired =
        options.repair &&
        (await completePayment(
          db,
          payment.tenant_id,
          payment.context_id,
          charge.status === 'succeeded'
            ? { kind: 'charged', chargeId: charge.id }
            : { kind: 'declined', chargeId: charge.id, detail: `The card (${charge.source}) was declined; charge ${charge.id}.` },
          options.onTerminalState,
        ));
      differences.push({ kind, ...where, repaired });
    } else if (charge.status === 'succeeded' && payment.state === 'succeeded' && payment.credited === 1) {
      matched++;
    } else if (charge.status === 'declined' && payment.state === 'failed' && payment.credited === 0) {
      matched++;
    } else if (charge.status === 'succeeded') {
      differences.push({ kind: payment.credited === 0 ? 'charge-on-failed-context' : 'charge-without-credit', ...where, repaired: false });
    } else {
      differences.push({ kind: 'credit-without-charge', ...where, repaired: false });
    }
  }

  for (const payment of payments) {
    if (charges.has(payment.processor_key)) continue;
    const where = { key: payment.processor_key, tenantId: payment.tenant_id, contextId: payment.context_id };
    if (payment.credited > 0) {
      // Charges were listed before payments were read: one charged and credited in between is
      // not a difference (found by the model check). Ask the processor once more before reporting.
      const lookup = await client.getCharge(payment.processor_key);
      if (lookup.kind === 'found' && lookup.charge.status === 'succeeded') {
        matched++;
        continue;
      }
      differences.push({ kind: 'credit-without-charge', ...where, repaired: false });
    } else if (payment.state === 'processing' && payment.run_after === null) {
      // Parked with no charge at the processor: trying again with the same key cannot charge twice.
      let repaired = false;
      if (options.repair) {
        const updated = await db
          .updateTable('contexts')
          .set({ run_after: sql<Date>`now()`, attempts: 0 })
          .where('tenant_id', '=', payment.tenant_id)
          .where('id', '=', payment.context_id)
          .where('state', '=', 'processing')
          .where('run_after', 'is', null)
          .executeTakeFirst();
        repaired = updated.numUpdatedRows === 1n;
      }
      differences.push({ kind: 'parked-without-charge', ...where, repaired });
    }
  }
  return { charges: charges.size, payments: payments.length, matched, differences };
}
