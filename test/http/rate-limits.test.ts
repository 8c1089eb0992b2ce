// Request rates per tenant and per administrator, and failed authentications per client address:
// 429 problem+json with Retry-After and the draft's RateLimit fields, before any database work.
import { randomUUID } from 'node:crypto';
import test, { type ExecutionContext } from 'ava';
import { problemType } from '../../src/http/problems.ts';
import { limitedServer, waitRetryAfter } from '../helpers/rate-limits.ts';
import { ADMIN_TOKEN, at, type Reply } from '../helpers/server.ts';
import { checkReply } from '../helpers/spec.ts';

function assertTooMany(t: ExecutionContext, reply: Reply, policy: string, rateLimit: RegExp): void {
  t.is(reply.status, 429, reply.text);
  t.is(reply.headers.get('content-type'), 'application/problem+json');
  t.is(at(reply.json, 'type'), problemType('too-many-requests'));
  t.deepEqual(at<string[]>(reply.json, 'violated-policies'), [policy.split(';')[0]?.slice(1, -1) ?? '']);
  t.true(at<string>(reply.json, 'detail').length > 20, 'a detail that says what to do');
  t.regex(reply.headers.get('retry-after') ?? '', /^[1-9][0-9]*$/);
  t.true((reply.headers.get('ratelimit-policy') ?? '').includes(policy), `RateLimit-Policy ${reply.headers.get('ratelimit-policy')} names ${policy}`);
  t.regex(reply.headers.get('ratelimit') ?? '', rateLimit);
}

test('a tenant over its rate is answered 429 with Retry-After and RateLimit fields, and served again after the window', async (t) => {
  const server = await limitedServer(t, { tenantRequestsPerSecond: 2, windowSeconds: 2 }); // q = 4 per 2 s
  const tenant = server.tenant;
  const replies: Reply[] = [];
  for (let i = 0; i < 6; i++) replies.push(await tenant.request('GET', '/accounts'));
  t.deepEqual(replies.map((reply) => reply.status), [200, 200, 200, 200, 429, 429]);
  t.is(replies[0]?.headers.get('ratelimit'), null, 'no fields while more than half the quota is left');
  t.regex(replies[3]?.headers.get('ratelimit') ?? '', /^"tenant";r=0;t=[12]$/, 'the last request of the window says none is left');
  const refused = replies[4] as Reply;
  assertTooMany(t, refused, '"tenant";q=4;w=2', /^"tenant";r=0;t=[12]$/);
  t.is(refused.headers.get('retry-after'), /;t=(\d+)/.exec(refused.headers.get('ratelimit') ?? '')?.[1] ?? null, 'Retry-After is the end of the window');
  t.deepEqual(checkReply('GET', '/accounts', refused), [], 'the 429 is the documented one');
  await waitRetryAfter(refused);
  t.is((await tenant.request('GET', '/accounts')).status, 200, 'the window has passed');
});

test('a refused request changes nothing: a one-shot PUT answered 429 creates no context and moves no money', async (t) => {
  const server = await limitedServer(t, { tenantRequestsPerSecond: 1, windowSeconds: 3 }); // q = 3 per 3 s
  const tenant = server.tenant;
  const account = await tenant.createAccount(); // 1
  t.is((await tenant.request('GET', `/accounts/${account}`)).status, 200); // 2
  t.is((await tenant.request('GET', '/accounts')).status, 200); // 3
  const id = randomUUID();
  const put = () =>
    tenant.request('PUT', `/contexts/${id}`, { headers: { 'if-none-match': '*' }, body: { action: { type: 'deposit', account, amount: 700 } } });
  const refused = await put();
  assertTooMany(t, refused, '"tenant";q=3;w=3', /^"tenant";r=0;t=[1-3]$/);
  t.deepEqual(checkReply('PUT', '/contexts/{id}', refused), []);
  const rows = await server.database.db.selectFrom('contexts').select('id').where('tenant_id', '=', tenant.id).execute();
  t.deepEqual(rows, [], 'no context was written');
  const balance = async () => (await server.database.db.selectFrom('accounts').select('balance').where('id', '=', account).executeTakeFirstOrThrow()).balance;
  t.is(await balance(), 0, 'no money moved');
  await waitRetryAfter(refused);
  t.is((await tenant.request('GET', `/contexts/${id}`)).status, 404);
  const retried = await put();
  t.is(retried.status, 201, 'the same request after the window executes');
  t.is(await balance(), 700);
});

