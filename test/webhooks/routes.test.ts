import { randomUUID } from 'node:crypto';
import test from 'ava';
import { checkReply } from '../helpers/spec.ts';
import { at, type Reply, type RequestOptions, type TenantClient, withTestServer } from '../helpers/server.ts';

const server = withTestServer(test);

/** Every reply is also checked against openapi.yaml. */
async function call(t: { deepEqual(a: unknown, b: unknown, message?: string): void }, tenant: TenantClient, method: string, template: string, path: string, options: RequestOptions = {}): Promise<Reply> {
  const reply = await tenant.request(method, path, options);
  t.deepEqual(checkReply(method, template, reply), [], `${method} ${path} matches the spec`);
  return reply;
}

test('create → 201 with the secret once; read, list and delete never show it', async (t) => {
  const tenant = await server.newTenant('hooks');
  const created = await call(t, tenant, 'POST', '/webhooks', '/webhooks', { body: { url: 'https://example.com/hooks?x=1' } });
  t.is(created.status, 201);
  const id = at(created.json, 'id');
  const secret = at(created.json, 'secret');
  t.regex(secret, /^whsec_[A-Za-z0-9+/]{43}=$/);
  t.is(created.headers.get('location'), `/webhooks/${id}`);
  t.is(created.headers.get('cache-control'), 'no-store');
  t.is(created.headers.get('content-type'), 'application/hal+json');
  t.like(created.json as object, { url: 'https://example.com/hooks?x=1', _links: { self: { href: `/webhooks/${id}` } } });
  t.regex(at(created.json, 'createdAt'), /^\d{4}-\d\d-\d\dT/);

  const got = await call(t, tenant, 'GET', '/webhooks/{id}', `/webhooks/${id}`);
  t.is(got.status, 200);
  t.deepEqual(got.json, { id, url: 'https://example.com/hooks?x=1', createdAt: at(created.json, 'createdAt'), _links: { self: { href: `/webhooks/${id}` } } });
  t.false(got.text.includes(secret));
  const etag = got.headers.get('etag') ?? '';
  t.is((await call(t, tenant, 'GET', '/webhooks/{id}', `/webhooks/${id}`, { headers: { 'if-none-match': etag } })).status, 304);
  t.is((await call(t, tenant, 'GET', '/webhooks/{id}', `/webhooks/${id}`, { headers: { 'if-match': '"nope"' } })).status, 412);

  const list = await call(t, tenant, 'GET', '/webhooks', '/webhooks');
  t.is(list.status, 200);
  t.is(at<number>(list.json, 'count'), 1);
  t.deepEqual(at(list.json, '_embedded', 'webhooks', 0), got.json);
  t.false(list.text.includes(secret));
  t.is(at(list.json, '_links', 'self', 'href'), '/webhooks?limit=20');

  const stored = await server.database.db.selectFrom('webhook_endpoints').select('secret').where('id', '=', id).executeTakeFirstOrThrow();
  t.is(stored.secret, secret, 'the secret is kept to sign');

  t.is((await call(t, tenant, 'DELETE', '/webhooks/{id}', `/webhooks/${id}`)).status, 204);
  t.is((await call(t, tenant, 'GET', '/webhooks/{id}', `/webhooks/${id}`)).status, 404);
  t.is((await call(t, tenant, 'DELETE', '/webhooks/{id}', `/webhooks/${id}`)).status, 404);
  t.is(at<number>((await call(t, tenant, 'GET', '/webhooks', '/webhooks')).json, 'count'), 0);
});

