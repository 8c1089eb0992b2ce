// Tenant isolation, walked over every route of the app: the routes come from createRouters (as in
// test/openapi.test.ts), so a new route is covered as soon as it exists. Every route with an id
// is called with another tenant's existing ids (each kind of context, account, webhook) and the
// intruder's key, with and without preconditions: the answer is 404, and the owner's data is
// exactly as before. Routes without ids never show the owner's data, and Idempotency-Keys are
// per tenant.
import { randomUUID } from 'node:crypto';
import test from 'ava';
import { pino } from 'pino';
import { createRouters } from '../../src/app.ts';
import { PUBLIC_PATHS } from '../../src/http/auth.ts';
import { snapshotState } from '../helpers/hostile.ts';
import { at, type RequestOptions, type TenantClient, withTestServer } from '../helpers/server.ts';

const server = withTestServer(test);

interface Route {
  method: string;
  path: string;
}

function routes(): Route[] {
  const routers = createRouters({
    pool: server.database.pool,
    db: server.database.db,
    config: { adminToken: undefined, contextTtlSeconds: 60 },
    logger: pino({ level: 'silent' }),
  });
  const found: Route[] = [];
  for (const router of routers) {
    for (const layer of router.stack) for (const method of layer.methods) if (method !== 'HEAD') found.push({ method, path: String(layer.path) });
  }
  return found;
}

interface OwnerData {
  owner: TenantClient;
  ids: Record<string, string[]>;
  /** The owner's current ETag of each id, to send as a precondition. */
  etags: Map<string, string>;
  idempotencyKey: string;
}

async function ownerWithData(): Promise<OwnerData> {
  const owner = await server.newTenant('owner');
  const funded = await owner.createAccount();
  const other = await owner.createAccount();
  const executed = at((await owner.deposit(funded, 1_000)).json, 'id');
  const open = await owner.createContext();
  const cancelled = await owner.createContext();
  await owner.request('DELETE', `/contexts/${cancelled.id}`, { headers: { 'if-match': cancelled.etag } });
  const processing = await owner.createContext();
  await owner.request('PUT', `/contexts/${processing.id}`, { headers: { 'if-match': processing.etag }, body: { action: { type: 'payment', account: other, amount: 10, source: 'tok_ok' } } });
  const idempotencyKey = `owner-key-${randomUUID()}`;
  const oneShot = at((await owner.request('POST', '/contexts', { headers: { 'idempotency-key': idempotencyKey }, body: { action: { type: 'deposit', account: other, amount: 1 } } })).json, 'id');
  const webhook = at((await owner.request('POST', '/webhooks', { body: { url: 'https://owner.example/hook' } })).json, 'id');
  const ids: Record<string, string[]> = {
    contexts: [open.id, executed, cancelled.id, processing.id, oneShot],
    accounts: [funded, other],
    webhooks: [webhook],
  };
  const etags = new Map<string, string>();
  for (const [resource, list] of Object.entries(ids)) {
    for (const id of list) etags.set(id, (await owner.request('GET', `/${resource}/${id}`)).headers.get('etag') ?? '"1"');
  }
  return { owner, ids, etags, idempotencyKey };
}

test('every route with an id answers another tenant\'s ids with 404, and the owner\'s data stays as it was', async (t) => {
  const { owner, ids, etags } = await ownerWithData();
  const intruder = await server.newTenant('intruder');
  const intruderAccount = await intruder.createAccount();
  const before = await snapshotState(server.database.pool, owner.id);

  // The admin API is not a tenant's: no tenant key opens it (the next test). The console's files hold no data.
  const withIds = routes().filter((route) => route.path.includes(':') && !route.path.startsWith('/admin/') && !route.path.startsWith('/console/'));
  t.true(withIds.length >= 7, JSON.stringify(withIds));
  let calls = 0;
  for (const route of withIds) {
    const resource = route.path.split('/')[1] ?? '';
    const theirs = ids[resource];
    if (!theirs) {
      t.fail(`${route.method} ${route.path}: no ids of the owner for "${resource}"; add them to ownerWithData`);
      continue;
    }
    for (const id of theirs) {
      const path = route.path.replace(/:\w+/g, id);
      const etag = etags.get(id) ?? '"1"';
      const action = (account: string) => ({ action: { type: 'deposit', account, amount: 1 } });
      const variants: RequestOptions[] = [
        {},
        { headers: { 'if-match': etag } },
        { headers: { 'if-match': '*' } },
        { headers: { 'if-none-match': etag } },
      ];
      if (route.method === 'PUT' || route.method === 'POST' || route.method === 'PATCH') {
        for (const variant of [...variants]) {
          variants.push({ ...variant, body: action(theirs === ids['accounts'] ? id : (ids['accounts']?.[0] ?? '')) }, { ...variant, body: action(intruderAccount) });
        }
      }
      for (const options of variants) {
        const reply = await intruder.request(route.method, path, options);
        calls++;
        t.is(reply.status, 404, `${route.method} ${path} ${JSON.stringify(options)} → ${reply.status} ${reply.text.slice(0, 200)}`);
        t.is(reply.headers.get('etag'), null, 'no validator of the owner\'s resource leaks');
      }
    }
  }
  t.deepEqual(await snapshotState(server.database.pool, owner.id), before, 'the owner\'s data did not change');
  t.log(`${calls} calls on ${withIds.length} routes`);
});

