// Who may use the admin API (the ADMIN_TOKEN only; nobody when it is not configured), its
// limits, and the console's public files — every reply checked against openapi.yaml.
import { randomUUID } from 'node:crypto';
import test from 'ava';
import { limitedServer } from '../helpers/rate-limits.ts';
import { specCaller as caller } from '../helpers/spec-caller.ts';
import { ADMIN_TOKEN, at, startTestServer, withTestServer } from '../helpers/server.ts';

const server = withTestServer(test);

test.serial('the admin API takes the ADMIN_TOKEN only; the console files need none', async (t) => {
  const { call, done } = caller(t, () => server);
  for (const key of [null, server.tenant.apiKey, `${ADMIN_TOKEN}x`]) {
    const refused = await call('GET', '/admin/attention', '/admin/attention', { key });
    t.is(refused.status, 401);
    t.regex(refused.headers.get('www-authenticate') ?? '', /^Bearer realm="api"/);
  }
  t.is((await call('HEAD', '/admin/tenants', '/admin/tenants', { key: null })).status, 401);
  const action = await call('POST', '/admin/tenants/{tenantId}/contexts/{id}/retry', `/admin/tenants/${randomUUID()}/contexts/${randomUUID()}/retry`, {
    key: server.tenant.apiKey,
    headers: { 'if-match': '*' },
  });
  t.is(action.status, 401);

  const page = await call('GET', '/console', '/console', { key: null });
  t.is(page.status, 200);
  t.regex(page.headers.get('content-type') ?? '', /^text\/html/);
  t.regex(page.headers.get('content-security-policy') ?? '', /default-src 'self'/);
  t.is((await call('HEAD', '/console', '/console', { key: null })).status, 200);
  for (const asset of ['uplot.js', 'uplot.css']) {
    const file = await call('GET', '/console/{asset}', `/console/${asset}`, { key: null });
    t.is(file.status, 200, asset);
    t.regex(file.headers.get('content-type') ?? '', asset.endsWith('.js') ? /^text\/javascript/ : /^text\/css/);
  }
  t.is((await call('HEAD', '/console/{asset}', '/console/uplot.js', { key: null })).status, 200);
  for (const asset of ['app.js', 'api.js', 'console.css']) {
    t.is((await call('GET', '/console/{asset}', `/console/${asset}`, { key: null })).status, 200, asset);
  }
  t.is((await call('GET', '/console/{asset}', '/console/secrets.js', { key: null })).status, 404);
  t.is((await call('HEAD', '/console/{asset}', '/console/secrets.js', { key: null })).status, 404);
  done();
});

test.serial('without ADMIN_TOKEN there is no administration: 404 to everyone', async (t) => {
  const off = await startTestServer({ config: { adminToken: undefined, contextTtlSeconds: 86_400 } });
  t.teardown(() => off.close());
  const { call, done } = caller(t, () => off);
  for (const [method, template, path] of [
    ['GET', '/admin/attention', '/admin/attention'],
    ['HEAD', '/admin/attention', '/admin/attention'],
    ['GET', '/admin/contexts', `/admin/contexts?id=${randomUUID()}`],
    ['GET', '/admin/tenants/{tenantId}/contexts/{id}', `/admin/tenants/${randomUUID()}/contexts/${randomUUID()}`],
    ['POST', '/admin/audits', '/admin/audits'],
    ['POST', '/admin/tenants/{tenantId}/contexts/{id}/retry', `/admin/tenants/${randomUUID()}/contexts/${randomUUID()}/retry`],
  ] as const) {
    t.is((await call(method, template, path)).status, 404, `${method} ${path}`);
    t.is((await call(method, template, path, { key: null })).status, 404, `${method} ${path} without a token`);
  }
  t.is((await call('GET', '/console', '/console', { key: null })).status, 200, 'the page is served all the same');
  done();
});

test.serial('the admin API runs under the administrator\'s limits: 429 with Retry-After and RateLimit fields', async (t) => {
  const limited = await limitedServer(t, { adminRequestsPerSecond: 1, windowSeconds: 3 });
  const { call, done } = caller(t, () => limited);
  for (let i = 0; i < 3; i++) t.is((await call('GET', '/admin/attention', '/admin/attention')).status, 200);
  const refused = await call('GET', '/admin/tenants', '/admin/tenants');
  t.is(refused.status, 429);
  t.truthy(refused.headers.get('retry-after'));
  t.regex(refused.headers.get('ratelimit') ?? '', /^"admin";r=0;t=[1-3]$/);
  t.deepEqual(at(refused.json, 'violated-policies'), ['admin']);
  t.is((await call('HEAD', '/admin/tenants', '/admin/tenants')).status, 429);
  t.is((await call('POST', '/admin/audits', '/admin/audits')).status, 429);
  done();
});
