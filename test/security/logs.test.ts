// Secrets never reach the logs. The app runs with a pino logger at level trace writing into
// memory; requests carry valid and invalid API keys, the admin token (right and wrong), API keys
// handed out by POST /tenants, Idempotency-Keys, webhook secrets (created and replayed), a broken
// body and an oversized head that both contain a key, and an action that fails with a 500 so the
// error log runs too. Afterwards no key, token or secret appears anywhere in the captured text.
import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import test from 'ava';
import { pino } from 'pino';
import { defaultActions } from '../../src/app.ts';
import { defineAction } from '../../src/actions/registry.ts';
import { generateApiKey } from '../../src/tenants/api-keys.ts';
import { rawExchange } from '../helpers/hostile.ts';
import { ADMIN_TOKEN, at, send, withTestServer } from '../helpers/server.ts';

const captured: string[] = [];
const logger = pino(
  { level: 'trace' },
  new Writable({
    write(chunk: Buffer, _encoding, done) {
      captured.push(chunk.toString('utf8'));
      done();
    },
  }),
);

// An action that fails unexpectedly, to make the error log write.
const failing = defineAction<{ type: 'explode' }>({
  type: 'explode',
  schema: { type: 'object', required: ['type'], properties: { type: { const: 'explode' } }, additionalProperties: false },
  async execute() {
    throw new Error('the action broke');
  },
});

const server = withTestServer(test, { logger, actions: defaultActions().register(failing) }, { logger });

test('no API key, admin token or webhook secret is ever logged, at any level', async (t) => {
  const tenant = server.tenant;
  const secrets: string[] = [tenant.apiKey, ADMIN_TOKEN];

  // A tenant's ordinary work, with and without Idempotency-Keys.
  const account = await tenant.createAccount();
  await tenant.deposit(account, 100);
  for (let i = 0; i < 2; i++) await tenant.request('POST', '/accounts', { headers: { 'idempotency-key': 'acct-1' }, body: { name: 'keyed', currency: 'EUR' } });
  await tenant.request('POST', '/contexts', { headers: { 'idempotency-key': `"one-shot-${account}"` }, body: { action: { type: 'deposit', account, amount: 1 } } });
  await tenant.request('GET', `/contexts?idempotencyKey=one-shot-${account}`);

  // Wrong keys, in every shape.
  const wrongKey = generateApiKey();
  secrets.push(wrongKey);
  for (const authorization of [`Bearer ${wrongKey}`, `Basic ${wrongKey}`, wrongKey, `Bearer ${tenant.apiKey}x`]) {
    t.is((await send(server.base, 'GET', '/accounts', { headers: { authorization } })).status, 401);
  }

  // Tenant administration: the admin token, a wrong one, and the keys it hands out (also on replay).
  const wrongAdmin = `${ADMIN_TOKEN}-wrong`;
  secrets.push(wrongAdmin);
  t.is((await server.request('POST', '/tenants', { key: wrongAdmin, body: { name: 'x' } })).status, 401);
  for (let i = 0; i < 2; i++) {
    const created = await server.request('POST', '/tenants', { key: ADMIN_TOKEN, headers: { 'idempotency-key': 'tenant-a' }, body: { name: 'new' } });
    t.is(created.status, 201);
    secrets.push(at(created.json, 'apiKey'));
  }

  // Webhook secrets: shown on creation and to a keyed retry.
  for (const key of [undefined, 'hook-1', 'hook-1']) {
    const hook = await tenant.request('POST', '/webhooks', { headers: key ? { 'idempotency-key': key } : {}, body: { url: 'https://example.com/hook' } });
    t.is(hook.status, 201);
    secrets.push(at(hook.json, 'secret'));
  }

  // Secrets inside a broken body, and inside an oversized head (answered by the HTTP server itself).
  t.is((await tenant.request('POST', '/accounts', { body: `{"name":"${tenant.apiKey}`, headers: { 'content-type': 'application/json' } })).status, 400);
  const oversized = await rawExchange(server.base, [`GET /accounts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${tenant.apiKey}\r\nX-Pad: ${'p'.repeat(20_000)}\r\n\r\n`]);
  t.regex(oversized.text, /^HTTP\/1\.1 431/);

  // An unexpected failure: the error log.
  const broken = await tenant.request('PUT', `/contexts/${randomUUID()}`, { headers: { 'if-none-match': '*' }, body: { action: { type: 'explode' } } });
  t.is(broken.status, 500);

  await new Promise((resolve) => setTimeout(resolve, 100)); // let the last lines flush
  const text = captured.join('');
  // The capture works and saw every kind of line.
  t.true(captured.length >= 20, `${captured.length} log lines`);
  t.true(text.includes(tenant.id), 'request lines name the tenant');
  t.true(text.includes('"msg":"request"'));
  t.true(text.includes('"msg":"unhandled error"'), 'the error log ran');
  t.true(text.includes('"msg":"client error"'), 'the HTTP server logged the oversized head');
  for (const secret of secrets) {
    t.regex(secret, /^(idem_|whsec_|test-admin-token)/);
    const body = secret.replace(/^(idem_|whsec_)/, '');
    t.false(text.includes(body), `a secret is in the logs: ${secret.slice(0, 10)}…`);
  }
});
