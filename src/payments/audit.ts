// The payment's audit, run by reconciliation after its jobs: the processor's charges against our
// payments and ledger, for what no single job shows — a charge nobody asked for, a credit
// without a charge, a charge on a payment that ended failed (to be refunded). Processing
// payments are the jobs' business (their reconcile hook) and are left out here.
import { sql, type Kysely } from 'kysely';
import type { AuditFinding } from '../actions/async-action.ts';
import type { Database } from '../db/schema.ts';
import type { Charge, ChargePage } from './processor-client.ts';

export type PaymentFindingKind =
  | 'unknown-charge' // a charge whose key names no payment of ours
  | 'credit-without-charge' // the account was credited, the processor has no succeeded charge
  | 'charge-without-credit' // the payment succeeded without its one credit
  | 'charge-on-failed-context'; // charged, but the payment ended failed: needs a refund

interface PaymentState {
  tenant_id: string;
  context_id: string;
  processor_key: string;
  state: string;
  credited: number;
}

async function allCharges(processor: { listCharges(after?: string, limit?: number): Promise<ChargePage> }): Promise<Map<string, Charge>> {
  const charges = new Map<string, Charge>();
  let after: string | undefined;
  do {
    const page = await processor.listCharges(after, 1000);
    for (const charge of page.charges) charges.set(charge.idempotencyKey, charge);
    after = page.next;
  } while (after !== undefined);
  return charges;
}

export async function auditCharges(
  db: Kysely<Database>,
  processor: { listCharges(after?: string, limit?: number): Promise<ChargePage> },
): Promise<AuditFinding[]> {
  // Payments first, then charges: a payment that ends between the two reads is seen processing
  // (left out) or ended with its charge already listed, never ended without it.
  const { rows: payments } = await sql<PaymentState>`
    SELECT p.tenant_id, p.context_id, p.processor_key, c.state,
           (SELECT count(*)::int FROM entries e WHERE e.tenant_id = p.tenant_id AND e.context_id = p.context_id) AS credited
      FROM payments p JOIN contexts c ON c.tenant_id = p.tenant_id AND c.id = p.context_id`.execute(db);
  const charges = await allCharges(processor);
  const byKey = new Map(payments.map((payment) => [payment.processor_key, payment]));
  const findings: AuditFinding[] = [];
  const unknownKeys = [...charges.keys()].filter((key) => !byKey.has(key));
  if (unknownKeys.length > 0) {
    // A payment accepted and charged after the payments were read is not unknown: ask again.
    const { rows } = await sql<{ processor_key: string }>`SELECT processor_key FROM payments WHERE processor_key = ANY(${unknownKeys}::text[])`.execute(db);
    const known = new Set(rows.map((row) => row.processor_key));
    for (const key of unknownKeys) if (!known.has(key)) findings.push({ kind: 'unknown-charge', key, chargeId: charges.get(key)?.id });
  }
  for (const payment of payments) {
    if (payment.state === 'processing') continue;
    const charge = charges.get(payment.processor_key);
    const where = { key: payment.processor_key, tenantId: payment.tenant_id, contextId: payment.context_id, ...(charge ? { chargeId: charge.id } : {}) };
    const charged = charge?.status === 'succeeded';
    if (payment.state === 'succeeded' && charged && payment.credited === 1) continue;
    if (payment.state === 'failed' && !charged && payment.credited === 0) continue;
    if (payment.credited > 0 && !charged) findings.push({ kind: 'credit-without-charge', ...where });
    else if (charged && payment.state === 'failed') findings.push({ kind: 'charge-on-failed-context', ...where });
    else findings.push({ kind: 'charge-without-credit', ...where });
  }
  return findings;
}
