// A worker that claims a job whose lease another worker let run out reports the takeover (the
// lease-takeover metric counts it); a worker that takes its own job again, or a job nobody held,
// does not.
import { randomUUID } from 'node:crypto';
import test from 'ava';
import { claimNextJob } from '../../src/phases/jobs.ts';
import { startPaymentRig, type PaymentRig } from '../helpers/payments.ts';

let rig: PaymentRig;
test.before(async () => {
  rig = await startPaymentRig();
});
test.after.always(async () => {
  await rig?.close();
});

async function acceptPayment(): Promise<string> {
  const tenant = rig.server.tenant;
  const account = await tenant.createAccount();
  const id = randomUUID();
  const reply = await tenant.request('PUT', `/contexts/${id}`, { headers: { 'if-none-match': '*' }, body: { action: { type: 'payment', account, amount: 300, source: 'tok_ok' } } });
  if (reply.status !== 202) throw new Error(`payment not accepted: ${reply.status} ${reply.text}`);
  return id;
}

const expireLeases = () => rig.server.database.pool.query('UPDATE contexts SET locked_until = now() - interval \'1 second\' WHERE locked_until IS NOT NULL');

test.serial('claimNextJob names the previous lease holder; the worker reports a takeover from another worker only', async (t) => {
  const db = rig.server.database.db;
  const id = await acceptPayment();

  const first = await claimNextJob(db, 'crashed-worker', 5, 'payment');
  t.is(first?.contextId, id);
  t.is(first?.previousHolder, null, 'nobody held it before');
  await expireLeases(); // the holder died: its lease runs out

  // The same worker again is no takeover.
  const again = await claimNextJob(db, 'crashed-worker', 5, 'payment');
  t.is(again?.previousHolder, 'crashed-worker');
  await expireLeases();

  const takeovers: { contextId: string; previousHolder: string }[] = [];
  const worker = rig.worker({ workerId: 'rescuer', onLeaseTakeover: (takeover) => takeovers.push(takeover) });
  const outcome = await worker.runOnce();
  t.is(outcome?.contextId, id);
  t.deepEqual(takeovers, [{ contextId: id, previousHolder: 'crashed-worker' }]);
  await rig.drain([worker]);
  t.is(takeovers.length, 1, 'finishing its own job is no takeover');

  // A job no worker held: claimed without a takeover.
  await acceptPayment();
  await rig.drain([worker]);
  t.is(takeovers.length, 1);
});
