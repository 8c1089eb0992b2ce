// WORKER_CONCURRENCY: one worker process runs several jobs at once, each claimed with SKIP
// LOCKED like a separate worker's, and still handles every payment exactly once.
import { randomUUID } from 'node:crypto';
import test from 'ava';
import type { PaymentProcessor } from '../../src/payments/action.ts';
import { startPaymentRig, type PaymentRig } from '../helpers/payments.ts';

let rig: PaymentRig;
test.before(async () => {
  rig = await startPaymentRig();
});
test.after.always(async () => {
  await rig?.close();
});

test('a worker with concurrency 4 has four charges in flight at once and ends every payment once', async (t) => {
  const tenant = rig.server.tenant;
  const account = await tenant.createAccount();
  const ids: string[] = [];
  for (let index = 0; index < 12; index++) {
    const id = randomUUID();
    const reply = await tenant.request('PUT', `/contexts/${id}`, {
      headers: { 'if-none-match': '*' },
      body: { action: { type: 'payment', account, amount: 10, source: 'tok_ok' } },
    });
    t.is(reply.status, 202);
    ids.push(id);
  }
  // The real processor, behind a gate that counts how many calls wait in it at once.
  let inFlight = 0;
  let most = 0;
  const gated: PaymentProcessor = {
    getCharge: (key) => rig.client.getCharge(key),
    async createCharge(key, request) {
      inFlight++;
      most = Math.max(most, inFlight);
      await new Promise((resolve) => setTimeout(resolve, 100));
      try {
        return await rig.client.createCharge(key, request);
      } finally {
        inFlight--;
      }
    },
  };
  const stop = new AbortController();
  const running = rig.worker({ processor: gated, concurrency: 4 }).run(stop.signal);
  try {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const { rows } = await rig.server.database.pool.query(`SELECT count(*)::int AS n FROM contexts WHERE state = 'processing' AND id = ANY($1::uuid[])`, [ids]);
      if (rows[0].n === 0 || Date.now() > deadline) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  } finally {
    stop.abort();
    await running;
  }
  t.is(most, 4, 'four slots, four charges waiting at once');
  t.is(await tenant.balance(account), 12 * 10, 'each payment credited once');
  const { rows } = await rig.server.database.pool.query(
    `SELECT count(*)::int AS n FROM processor.charges ch JOIN payments p ON p.processor_key = ch.idempotency_key WHERE p.context_id = ANY($1::uuid[])`,
    [ids],
  );
  t.is(rows[0].n, 12, 'one charge per payment');
});
