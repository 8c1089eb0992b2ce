// `npm run docs:screenshot` (DATABASE_URL set, as for the tests): the picture of the operator
// console in docs/console.md, taken from a real service. It runs a small workload on a throwaway
// database — deposits, their retries (replayed), stale If-Match (412), a second action on an
// executed context (409), card payments of which two get parked, a webhook endpoint that is down
// — then opens the console on a parked payment in headless Chromium. The charts' earlier minutes
// are seeded (the workload itself lasts seconds): rows of request_outcome_counts and
// context_state_counts for the hour before, said so in the docs' caption.
import { sql } from 'kysely';
import { launchChromium } from '../test/helpers/browser.ts';
import { parkPayment } from '../test/helpers/parked-payment.ts';
import { startPaymentRig } from '../test/helpers/payments.ts';
import { ADMIN_TOKEN, at } from '../test/helpers/server.ts';
import { deliverDueWebhooks } from '../src/webhooks/deliverer.ts';
import { sampleContextStates } from '../src/operations/sampler.ts';

const OUTPUT = process.argv[2] ?? 'docs/images/console.png';
const rig = await startPaymentRig();
try {
  const tenant = rig.server.tenant;
  const db = rig.server.database.db;
  await tenant.request('POST', '/webhooks', { body: { url: 'http://127.0.0.1:59999/hooks' } });
  const account = await tenant.createAccount('EUR', 'Alice');
  for (let i = 0; i < 12; i++) {
    const context = await tenant.createContext();
    const body = { action: { type: 'deposit', account, amount: 100 + i } };
    await tenant.request('PUT', `/contexts/${context.id}`, { headers: { 'if-match': context.etag }, body });
    if (i % 2 === 0) await tenant.request('PUT', `/contexts/${context.id}`, { headers: { 'if-match': context.etag }, body });
    if (i % 3 === 0) await tenant.request('PUT', `/contexts/${context.id}`, { headers: { 'if-match': '"1"' }, body: { action: { type: 'deposit', account, amount: 1 } } });
    if (i % 4 === 0) await tenant.request('PUT', `/contexts/${context.id}`, { headers: { 'if-match': context.etag }, body: { action: { type: 'deposit', account, amount: 7 } } });
  }
  for (let i = 0; i < 4; i++) {
    const context = await tenant.createContext();
    await tenant.request('PUT', `/contexts/${context.id}`, { headers: { 'if-match': context.etag }, body: { action: { type: 'payment', account, amount: 500 + i, source: 'tok_ok' } } });
  }
  await rig.drain([rig.worker()]);
  await parkPayment(rig);
  const { id } = await parkPayment(rig);
  await deliverDueWebhooks(db, { timeoutMs: 500 });
  // The hour before: a steady workload with a burst of retries twenty minutes ago.
  for (let minute = 60; minute >= 1; minute--) {
    const burst = minute > 18 && minute < 24 ? 6 : 1;
    const counts: [string, number][] = [['executed', 40 + (minute % 7)], ['replayed', Math.round((3 + (minute % 4)) * burst)], ['precondition-failed', (minute % 5 === 0 ? 2 : 0) * burst], ['conflict', minute % 9 === 0 ? 1 : 0]];
    for (const [outcome, count] of counts) {
      await sql`INSERT INTO request_outcome_counts (minute, tenant_id, outcome, count)
                VALUES (date_trunc('minute', now()) - make_interval(mins => ${minute}), ${tenant.id}, ${outcome}, ${count})`.execute(db);
    }
  }
  // The state chart's history ends where the real sample of this minute begins.
  await sampleContextStates(db);
  const now = await db.selectFrom('context_state_counts').select(['state', 'count']).where('minute', '=', sql<Date>`date_trunc('minute', now())`).execute();
  for (const { state, count } of now) {
    for (let minute = 60; minute >= 1; minute--) {
      const share = state === 'succeeded' || state === 'failed' ? (60 - minute) / 60 : state === 'parked' ? (minute < 3 ? 1 : 0) : 0.5 + (minute % 5) / 10;
      await sql`INSERT INTO context_state_counts (minute, tenant_id, state, count)
                VALUES (date_trunc('minute', now()) - make_interval(mins => ${minute}), ${tenant.id}, ${state}, ${Math.round(Number(count) * share)})`.execute(db);
    }
  }
  await rig.journal.flush();
  await new Promise((resolve) => setTimeout(resolve, 400)); // the API's own journal batch

  const { browser } = await launchChromium();
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 }, locale: 'en-US', deviceScaleFactor: 1 });
    await page.goto(`${rig.server.base}/console#token=${ADMIN_TOKEN}`, { waitUntil: 'load' });
    await page.getByLabel('your name (for the audit log)').fill('ana');
    await page.goto(`${rig.server.base}/console#/tenants/${tenant.id}/contexts/${id}`);
    await page.locator('#context-detail .badge', { hasText: 'parked' }).waitFor({ timeout: 15_000 });
    await page.locator('#charts figure').nth(1).waitFor({ timeout: 15_000 });
    await page.locator('#attention').getByText('Failing webhook endpoints (1)').waitFor({ timeout: 15_000 });
    await page.screenshot({ path: OUTPUT, fullPage: true });
    const shown = await rig.server.request('GET', `/admin/contexts?id=${id}`, { key: ADMIN_TOKEN });
    console.log(`wrote ${OUTPUT} (context ${id}, ${String(at(shown.json, 'items', 0, 'state'))})`);
  } finally {
    await browser.close();
  }
} finally {
  await rig.close();
}
