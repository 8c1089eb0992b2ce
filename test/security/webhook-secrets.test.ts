// A webhook's signing secret is shown once, in the answer to the POST that created it (and to a
// keyed retry of that very POST, which stands for the lost answer). No other answer of the API —
// GET /webhooks on every page, GET /webhooks/{id}, conditional and HEAD reads, DELETE, or any
// other GET route — contains a secret or the `whsec_` prefix, and neither do the events queued
// for delivery.
import test from 'ava';
import { pino } from 'pino';
import { createRouters } from '../../src/app.ts';
import { at, type Reply, withTestServer } from '../helpers/server.ts';

const server = withTestServer(test);

test('webhook secrets never appear after creation', async (t) => {
  const tenant = await server.newTenant('hooks');
  const secrets: string[] = [];
  const ids: string[] = [];
  for (const key of [undefined, undefined, 'hook-a', 'hook-a', 'hook-b']) {
    const created = await tenant.request('POST', '/webhooks', { headers: key ? { 'idempotency-key': key } : {}, body: { url: `https://example.com/${key ?? ids.length}` } });
    t.is(created.status, 201);
    t.regex(at(created.json, 'secret'), /^whsec_/, 'the creating answer shows it');
    t.is(created.headers.get('cache-control'), 'no-store');
    secrets.push(at(created.json, 'secret'));
    if (!ids.includes(at(created.json, 'id'))) ids.push(at(created.json, 'id'));
  }
  t.is(ids.length, 4);
  // A final state queues a delivery to every endpoint.
  const account = await tenant.createAccount();
  await tenant.deposit(account, 5);

  const replies: [string, Reply][] = [];
  const read = async (method: string, path: string, headers: Record<string, string> = {}) => {
    const reply = await tenant.request(method, path, { headers });
    replies.push([`${method} ${path} ${JSON.stringify(headers)}`, reply]);
    return reply;
  };
  // Every page of the list.
  let next: string | undefined = '/webhooks?limit=1';
  let pages = 0;
  while (next) {
    const page = await read('GET', next);
    t.is(page.status, 200);
    await read('GET', next, { 'if-none-match': page.headers.get('etag') ?? '' });
    next = at<string | undefined>(page.json, '_links', 'next', 'href');
    pages++;
  }
  t.is(pages, 4);
  for (const id of ids) {
    const one = await read('GET', `/webhooks/${id}`);
    t.is(one.status, 200);
    t.deepEqual(Object.keys(one.json as object).sort(), ['_links', 'createdAt', 'id', 'url']);
    await read('HEAD', `/webhooks/${id}`);
    await read('GET', `/webhooks/${id}`, { 'if-none-match': '"nope"' });
  }
  // Every other GET route of the app, with the tenant's ids in its parameters.
  const routers = createRouters({ pool: server.database.pool, db: server.database.db, config: { adminToken: undefined, contextTtlSeconds: 60 }, logger: pino({ level: 'silent' }) });
  for (const router of routers) {
    for (const layer of router.stack) {
      if (!layer.methods.includes('GET')) continue;
      const path = String(layer.path);
      const filled = path.startsWith('/webhooks/') ? path.replace(/:\w+/, ids[0] ?? '') : path.startsWith('/accounts/') ? path.replace(/:\w+/, account) : path;
      if (!filled.includes(':')) await read('GET', filled);
    }
  }
  const { rows } = await server.database.pool.query<{ payload: string }>('SELECT payload FROM webhook_deliveries WHERE tenant_id = $1', [tenant.id]);
  t.is(rows.length, 4, 'one queued event per endpoint');
  for (const { payload } of rows) t.false(payload.includes('whsec_'), 'a queued event carries a secret');
  const deleted = await read('DELETE', `/webhooks/${ids[0] ?? ''}`);
  t.is(deleted.status, 204);

  t.true(replies.length >= 20, `${replies.length} answers checked`);
  for (const [label, reply] of replies) {
    const everything = `${reply.text}\n${JSON.stringify([...reply.headers])}`;
    // The spec documents the format with an example secret; it is no tenant's.
    if (!/ \/(openapi\.yaml|docs) /.test(label)) t.false(everything.includes('whsec_'), `${label} shows a secret`);
    for (const secret of secrets) t.false(everything.includes(secret.slice('whsec_'.length)), `${label} shows a secret`);
  }
});