test('one tenant over its rate does not limit another', async (t) => {
  const server = await limitedServer(t, { tenantRequestsPerSecond: 1, windowSeconds: 5 }); // q = 5 per 5 s
  const [a, b] = [server.tenant, await server.newTenant('other')];
  for (let i = 0; i < 5; i++) t.is((await a.request('GET', '/accounts')).status, 200);
  t.is((await a.request('GET', '/accounts')).status, 429);
  for (let i = 0; i < 5; i++) t.is((await b.request('GET', '/accounts')).status, 200, `tenant B, request ${i + 1}`);
  t.is((await b.request('GET', '/accounts')).status, 429, 'and B has a quota of its own');
  t.is((await server.request('GET', '/healthz')).status, 200, 'paths without a key are not limited');
});

test('the administrator has a rate of its own, separate from the tenants', async (t) => {
  const server = await limitedServer(t, { adminRequestsPerSecond: 1, tenantRequestsPerSecond: 1, windowSeconds: 3 });
  const create = (name: string) => server.request('POST', '/tenants', { key: ADMIN_TOKEN, body: { name } });
  for (const name of ['a', 'b', 'c']) t.is((await create(name)).status, 201);
  const refused = await create('d');
  assertTooMany(t, refused, '"admin";q=3;w=3', /^"admin";r=0;t=[1-3]$/);
  t.deepEqual(checkReply('POST', '/tenants', refused), []);
  const names = await server.database.db.selectFrom('tenants').select('name').where('name', '=', 'd').execute();
  t.deepEqual(names, [], 'the refused request created no tenant');
  t.is((await server.tenant.request('GET', '/accounts')).status, 200, 'tenants are not limited by the administrator');
});

test('wrong admin tokens from one address are answered 429 after the configured number, the right token too, until the window passes', async (t) => {
  const server = await limitedServer(t, { authFailures: 10, authFailureWindowSeconds: 3 });
  const statuses: number[] = [];
  let last: Reply | undefined;
  for (let i = 0; i < 30; i++) {
    last = await server.request('POST', '/tenants', { key: `wrong-admin-token-${i}-0123456789`, body: { name: 'x' } });
    statuses.push(last.status);
  }
  t.deepEqual(statuses, [...Array<number>(10).fill(401), ...Array<number>(20).fill(429)]);
  assertTooMany(t, last as Reply, '"auth-failures";q=10;w=3', /^"auth-failures";r=0;t=[1-3]$/);
  t.deepEqual(checkReply('POST', '/tenants', last as Reply), []);
  const right = await server.request('POST', '/tenants', { key: ADMIN_TOKEN, body: { name: 'blocked' } });
  t.is(right.status, 429, 'while the address is blocked no token is checked, not even the right one');
  t.is((await server.request('GET', '/accounts')).status, 401, 'a request without credentials is still told what to send');
  await waitRetryAfter(last as Reply);
  const after = await server.request('POST', '/tenants', { key: ADMIN_TOKEN, body: { name: 'after' } });
  t.is(after.status, 201, 'the right token works once the window has passed');
  const tenants = await server.database.db.selectFrom('tenants').select('name').where('name', 'in', ['x', 'blocked', 'after']).execute();
  t.deepEqual(tenants.map((row) => row.name), ['after']);
});

test('wrong API keys count too; a key that worked in this process before is still checked while its address is blocked', async (t) => {
  // No key cache: every request looks its key up, so what passes is the limiter's own memory.
  const server = await limitedServer(t, { authFailures: 3, authFailureWindowSeconds: 3 }, { authCacheTtlSeconds: 0 });
  const tenant = server.tenant;
  t.is((await tenant.request('GET', '/accounts')).status, 200, 'this key has worked here');
  const fresh = await server.newTenant('never used');
  const wrong = () => tenant.request('GET', '/accounts', { key: `idem_${randomUUID()}` });
  t.deepEqual([(await wrong()).status, (await wrong()).status, (await wrong()).status, (await wrong()).status], [401, 401, 401, 429]);
  const malformed = await tenant.request('GET', '/accounts', { headers: { authorization: 'Basic eDp5' }, key: null });
  t.is(malformed.status, 429, 'a malformed Authorization header is a failure too');
  t.is((await tenant.request('GET', '/accounts')).status, 200, 'a key known to be valid is checked as usual');
  const unknown = await fresh.request('GET', '/accounts');
  t.is(unknown.status, 429, 'a key this process has not seen work is not looked up');
  t.deepEqual(checkReply('GET', '/accounts', unknown), []);
  await waitRetryAfter(unknown);
  t.is((await fresh.request('GET', '/accounts')).status, 200, 'after the window it is');
});
