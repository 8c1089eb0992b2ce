// An idle worker process costs the database almost nothing: it sleeps until a job of its types is
// due (LISTEN contexts_due) and polls only as a slow fallback. Measured by counting what it sends.
import test from 'ava';
import pg from 'pg';
import { pino } from 'pino';
import { defaultActions } from '../../src/app.ts';
import { runKeySweeper } from '../../src/idempotency/sweeper.ts';
import { JobNotifier } from '../../src/phases/job-notifier.ts';
import { Worker } from '../../src/phases/worker.ts';
import { runWebhookDeliverer } from '../../src/webhooks/deliverer.ts';
import { chargingProcessor } from '../helpers/payments.ts';
import { at, withTestServer } from '../helpers/server.ts';

const server = withTestServer(test);
const IDLE_SECONDS = 3;
const MAX_STATEMENTS_PER_SECOND = 5;

let counting = false;
let sent = 0;
const originalQuery = pg.Client.prototype.query;
pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
  if (counting) sent++;
  return (originalQuery as (...a: unknown[]) => unknown).apply(this, args);
} as typeof pg.Client.prototype.query;

test.serial(`an idle worker, webhook deliverer and key sweeper send at most ${MAX_STATEMENTS_PER_SECOND} statements a second`, async (t) => {
  const db = server.database.db;
  const notifier = JobNotifier.forPool(server.database.pool);
  const worker = new Worker({ db, actions: defaultActions({ processor: chargingProcessor }), logger: pino({ level: 'silent' }), notifier, concurrency: 16 });
  const stop = new AbortController();
  const running = Promise.all([worker.run(stop.signal), runWebhookDeliverer(db, { signal: stop.signal }), runKeySweeper(db, { signal: stop.signal })]);
  await new Promise((resolve) => setTimeout(resolve, 500)); // started, listening
  counting = true;
  await new Promise((resolve) => setTimeout(resolve, IDLE_SECONDS * 1000));
  counting = false;
  stop.abort();
  await running;
  await notifier.close();
  const perSecond = sent / IDLE_SECONDS;
  t.log(`idle: ${sent} statements in ${IDLE_SECONDS} s = ${perSecond.toFixed(1)}/s (16 worker slots)`);
  t.true(perSecond <= MAX_STATEMENTS_PER_SECOND);
});

test.serial('a sleeping worker is woken by the job itself, not by its poll', async (t) => {
  const db = server.database.db;
  const notifier = JobNotifier.forPool(server.database.pool);
  // A poll so slow that only the notification can get the job done within the test.
  const worker = new Worker({ db, actions: defaultActions({ processor: chargingProcessor }), logger: pino({ level: 'silent' }), notifier, pollMs: 60_000 });
  const stop = new AbortController();
  const running = worker.run(stop.signal);
  try {
    await new Promise((resolve) => setTimeout(resolve, 500)); // asleep on its first empty claim
    const tenant = server.tenant;
    const account = await tenant.createAccount();
    const id = crypto.randomUUID();
    const accepted = await tenant.request('PUT', `/contexts/${id}`, { headers: { 'if-none-match': '*' }, body: { action: { type: 'payment', account, amount: 5, source: 'tok_ok' } } });
    t.is(accepted.status, 202);
    const done = await tenant.request('GET', `/contexts/${id}`, { headers: { prefer: 'wait=10', 'if-none-match': '"2"' } });
    t.is(at(done.json, 'state'), 'succeeded');
  } finally {
    stop.abort();
    await running;
    await notifier.close();
  }
});