test('If-None-Match: * on another tenant\'s context id creates the intruder\'s own context; the owner\'s is untouched', async (t) => {
  const { owner, ids } = await ownerWithData();
  const intruder = await server.newTenant('intruder');
  const account = await intruder.createAccount();
  const before = await snapshotState(server.database.pool, owner.id);
  const theirs = ids['contexts']?.[0] ?? '';
  const created = await intruder.request('PUT', `/contexts/${theirs}`, { headers: { 'if-none-match': '*' }, body: { action: { type: 'deposit', account, amount: 7 } } });
  t.is(created.status, 201);
  t.is(await intruder.balance(account), 7);
  t.deepEqual(await snapshotState(server.database.pool, owner.id), before);
  t.is(at((await owner.request('GET', `/contexts/${theirs}`)).json, 'state'), 'open', 'the owner\'s context is still open');
});

test('routes without ids never show another tenant\'s data, and Idempotency-Keys are per tenant', async (t) => {
  const { owner, ids, idempotencyKey } = await ownerWithData();
  const intruder = await server.newTenant('intruder');
  await intruder.createAccount();
  const ownerIds = Object.values(ids).flat();
  const before = await snapshotState(server.database.pool, owner.id);
  for (const route of routes().filter((candidate) => !candidate.path.includes(':') && candidate.method === 'GET' && !PUBLIC_PATHS.has(candidate.path))) {
    for (const query of ['', `?idempotencyKey=${encodeURIComponent(idempotencyKey)}`, '?state=open', '?limit=100']) {
      const reply = await intruder.request('GET', `${route.path}${query}`);
      t.true(reply.status < 500, `${route.path}${query}`);
      for (const id of ownerIds) t.false(reply.text.includes(id), `GET ${route.path}${query} shows the owner's ${id}`);
    }
  }
  t.is(at<number>((await intruder.request('GET', `/contexts?idempotencyKey=${encodeURIComponent(idempotencyKey)}`)).json, 'count'), 0);

  // The owner's key, with the owner's very body: a new request of the intruder, not a replay.
  const account = ids['accounts']?.[1] ?? '';
  const sameKey = await intruder.request('POST', '/contexts', { headers: { 'idempotency-key': idempotencyKey }, body: { action: { type: 'deposit', account, amount: 1 } } });
  t.is(sameKey.status, 422, 'the owner\'s account is unknown to the intruder');
  t.is(sameKey.headers.get('idempotent-replayed'), null);
  for (const [path, body] of [['/accounts', { name: 'n', currency: 'EUR' }], ['/webhooks', { url: 'https://owner.example/hook' }], ['/contexts', undefined]] as const) {
    const reply = await intruder.request('POST', path, { headers: { 'idempotency-key': idempotencyKey }, ...(body ? { body } : {}) });
    t.is(reply.status, 201, path);
    t.is(reply.headers.get('idempotent-replayed'), null, path);
    t.false(ownerIds.includes(at(reply.json, 'id')), `${path}: a new resource of the intruder`);
  }
  t.deepEqual(await snapshotState(server.database.pool, owner.id), before);
});

test('no tenant key opens the admin API: every /admin route answers a tenant 401, and nothing changes', async (t) => {
  const { owner, ids } = await ownerWithData();
  const context = ids['contexts']?.[0] ?? '';
  const before = await snapshotState(server.database.pool, owner.id);
  const admin = routes().filter((route) => route.path.startsWith('/admin/'));
  t.true(admin.length >= 10, JSON.stringify(admin));
  for (const route of admin) {
    const path = route.path.replace(':tenantId', owner.id).replace(':id', route.path.includes('webhook') ? '1' : context);
    for (const client of [owner, await server.newTenant('someone')]) {
      const reply = await client.request(route.method, path, { headers: { 'if-match': '*' }, ...(route.method === 'POST' ? { body: {} } : {}) });
      t.is(reply.status, 401, `${route.method} ${path} with a tenant key: ${reply.text}`);
    }
  }
  t.deepEqual(await snapshotState(server.database.pool, owner.id), before);
});
