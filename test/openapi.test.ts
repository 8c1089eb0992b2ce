// openapi.yaml is the contract SDKs are generated from: every route and problem type of the code
// is in it, and live responses — success and error — match its schemas.
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import test from 'ava';
import fc from 'fast-check';
import { pino } from 'pino';
import { createRouters } from '../src/app.ts';
import { problemCatalog, problemType } from '../src/http/problems.ts';
import { MAX_KEY_LENGTH, readIdempotencyKey } from '../src/idempotency/header.ts';
import { drainJobs, testWorker } from './helpers/payments.ts';
import { checkReply, operation, schemaAt, spec } from './helpers/spec.ts';
import { ADMIN_TOKEN, at, type RequestOptions, withTestServer } from './helpers/server.ts';

const server = withTestServer(test);

type Json = Record<string, unknown>;
/** Every method an OpenAPI path item can hold. */
const METHODS = ['get', 'head', 'put', 'post', 'delete', 'patch', 'options', 'trace'] as const;
const paths = spec['paths'] as Record<string, Record<string, Json | undefined>>;

/** Follows a `$ref` into openapi.yaml (one level, as components are written). */
function deref(node: Json): Json {
  const ref = node['$ref'];
  if (typeof ref !== 'string') return node;
  let target: unknown = spec;
  for (const segment of ref.slice(2).split('/')) target = (target as Json)[segment.replace(/~1/g, '/').replace(/~0/g, '~')];
  return target as Json;
}

test('every route in the code is an operation in openapi.yaml, and the other way round', (t) => {
  const routers = createRouters({
    pool: server.database.pool,
    db: server.database.db,
    config: { adminToken: undefined, contextTtlSeconds: 60 },
    logger: pino({ level: 'silent' }),
  });
  // HEAD included: @koa/router answers HEAD on every GET route, and openapi.yaml has a `head`
  // operation beside every `get`.
  const inCode = new Set<string>();
  for (const router of routers) {
    for (const layer of router.stack) {
      for (const method of layer.methods) inCode.add(`${method} ${String(layer.path).replace(/:(\w+)/g, '{$1}')}`);
    }
  }
  const inSpec = new Set<string>();
  for (const [path, item] of Object.entries(paths)) {
    for (const method of METHODS) if (item[method]) inSpec.add(`${method.toUpperCase()} ${path}`);
  }
  t.deepEqual([...inCode].sort(), [...inSpec].sort());
});

test('every HEAD mirrors its GET without bodies, and every other operation documents 405 with Allow', (t) => {
  const methodNotAllowed = '#/components/responses/MethodNotAllowed';
  t.truthy(deref({ $ref: methodNotAllowed })['headers'] && (deref({ $ref: methodNotAllowed })['headers'] as Json)['Allow'], 'the 405 answer has Allow');
  for (const [path, item] of Object.entries(paths)) {
    t.is(Boolean(item['head']), Boolean(item['get']), `${path}: a head operation exactly where there is a get`);
    for (const method of METHODS) {
      const op = item[method];
      if (!op || method === 'head') continue;
      const responses = op['responses'] as Json;
      t.is((responses['405'] as Json | undefined)?.['$ref'], methodNotAllowed, `${method.toUpperCase()} ${path} documents 405`);
    }
    const [get, head] = [item['get'], item['head']];
    if (!get || !head) continue;
    const getResponses = get['responses'] as Json;
    const headResponses = head['responses'] as Json;
    t.deepEqual(Object.keys(headResponses), Object.keys(getResponses).filter((code) => code !== '405'), `HEAD ${path}: the statuses of GET`);
    t.deepEqual(head['parameters'], get['parameters'], `HEAD ${path}: the parameters of GET`);
    t.deepEqual(head['security'], get['security'], `HEAD ${path}: the security of GET`);
    t.not(head['operationId'], undefined);
    for (const [code, response] of Object.entries(headResponses)) {
      const headResponse = deref(response as Json);
      const getResponse = deref(getResponses[code] as Json);
      t.is(headResponse['content'], undefined, `HEAD ${path} ${code} has no body`);
      t.deepEqual(headResponse['headers'], getResponse['headers'], `HEAD ${path} ${code}: the headers of GET`);
    }
  }
});

