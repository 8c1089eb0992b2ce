// GET /docs in a real browser: headless Chromium (Debian's when installed, else the one inside
// the @sparticuz/chromium dev dependency: test/helpers/browser.ts), driven by playwright-core.
// The page must render the operations of openapi.yaml from the service's own script and
// document, and no request may leave 127.0.0.1 (no CDN, no fonts, no telemetry). A screenshot
// goes to .tmp/docs.png. It never skips.
import { mkdir, readFile } from 'node:fs/promises';
import test from 'ava';
import { docsHtml } from '../../src/http/docs.ts';
import { checkReply, spec } from '../helpers/spec.ts';
import { launchChromium } from '../helpers/browser.ts';
import { withTestServer } from '../helpers/server.ts';

const SCREENSHOT = '.tmp/docs.png';

const server = withTestServer(test);

/** The summaries of openapi.yaml's operations: what the page has to show. */
function operationSummaries(): string[] {
  const summaries: string[] = [];
  for (const item of Object.values(spec['paths'] as Record<string, Record<string, { summary?: string }>>)) {
    for (const method of ['get', 'put', 'post', 'delete', 'patch']) {
      const summary = item[method]?.summary;
      if (summary) summaries.push(summary);
    }
  }
  return summaries;
}

test('GET /docs and its script need no key and load nothing from elsewhere', async (t) => {
  const page = await server.request('GET', '/docs', { key: null });
  t.is(page.status, 200);
  t.regex(page.headers.get('content-type') ?? '', /^text\/html/);
  const version = (JSON.parse(await readFile('node_modules/@scalar/api-reference/package.json', 'utf8')) as { version: string }).version;
  t.is(page.text, docsHtml(version));
  t.notRegex(page.text, /https?:\/\//, 'the page names no other origin');
  const csp = page.headers.get('content-security-policy') ?? '';
  t.regex(csp, /default-src 'self'/);
  t.notRegex(csp, /https?:|\*/);

  const script = await server.request('GET', '/docs/api-reference.js', { key: null });
  t.is(script.status, 200);
  t.regex(script.headers.get('content-type') ?? '', /^text\/javascript/);
  t.true(script.text.length > 100_000);
  const etag = script.headers.get('etag') ?? '';
  t.regex(etag, /^"scalar-[\d.]+"$/);
  const cached = await server.request('GET', '/docs/api-reference.js', { key: null, headers: { 'if-none-match': etag } });
  t.is(cached.status, 304);
  t.deepEqual([...checkReply('GET', '/docs', page), ...checkReply('GET', '/docs/api-reference.js', script), ...checkReply('GET', '/docs/api-reference.js', cached)], []);
});

test('the reference renders the operations in headless Chromium, from 127.0.0.1 only', async (t) => {
  t.timeout(60_000);
  const { browser, which } = await launchChromium();
  t.log(`browser: ${which}`);
  t.teardown(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const requests: string[] = [];
  const elsewhere: string[] = [];
  page.on('request', (request) => {
    const url = request.url();
    requests.push(url);
    const { protocol, hostname } = new URL(url);
    // data: and blob: URLs are made in the page and never touch the network.
    if (protocol !== 'data:' && protocol !== 'blob:' && hostname !== '127.0.0.1') elsewhere.push(url);
  });
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(error.message));
  // A request the Content-Security-Policy blocks may never show as a request: record the refusals too.
  await page.addInitScript(() => {
    const refused: string[] = [];
    (window as unknown as { refused: string[] }).refused = refused;
    document.addEventListener('securitypolicyviolation', (event) => refused.push(`${event.effectiveDirective} ${event.blockedURI}`));
  });

  const response = await page.goto(`${server.base}/docs`, { waitUntil: 'load', timeout: 15_000 });
  t.is(response?.status(), 200);

  // Scalar lists every operation by its summary; wait until several are on the page.
  const summaries = operationSummaries();
  t.true(summaries.length >= 10);
  const wanted = ['Execute an action in the context, exactly once', 'List contexts', 'Open an account', 'Liveness probe', 'Prometheus metrics'].filter((s) => summaries.includes(s));
  t.is(wanted.length, 5, 'the summaries the test waits for are in openapi.yaml');
  await page.waitForFunction((texts) => texts.every((text) => document.body.innerText.includes(text)), [...wanted, 'Idempotence service'], { timeout: 20_000 });
  await mkdir('.tmp', { recursive: true });
  await page.screenshot({ path: SCREENSHOT });
  const text = await page.evaluate(() => document.body.innerText);
  const shown = summaries.filter((summary) => text.includes(summary));
  t.true(shown.length >= summaries.length * 0.8, `${shown.length} of ${summaries.length} operation summaries shown`);

  const refused = await page.evaluate(() => (window as unknown as { refused: string[] }).refused);
  t.deepEqual(elsewhere, [], 'requests that left 127.0.0.1');
  t.deepEqual(refused.filter((entry) => /https?:/.test(entry)), [], 'loads the Content-Security-Policy refused');
  t.deepEqual(errors, [], 'errors in the page');
  t.true(requests.some((url) => url.endsWith('/openapi.yaml')), 'the page loaded /openapi.yaml');
  t.true(requests.some((url) => url.includes('/docs/api-reference.js')), 'the page loaded its script');
});
