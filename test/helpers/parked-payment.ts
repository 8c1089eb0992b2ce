// A card payment parked after its one attempt: the processor refused the charge (an unknown
// outcome to the worker), and the worker was allowed one attempt. On the way, its context saw a
// replayed retry and a stale If-Match (412), so its timeline has something of each.
import type { PaymentRig } from './payments.ts';

export async function parkPayment(rig: PaymentRig): Promise<{ id: string; path: string }> {
  const tenant = rig.server.tenant;
  const account = await tenant.createAccount('EUR');
  const context = await tenant.createContext();
  const body = { action: { type: 'payment', account, amount: 250, source: 'tok_ok' } };
  rig.processor.faults.refuseBeforeChargeRate = 1;
  try {
    // No worker may take it before it is refused: run one of our own until the job is parked.
    const accepted = await tenant.request('PUT', `/contexts/${context.id}`, { headers: { 'if-match': context.etag }, body });
    if (accepted.status !== 202) throw new Error(`payment not accepted: ${accepted.status} ${accepted.text}`);
    const replay = await tenant.request('PUT', `/contexts/${context.id}`, { headers: { 'if-match': context.etag }, body });
    if (replay.headers.get('idempotent-replayed') !== 'true') throw new Error('the retry was not replayed');
    const stale = await tenant.request('PUT', `/contexts/${context.id}`, { headers: { 'if-match': '"999"' }, body: { action: { type: 'deposit', account, amount: 1 } } });
    if (stale.status !== 412) throw new Error(`expected 412, got ${stale.status}`);
    const worker = rig.worker({ maxAttempts: 1 });
    for (let tries = 0; tries < 200; tries++) {
      const outcome = await worker.runOnce();
      if (outcome?.contextId === context.id && outcome.result === 'parked') return { id: context.id, path: `/admin/tenants/${tenant.id}/contexts/${context.id}` };
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    throw new Error('the payment was not parked');
  } finally {
    rig.processor.faults.refuseBeforeChargeRate = 0;
  }
}