test('every path answers a method it does not list with 405 and Allow, and HEAD as GET without a body', async (t) => {
  const tenant = server.tenant;
  const account = await tenant.createAccount();
  const context = (await tenant.createContext()).id;
  const webhook = at((await tenant.request('POST', '/webhooks', { body: { url: 'https://example.com/allow' } })).json, 'id');
  // A context that ended, so that its event is queued for the endpoint: a webhook delivery.
  const ended = at((await tenant.deposit(account, 1)).json, 'id');
  const { rows } = await server.database.pool.query<{ id: number }>('SELECT id FROM webhook_deliveries WHERE tenant_id = $1 AND context_id = $2', [tenant.id, ended]);
  const delivery = String(rows[0]?.id);
  const adminContext = `/admin/tenants/${tenant.id}/contexts/${context}`;
  const concrete: Record<string, string> = {
    '/contexts/{id}': `/contexts/${context}`,
    '/accounts/{id}': `/accounts/${account}`,
    '/accounts/{id}/entries': `/accounts/${account}/entries`,
    '/webhooks/{id}': `/webhooks/${webhook}`,
    '/admin/tenants/{tenantId}/contexts/{id}': adminContext,
    '/admin/tenants/{tenantId}/contexts/{id}/timeline': `${adminContext}/timeline`,
    '/admin/tenants/{tenantId}/contexts/{id}/retry': `${adminContext}/retry`,
    '/admin/tenants/{tenantId}/contexts/{id}/reconcile': `${adminContext}/reconcile`,
    '/admin/webhook-deliveries/{id}': `/admin/webhook-deliveries/${delivery}`,
    '/admin/webhook-deliveries/{id}/redeliver': `/admin/webhook-deliveries/${delivery}/redeliver`,
    '/console/{asset}': '/console/uplot.js',
  };
  // The administrator's paths take the ADMIN_TOKEN, every other one the tenant's key.
  const keyFor = (template: string) => (template === '/tenants' || template.startsWith('/admin/') ? ADMIN_TOKEN : tenant.apiKey);
  const problems: string[] = [];
  for (const [template, item] of Object.entries(paths)) {
    const filled = concrete[template];
    if (template.includes('{') && filled === undefined) {
      t.fail(`${template}: the test knows no id for it`);
      continue;
    }
    const path = filled ?? template;
    const declared = METHODS.filter((method) => item[method]).map((method) => method.toUpperCase());
    t.false(declared.includes('PATCH'), 'PATCH is the method no path has');
    const refused = await tenant.request('PATCH', path, { key: keyFor(template) });
    t.is(refused.status, 405, `PATCH ${template}`);
    t.deepEqual((refused.headers.get('allow') ?? '').split(/\s*,\s*/).sort(), [...declared].sort(), `Allow of ${template}`);
    t.is(at(refused.json, 'type'), problemType('method-not-allowed'));
    t.is(at(refused.json, 'instance'), path);
    for (const method of declared) if (method !== 'HEAD') problems.push(...checkReply(method, template, refused));
    if (!item['get']) continue;
    const get = await tenant.request('GET', path, { key: keyFor(template) });
    const head = await tenant.request('HEAD', path, { key: keyFor(template) });
    t.is(head.status, get.status, `HEAD ${template}`);
    t.is(head.text, '', `HEAD ${template} has no body`);
    t.is(head.headers.get('etag'), get.headers.get('etag'), `HEAD ${template}: ETag`);
    t.is(head.headers.get('content-type'), get.headers.get('content-type'), `HEAD ${template}: Content-Type`);
    problems.push(...checkReply('HEAD', template, head));
  }
  const unauthorized = await tenant.request('HEAD', `/contexts/${context}`, { key: null });
  t.is(unauthorized.status, 401);
  t.truthy(unauthorized.headers.get('www-authenticate'));
  problems.push(...checkReply('HEAD', '/contexts/{id}', unauthorized));
  const revalidated = await tenant.request('HEAD', `/contexts/${context}`, { headers: { 'if-none-match': '"1"' } });
  t.is(revalidated.status, 304);
  problems.push(...checkReply('HEAD', '/contexts/{id}', revalidated));
  t.deepEqual(problems, []);
});

