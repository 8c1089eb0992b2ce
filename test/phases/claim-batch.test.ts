// A busy worker claims its free slots in one statement, not one statement per job: the claim is
// a round trip of every job's, and with a backlog it is the one that can be shared.
import { randomUUID } from 'node:crypto';
import test from 'ava';
import pg from 'pg';
import { startPaymentRig, type PaymentRig } from '../helpers/payments.ts';

let claims = 0; // claim statements that took at least one job
let counting = false;
const originalQuery = pg.Client.prototype.query;
pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
  const first = args[0];
  const text = typeof first === 'string' ? first : String((first as { text?: unknown }).text);
  const result = (originalQuery as (...a: unknown[]) => unknown).apply(this, args);
  // Claims that took at least one job (an idle loop's empty polls are not what is measured).
  if (counting && text.includes('FOR UPDATE SKIP LOCKED') && text.includes('attempts = c.attempts + 1') && result instanceof Promise) {
    void result.then((reply: { rowCount?: number | null }) => {
      if ((reply.rowCount ?? 0) > 0) claims++;
    }, () => undefined);
  }
  return result;
} as typeof pg.Client.prototype.query;

let rig: PaymentRig;
test.before(async () => {
  rig = await startPaymentRig();
});
test.after.always(async () => {
  await rig?.close();
});

test('a worker with a backlog claims several jobs per statement, and every job runs once', async (t) => {
  const tenant = rig.server.tenant;
  const account = await tenant.createAccount();
  const PAYMENTS = 48;
  for (let i = 0; i < PAYMENTS; i++) {
    const reply = await tenant.request('PUT', `/contexts/${randomUUID()}`, {
      headers: { 'if-none-match': '*' },
      body: { action: { type: 'payment', account, amount: 1, source: 'tok_ok' } },
    });
    t.is(reply.status, 202);
  }
  counting = true;
  const worker = rig.worker({ concurrency: 8 });
  const stop = new AbortController();
  const attempts: string[] = [];
  const running = worker.run(stop.signal, (outcome) => attempts.push(outcome.result));
  const deadline = Date.now() + 30_000;
  // A slow machine may time a charge out (the rig's client waits 300 ms): such a job is retried.
  while (attempts.filter((result) => result === 'finished').length < PAYMENTS && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  stop.abort();
  await running;
  counting = false;
  t.log(`${claims} claim statements took ${attempts.length} jobs for ${PAYMENTS} payments (8 slots, a batch once 2 are free)`);
  t.is(attempts.filter((result) => result === 'finished').length, PAYMENTS, 'every payment finished');
  // One claim per job would be 1.0; each claim waits for two free slots, so about 0.5 (the tail and retries take single jobs).
  t.true(claims <= attempts.length * 0.6, `${claims} claims for ${attempts.length} jobs`);
  const { rows } = await rig.server.database.pool.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM entries WHERE tenant_id = $1 AND account_id = $2`, [tenant.id, account],
  );
  t.is(rows[0]?.n, PAYMENTS, 'one credit per payment');
});