test('URLs are normalized; anything but an absolute http(s) URL of at most 2000 characters is 422', async (t) => {
  const tenant = await server.newTenant('urls');
  for (const [given, stored] of [
    ['HTTP://Example.COM', 'http://example.com/'],
    ['https://127.0.0.1:8443/a b', 'https://127.0.0.1:8443/a%20b'],
    [`https://example.com/${'a'.repeat(1980)}`, `https://example.com/${'a'.repeat(1980)}`],
  ] as const) {
    const reply = await call(t, tenant, 'POST', '/webhooks', '/webhooks', { body: { url: given } });
    t.is(reply.status, 201, given);
    t.is(at(reply.json, 'url'), stored);
  }
  for (const body of [
    { url: 'ftp://example.com/' },
    { url: 'javascript:alert(1)' },
    { url: 'file:///etc/passwd' },
    { url: 'mailto:a@example.com' },
    { url: '/relative' },
    { url: 'example.com' },
    { url: 'http://' },
    { url: 'https://exa mple.com/' },
    { url: '' },
    { url: `https://example.com/${'a'.repeat(2000)}` },
    { url: `https://example.com/${'ü'.repeat(600)}` }, // 2000 characters only once percent-encoded
    { url: 42 },
    { url: 'https://example.com/\u0000' },
    { url: 'https://example.com/', secret: 'whsec_mine' },
    {},
    [],
  ]) {
    const reply = await call(t, tenant, 'POST', '/webhooks', '/webhooks', { body });
    t.is(reply.status, 422, JSON.stringify(body).slice(0, 80));
    t.is(at(reply.json, 'type'), 'https://idempotence.dev/problems/validation-failed');
  }
  t.is((await call(t, tenant, 'POST', '/webhooks', '/webhooks')).status, 400, 'a body is required');
  t.is((await call(t, tenant, 'POST', '/webhooks', '/webhooks', { body: '{', headers: { 'content-type': 'application/json' } })).status, 400);
  t.is((await call(t, tenant, 'POST', '/webhooks', '/webhooks', { body: 'url=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } })).status, 415);
  t.is((await call(t, tenant, 'POST', '/webhooks', '/webhooks', { body: { url: `https://example.com/${'a'.repeat(70_000)}` } })).status, 413);
  t.is(at<number>((await tenant.request('GET', '/webhooks')).json, 'count'), 3, 'only the valid ones were stored');
});

test('tenants are isolated: unknown, malformed and foreign ids are 404; lists hold only their own', async (t) => {
  const mine = await server.newTenant('mine');
  const theirs = await server.newTenant('theirs');
  const their = at((await theirs.request('POST', '/webhooks', { body: { url: 'https://theirs.example/' } })).json, 'id');
  for (const id of [randomUUID(), 'abc', their, `${their}x`]) {
    t.is((await call(t, mine, 'GET', '/webhooks/{id}', `/webhooks/${id}`)).status, 404, id);
    t.is((await call(t, mine, 'DELETE', '/webhooks/{id}', `/webhooks/${id}`)).status, 404, id);
  }
  t.is(at<number>((await mine.request('GET', '/webhooks')).json, 'count'), 0);
  t.is((await theirs.request('GET', `/webhooks/${their.toUpperCase()}`)).status, 200, 'any letter case');
  t.is((await theirs.request('GET', `/webhooks/${their}`)).status, 200, 'still there');
  t.is((await call(t, mine, 'GET', '/webhooks', '/webhooks', { key: null })).status, 401);
  t.is((await call(t, mine, 'POST', '/webhooks', '/webhooks', { key: 'idem_wrong', body: { url: 'https://x.example/' } })).status, 401);
});

test('lists page with a cursor, validate limit and cursor, and answer 304 to a matching ETag', async (t) => {
  const tenant = await server.newTenant('pages');
  const ids: string[] = [];
  for (let i = 0; i < 5; i++) ids.push(at((await tenant.request('POST', '/webhooks', { body: { url: `https://example.com/${i}` } })).json, 'id'));
  const seen: string[] = [];
  let next: string | undefined = '/webhooks?limit=2';
  let pages = 0;
  while (next) {
    const page = await call(t, tenant, 'GET', '/webhooks', next);
    t.is(page.status, 200);
    seen.push(...at<{ id: string }[]>(page.json, '_embedded', 'webhooks').map((hook) => hook.id));
    next = at<string | undefined>(page.json, '_links', 'next', 'href');
    pages++;
  }
  t.is(pages, 3);
  t.deepEqual(seen, [...ids].reverse(), 'newest first, each once');

  const first = await tenant.request('GET', '/webhooks');
  const etag = first.headers.get('etag') ?? '';
  t.is((await call(t, tenant, 'GET', '/webhooks', '/webhooks', { headers: { 'if-none-match': etag } })).status, 304);
  await tenant.request('DELETE', `/webhooks/${ids[0] ?? ''}`);
  t.is((await call(t, tenant, 'GET', '/webhooks', '/webhooks', { headers: { 'if-none-match': etag } })).status, 200);
  for (const query of ['limit=0', 'limit=101', 'limit=abc', 'limit=1&limit=2', 'cursor=zzz', 'cursor=%27%3B--']) {
    t.is((await call(t, tenant, 'GET', '/webhooks', `/webhooks?${query}`)).status, 400, query);
  }
});
