// The operator console in a real headless Chromium (test/helpers/browser.ts): sign in through the
// #token fragment `npm start` prints, find a parked payment by its id, retry it, and watch it
// finish — with a worker running, as in `npm start`. The page loads nothing from elsewhere and
// uses only the admin API.
import test from 'ava';
import { launchChromium } from '../helpers/browser.ts';
import { withPaymentRig } from '../helpers/payments.ts';
import { ADMIN_TOKEN } from '../helpers/server.ts';
import { parkPayment } from '../helpers/parked-payment.ts';

const rig = withPaymentRig(test);

test('an operator finds a parked payment, retries it, and sees it finish', async (t) => {
  t.timeout(90_000);
  const { id } = await parkPayment(rig());
  const { browser, which } = await launchChromium();
  t.log(`browser: ${which}`);
  t.teardown(() => browser.close());
  // A locale of its own: with LANG=C the browser says "en-US@posix", which Intl (and uPlot at load) refuses.
  const page = await browser.newPage({ viewport: { width: 1280, height: 1000 }, locale: 'en-US' });
  const elsewhere: string[] = [];
  const apiCalls: string[] = [];
  page.on('request', (request) => {
    const url = new URL(request.url());
    if (url.protocol !== 'data:' && url.protocol !== 'blob:' && url.hostname !== '127.0.0.1') elsewhere.push(request.url());
    if (request.resourceType() === 'fetch') apiCalls.push(`${request.method()} ${url.pathname}`);
  });
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(error.message));
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(`${message.text()} ${message.location().url}`);
  });
  await page.addInitScript(() => {
    const refused: string[] = [];
    (window as unknown as { refused: string[] }).refused = refused;
    document.addEventListener('securitypolicyviolation', (event) => refused.push(`${event.effectiveDirective} ${event.blockedURI}`));
  });

  await page.goto(`${rig().server.base}/console#token=${ADMIN_TOKEN}`, { waitUntil: 'load', timeout: 15_000 });
  t.false((await page.url()).includes(ADMIN_TOKEN), 'the token leaves the address bar');
  // The parked payment is listed under "Needs attention" …
  await page.locator('#attention').getByText('Parked jobs (1)').waitFor({ timeout: 15_000 });
  await page.locator('#charts figure').first().waitFor({ timeout: 15_000 });
  // … and found by its id.
  await page.getByLabel('search').fill(id);
  await page.getByRole('button', { name: 'Find' }).click();
  const detail = page.locator('#context-detail');
  await detail.locator('.badge', { hasText: 'parked' }).waitFor({ timeout: 15_000 });
  await detail.getByText('phase: parked').first().waitFor({ timeout: 15_000 });

  await page.getByLabel('your name (for the audit log)').fill('ana');
  await page.getByLabel('your name (for the audit log)').dispatchEvent('change');
  await detail.getByLabel('reason').fill('processor is back');
  await detail.getByRole('button', { name: 'Retry now' }).click();
  await detail.locator('.message.ok').waitFor({ timeout: 15_000 });
  // The worker runs it; the page looks again while it is processing.
  await detail.locator('.badge', { hasText: 'succeeded' }).waitFor({ timeout: 30_000 });
  await detail.getByText('finished: succeeded').waitFor({ timeout: 15_000 });
  await page.locator('#audit-log').getByText('ana').first().waitFor({ timeout: 20_000 });

  const refused = await page.evaluate(() => (window as unknown as { refused: string[] }).refused);
  t.deepEqual(elsewhere, [], 'requests that left 127.0.0.1');
  t.deepEqual(refused, [], 'loads the Content-Security-Policy refused');
  t.deepEqual(errors, [], 'errors in the page');
  t.deepEqual(apiCalls.filter((call) => !call.split(' ')[1]?.startsWith('/admin/')), [], 'the page used only the admin API');
  t.true(apiCalls.some((call) => call.startsWith('POST /admin/tenants/') && call.endsWith('/retry')));
  const row = await rig().server.database.db.selectFrom('contexts').select(['state']).where('id', '=', id).executeTakeFirstOrThrow();
  t.is(row.state, 'succeeded');
});