test('the Idempotency-Key schema lets through only keys the server reads, and every key it reads in a canonical form', (t) => {
  const valid = schemaAt('/components/parameters/IdempotencyKey/schema');
  const sfString = (key: string) => `"${key.replace(/["\\]/g, (ch) => `\\${ch}`)}"`;
  const decoded = (header: string) => (header.startsWith('"') ? header.slice(1, -1).replace(/\\(["\\])/g, '$1') : header);
  const cases: [string, boolean][] = [
    ['8e03978e-40d5-43e8-bc93-6894a57f9324', true],
    ['"8e03978e-40d5-43e8-bc93-6894a57f9324"', true],
    ['x'.repeat(MAX_KEY_LENGTH), true],
    ['x'.repeat(MAX_KEY_LENGTH + 1), false],
    [`"${'y'.repeat(MAX_KEY_LENGTH)}"`, true],
    [`"${'y'.repeat(MAX_KEY_LENGTH + 1)}"`, false],
    [sfString('"'.repeat(MAX_KEY_LENGTH)), true], // 512 characters, the longest header there is
    [sfString('\\'.repeat(MAX_KEY_LENGTH + 1)), false],
    ['', false],
    ['""', false],
    ['"open', false],
    ['"a"b"', false],
    ['"a\\x"', false],
    ['tab\there', false],
    ['caf\u00e9', false],
    ['a"b', true],
  ];
  for (const [header, accepted] of cases) {
    t.is(valid(header), accepted, `schema on ${JSON.stringify(header.slice(0, 40))}`);
    t.is(readIdempotencyKey(header).kind === 'key', accepted, `server on ${JSON.stringify(header.slice(0, 40))}`);
  }
  const char = fc.oneof(
    { weight: 12, arbitrary: fc.integer({ min: 0x20, max: 0x7e }).map((code) => String.fromCharCode(code)) },
    { weight: 2, arbitrary: fc.constantFrom('"', '\\', ' ') },
    { weight: 1, arbitrary: fc.constantFrom('\t', '\u00e9', '\u0000', '\n') },
  );
  const header = fc.oneof(fc.string({ unit: char, maxLength: 24 }), fc.string({ unit: char, minLength: 250, maxLength: 520 }));
  // What the schema lets through, the server reads, as the key the header spells.
  fc.assert(
    fc.property(header, (value) => {
      if (!valid(value)) return true;
      const reading = readIdempotencyKey(value);
      return reading.kind === 'key' && reading.key === decoded(value);
    }),
    { numRuns: 2_000 },
  );
  // Every key the server can read passes as an sf-string, and as a bare value wherever the
  // server reads the bare value as that very key (not with an opening quote or a space at
  // either end, which the server would strip).
  const key = fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((code) => String.fromCharCode(code)), minLength: 1, maxLength: MAX_KEY_LENGTH });
  fc.assert(
    fc.property(key, (value) => {
      const quoted = sfString(value);
      const quotedReading = readIdempotencyKey(quoted);
      if (!valid(quoted) || quotedReading.kind !== 'key' || quotedReading.key !== value) return false;
      const bareReading = readIdempotencyKey(value);
      const readsAsItself = bareReading.kind === 'key' && bareReading.key === value && !value.startsWith('"');
      return !readsAsItself || valid(value);
    }),
    { numRuns: 2_000 },
  );
});

test('every problem type of the catalog appears in openapi.yaml', async (t) => {
  const text = await readFile('openapi.yaml', 'utf8');
  for (const slug of Object.keys(problemCatalog) as (keyof typeof problemCatalog)[]) {
    t.true(text.includes(problemType(slug)), slug);
  }
});

test('live responses match the documented statuses and schemas', async (t) => {
  const tenant = server.tenant;
  const problems: string[] = [];
  const call = async (method: string, template: string, path: string, options: RequestOptions = {}) => {
    const reply = await tenant.request(method, path, options);
    problems.push(...checkReply(method, template, reply));
    return reply;
  };
  const account = at((await call('POST', '/accounts', '/accounts', { body: { name: 'A', currency: 'EUR' } })).json, 'id');
  const other = at((await call('POST', '/accounts', '/accounts', { body: { name: 'B', currency: 'EUR' } })).json, 'id');
  await call('POST', '/accounts', '/accounts', { body: { name: 'A', currency: 'XYZ' } });
  await call('POST', '/accounts', '/accounts', { body: '{', headers: { 'content-type': 'application/json' } });
  await call('POST', '/accounts', '/accounts', { body: 'x', headers: { 'content-type': 'text/plain' } });
  await call('GET', '/accounts', '/accounts');
  await call('GET', '/accounts', '/accounts?limit=1');
  await call('GET', '/accounts', '/accounts?limit=0');
  await call('GET', '/accounts/{id}', `/accounts/${account}`);
  await call('GET', '/accounts/{id}', `/accounts/${randomUUID()}`);
  await call('GET', '/accounts/{id}', `/accounts/${account}`, { headers: { 'if-none-match': '"1"' } });

  const created = await call('POST', '/contexts', '/contexts', { body: { ttlSeconds: 600 } });
  const id = at(created.json, 'id');
  await call('POST', '/contexts', '/contexts', { body: { ttlSeconds: -1 } });
  await call('GET', '/contexts/{id}', `/contexts/${id}`);
  await call('GET', '/contexts/{id}', `/contexts/${id}`, { headers: { 'if-none-match': '"1"' } });
  await call('GET', '/contexts/{id}', `/contexts/${id}`, { headers: { 'if-match': '"7"' } });
  await call('PUT', '/contexts/{id}', `/contexts/${id}`, { body: { action: { type: 'deposit', account, amount: 5 } } });
  await call('PUT', '/contexts/{id}', `/contexts/${id}`, { headers: { 'if-match': '"1"' }, body: '{', });
  await call('PUT', '/contexts/{id}', `/contexts/${id}`, { headers: { 'if-match': '"1"', 'content-type': 'text/plain' }, body: '{}' });
  await call('PUT', '/contexts/{id}', `/contexts/${id}`, { headers: { 'if-match': '"1"' }, body: { action: { type: 'deposit', pad: 'x'.repeat(70_000) } } });
  await call('PUT', '/contexts/{id}', `/contexts/${id}`, { headers: { 'if-match': '"1"' }, body: { action: { type: 'nope' } } });
  await call('PUT', '/contexts/{id}', `/contexts/${id}`, { headers: { 'if-match': '"1"' }, body: { action: { type: 'deposit', account: randomUUID(), amount: 5 } } });
  await call('PUT', '/contexts/{id}', `/contexts/${id}`, { headers: { 'if-match': '"1"' }, body: { action: { type: 'deposit', account, amount: 5 } } });
  await call('PUT', '/contexts/{id}', `/contexts/${id}`, { headers: { 'if-match': '"1"' }, body: { action: { type: 'deposit', account, amount: 5 } } });
  await call('PUT', '/contexts/{id}', `/contexts/${id}`, { headers: { 'if-match': '"1"' }, body: { action: { type: 'deposit', account, amount: 6 } } });
  await call('PUT', '/contexts/{id}', `/contexts/${id}`, { headers: { 'if-match': '"2"' }, body: { action: { type: 'deposit', account, amount: 6 } } });
  await call('DELETE', '/contexts/{id}', `/contexts/${id}`, { headers: { 'if-match': '"2"' } });
  await call('PUT', '/contexts/{id}', `/contexts/${randomUUID()}`, {
    headers: { 'if-none-match': '*' },
    body: { action: { type: 'transfer', from: other, to: account, amount: 5 } },
  });
  await call('PUT', '/contexts/{id}', `/contexts/${randomUUID()}`, { headers: { 'if-match': '"1"' }, body: { action: {} } });
  const cancelled = at((await call('POST', '/contexts', '/contexts')).json, 'id');
  await call('DELETE', '/contexts/{id}', `/contexts/${cancelled}`, { headers: { 'if-match': '"9"' } });
  await call('DELETE', '/contexts/{id}', `/contexts/${cancelled}`);
  await call('DELETE', '/contexts/{id}', `/contexts/${cancelled}`, { headers: { 'if-match': '"1"' } });
  await call('GET', '/contexts/{id}', `/contexts/${cancelled}`);

  // An asynchronous payment. No worker runs here, so it stays processing.
  const payment = { action: { type: 'payment', account, amount: 500, source: 'tok_ok' } };
  const paying = at((await call('POST', '/contexts', '/contexts')).json, 'id');
  const accepted = await call('PUT', '/contexts/{id}', `/contexts/${paying}`, { headers: { 'if-match': '"1"' }, body: payment });
  t.is(accepted.status, 202);
  t.is(at(accepted.json, 'state'), 'processing');
  t.is(accepted.headers.get('etag'), '"2"');
  t.is(accepted.headers.get('location'), `/contexts/${paying}`);
  t.truthy(accepted.headers.get('retry-after'));
  t.is(accepted.headers.get('idempotent-replayed'), null);
  const replayed = await call('PUT', '/contexts/{id}', `/contexts/${paying}`, { headers: { 'if-match': '"1"' }, body: payment });
  t.is(replayed.status, 202);
  t.is(replayed.headers.get('idempotent-replayed'), 'true');
  t.is(replayed.text, accepted.text);
  const other409 = await call('PUT', '/contexts/{id}', `/contexts/${paying}`, {
    headers: { 'if-match': '"2"' },
    body: { action: { type: 'deposit', account, amount: 5 } },
  });
  t.is(other409.status, 409);
  t.is((await call('DELETE', '/contexts/{id}', `/contexts/${paying}`, { headers: { 'if-match': '"2"' } })).status, 409);
  const processing = await call('GET', '/contexts/{id}', `/contexts/${paying}`);
  t.is(processing.status, 200);
  t.is(at<number>(processing.json, 'attempts'), 0);
  t.is(at<string | null>(processing.json, 'lastError'), null);
  t.is(processing.headers.get('vary'), 'Prefer');
  const unchanged = await call('GET', '/contexts/{id}', `/contexts/${paying}`, { headers: { prefer: 'wait=1', 'if-none-match': '"2"' } });
  t.is(unchanged.status, 304);
  t.is(unchanged.headers.get('preference-applied'), 'wait=1');
  t.is(unchanged.headers.get('vary'), 'Prefer');
  const listed = await call('GET', '/contexts', '/contexts?state=processing');
  t.is(listed.status, 200);
  t.deepEqual(at<{ id: string }[]>(listed.json, '_embedded', 'contexts').map((context) => context.id), [paying]);
  const createdPaying = await call('PUT', '/contexts/{id}', `/contexts/${randomUUID()}`, { headers: { 'if-none-match': '*' }, body: payment });
  t.is(createdPaying.status, 202);
  t.truthy(createdPaying.headers.get('location'));
  const unknownSource = await call('PUT', '/contexts/{id}', `/contexts/${at((await call('POST', '/contexts', '/contexts')).json, 'id')}`, {
    headers: { 'if-match': '"1"' },
    body: { action: { ...payment.action, source: 'tok_unknown' } },
  });
  t.is(unknownSource.status, 422);
  t.is(at(unknownSource.json, 'type'), problemType('unknown-payment-source'));

  await call('GET', '/contexts', '/contexts');
  await call('GET', '/contexts', '/contexts?state=succeeded&limit=1');
  await call('GET', '/contexts', '/contexts?state=bogus');
  await call('GET', '/accounts/{id}/entries', `/accounts/${account}/entries`);
  await call('GET', '/accounts/{id}/entries', `/accounts/${account}/entries?cursor=bad`);
  await call('GET', '/', '/');
  await call('GET', '/contexts', '/contexts', { key: null });
  await call('GET', '/healthz', '/healthz', { key: null });
  await call('GET', '/readyz', '/readyz', { key: null });
  await call('GET', '/openapi.yaml', '/openapi.yaml', { key: null });
  await call('POST', '/tenants', '/tenants', { key: ADMIN_TOKEN, body: { name: 'spec' } });
  await call('POST', '/tenants', '/tenants', { key: ADMIN_TOKEN, body: {} });
  await call('POST', '/tenants', '/tenants', { body: { name: 'x' } });

  // Idempotency-Key on every POST.
  const keyed = (key: string) => ({ 'idempotency-key': key });
  const accountKey = `acct-${randomUUID()}`;
  const keyedAccount = await call('POST', '/accounts', '/accounts', { headers: keyed(accountKey), body: { name: 'K', currency: 'EUR' } });
  t.is(keyedAccount.status, 201);
  t.truthy(keyedAccount.headers.get('idempotency-key-expires'));
  t.is(keyedAccount.headers.get('idempotent-replayed'), null);
  const accountReplay = await call('POST', '/accounts', '/accounts', { headers: keyed(`"${accountKey}"`), body: { currency: 'EUR', name: 'K' } });
  t.is(accountReplay.status, 201);
  t.is(accountReplay.headers.get('idempotent-replayed'), 'true');
  t.is(accountReplay.headers.get('idempotency-key-expires'), keyedAccount.headers.get('idempotency-key-expires'));
  t.is(accountReplay.text, keyedAccount.text);
  const reused = await call('POST', '/accounts', '/accounts', { headers: keyed(accountKey), body: { name: 'L', currency: 'EUR' } });
  t.is(reused.status, 422);
  t.is(at(reused.json, 'type'), problemType('idempotency-key-reused'));
  const malformed = await call('POST', '/accounts', '/accounts', { headers: keyed('""'), body: { name: 'K', currency: 'EUR' } });
  t.is(malformed.status, 400);
  t.is(at(malformed.json, 'type'), problemType('invalid-idempotency-key'));
  t.is((await call('POST', '/webhooks', '/webhooks', { headers: keyed('x'.repeat(256)), body: { url: 'https://example.com/k' } })).status, 400);
  const hookKey = randomUUID();
  const hook = await call('POST', '/webhooks', '/webhooks', { headers: keyed(hookKey), body: { url: 'https://example.com/k' } });
  t.is(hook.status, 201);
  const hookReplay = await call('POST', '/webhooks', '/webhooks', { headers: keyed(hookKey), body: { url: 'https://example.com/k' } });
  t.is(hookReplay.headers.get('idempotent-replayed'), 'true');
  t.is(hookReplay.text, hook.text);
  t.is((await call('POST', '/webhooks', '/webhooks', { headers: keyed(hookKey), body: { url: 'https://example.com/other' } })).status, 422);
  const tenantKey = randomUUID();
  const keyedTenant = await call('POST', '/tenants', '/tenants', { key: ADMIN_TOKEN, headers: keyed(tenantKey), body: { name: 'spec-keyed' } });
  t.is(keyedTenant.status, 201);
  const tenantReplay = await call('POST', '/tenants', '/tenants', { key: ADMIN_TOKEN, headers: keyed(tenantKey), body: { name: 'spec-keyed' } });
  t.is(tenantReplay.status, 201);
  t.is(tenantReplay.headers.get('idempotent-replayed'), 'true');
  t.is(at(tenantReplay.json, 'id'), at(keyedTenant.json, 'id'));
  t.not(at(tenantReplay.json, 'apiKey'), at(keyedTenant.json, 'apiKey'));
  t.is((await call('POST', '/tenants', '/tenants', { key: ADMIN_TOKEN, headers: keyed(tenantKey), body: { name: 'other' } })).status, 422);
  t.is((await call('POST', '/tenants', '/tenants', { key: ADMIN_TOKEN, headers: keyed('"open'), body: { name: 'x' } })).status, 400);

  // One-shot POST /contexts: create and execute with a key.
  const depositKey = `order-${randomUUID()}`;
  const deposit = { action: { type: 'deposit', account, amount: 3 } };
  const oneShot = await call('POST', '/contexts', '/contexts', { headers: keyed(depositKey), body: deposit });
  t.is(oneShot.status, 201);
  t.like(oneShot.json as object, { state: 'succeeded', idempotencyKey: depositKey });
  t.truthy(oneShot.headers.get('idempotency-key-expires'));
  t.is(oneShot.headers.get('location'), `/contexts/${at(oneShot.json, 'id')}`);
  const oneShotReplay = await call('POST', '/contexts', '/contexts', { headers: keyed(depositKey), body: deposit });
  t.is(oneShotReplay.status, 201);
  t.is(oneShotReplay.headers.get('idempotent-replayed'), 'true');
  t.is(oneShotReplay.text, oneShot.text);
  const keyless = await call('POST', '/contexts', '/contexts', { body: deposit });
  t.is(keyless.status, 400);
  t.is(at(keyless.json, 'type'), problemType('idempotency-key-required'));
  const oneShotReused = await call('POST', '/contexts', '/contexts', { headers: keyed(depositKey), body: { action: { type: 'deposit', account, amount: 4 } } });
  t.is(oneShotReused.status, 422);
  t.is(at(oneShotReused.json, 'type'), problemType('idempotency-key-reused'));
  const oneShotInvalid = await call('POST', '/contexts', '/contexts', { headers: keyed(randomUUID()), body: { action: { type: 'nope' } } });
  t.is(oneShotInvalid.status, 422);
  t.is(at(oneShotInvalid.json, 'type'), problemType('invalid-action'));
  t.is((await call('POST', '/contexts', '/contexts', { headers: keyed(randomUUID()), body: { action: 5 } })).status, 422);
  t.is((await call('POST', '/contexts', '/contexts', { headers: keyed('tab\there') })).status, 400);
  const plainKey = randomUUID();
  const plain = await call('POST', '/contexts', '/contexts', { headers: keyed(plainKey) });
  t.is(plain.status, 201);
  t.is(at<string | null>(plain.json, 'idempotencyKey'), plainKey);
  t.is((await call('POST', '/contexts', '/contexts', { headers: keyed(plainKey), body: {} })).headers.get('idempotent-replayed'), 'true');
  const byKey = await call('GET', '/contexts', `/contexts?idempotencyKey=${encodeURIComponent(depositKey)}`);
  t.is(byKey.status, 200);
  t.deepEqual(at<{ id: string }[]>(byKey.json, '_embedded', 'contexts').map((context) => context.id), [at(oneShot.json, 'id')]);
  t.is((await call('GET', '/contexts', '/contexts?idempotencyKey=')).status, 400);

  // A one-shot payment: 202, replayed as 202 while processing, as the final 200 once finished.
  const paymentKey = randomUUID();
  const acceptedOneShot = await call('POST', '/contexts', '/contexts', { headers: keyed(paymentKey), body: payment });
  t.is(acceptedOneShot.status, 202);
  t.is(at(acceptedOneShot.json, 'state'), 'processing');
  t.is(acceptedOneShot.headers.get('etag'), '"2"');
  t.truthy(acceptedOneShot.headers.get('retry-after'));
  t.truthy(acceptedOneShot.headers.get('location'));
  t.truthy(acceptedOneShot.headers.get('idempotency-key-expires'));
  const acceptedReplay = await call('POST', '/contexts', '/contexts', { headers: keyed(paymentKey), body: payment });
  t.is(acceptedReplay.status, 202);
  t.is(acceptedReplay.headers.get('idempotent-replayed'), 'true');
  t.is(acceptedReplay.text, acceptedOneShot.text);
  await drainJobs(server.database.db, [testWorker(server.database.db)]);
  const finalReplay = await call('POST', '/contexts', '/contexts', { headers: keyed(paymentKey), body: payment });
  t.is(finalReplay.status, 200);
  t.is(finalReplay.headers.get('idempotent-replayed'), 'true');
  t.is(finalReplay.headers.get('etag'), '"3"');
  t.is(at(finalReplay.json, 'state'), 'succeeded');
  t.is(at(finalReplay.json, 'idempotencyKey'), paymentKey);
  t.deepEqual(problems, []);
});

test('operations have ids and the conditional headers they honour', (t) => {
  for (const [method, path] of [
    ['GET', '/contexts/{id}'],
    ['PUT', '/contexts/{id}'],
    ['DELETE', '/contexts/{id}'],
    ['GET', '/admin/tenants/{tenantId}/contexts/{id}'],
    ['POST', '/admin/tenants/{tenantId}/contexts/{id}/retry'],
    ['POST', '/admin/tenants/{tenantId}/contexts/{id}/reconcile'],
    ['POST', '/admin/webhook-deliveries/{id}/redeliver'],
  ] as const) {
    const op = operation(method, path);
    t.truthy(op?.['operationId'], `${method} ${path}`);
    const text = JSON.stringify(op);
    t.true(text.includes('If-Match') || text.includes('IfMatch'), `${method} ${path} documents If-Match`);
  }
});
