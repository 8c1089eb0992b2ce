import test from 'ava';
import { sql } from 'kysely';
import { at, withTestServer } from '../helpers/server.ts';

const server = withTestServer(test);

test('GET /contexts pages with a cursor, filters by state, and supports 304', async (t) => {
  const tenant = await server.newTenant('list');
  const account = await tenant.createAccount();
  const open = await tenant.createContext();
  const expired = await tenant.createContext();
  await sql`UPDATE contexts SET expires_at = now() - interval '1 second' WHERE id = ${expired.id}`.execute(server.database.db);
  const cancelled = await tenant.createContext();
  await tenant.request('DELETE', `/contexts/${cancelled.id}`, { headers: { 'if-match': cancelled.etag } });
  const succeeded = at((await tenant.deposit(account, 5)).json, 'id');
  const failedContext = await tenant.createContext();
  await tenant.request('PUT', `/contexts/${failedContext.id}`, {
    headers: { 'if-match': failedContext.etag },
    body: { action: { type: 'transfer', from: account, to: await tenant.createAccount(), amount: 1_000 } },
  });

  const byState = async (state: string) =>
    at<{ id: string }[]>((await tenant.request('GET', `/contexts?state=${state}`)).json, '_embedded', 'contexts').map((c) => c.id);
  t.deepEqual(await byState('open'), [open.id]);
  t.deepEqual(await byState('expired'), [expired.id]);
  t.deepEqual(await byState('cancelled'), [cancelled.id]);
  t.deepEqual(await byState('succeeded'), [succeeded]);
  t.deepEqual(await byState('failed'), [failedContext.id]);

  const all: string[] = [];
  let next: string | undefined = '/contexts?limit=2';
  while (next) {
    const page = await tenant.request('GET', next);
    all.push(...at<{ id: string }[]>(page.json, '_embedded', 'contexts').map((c) => c.id));
    next = at<string | undefined>(page.json, '_links', 'next', 'href');
  }
  t.deepEqual(all, [failedContext.id, succeeded, cancelled.id, expired.id, open.id]);

  // The page is assembled from the stored representations as text: still compact, valid JSON,
  // and each item exactly the context's own representation.
  const whole = await tenant.request('GET', '/contexts');
  t.is(JSON.stringify(whole.json), whole.text);
  const single = await tenant.request('GET', `/contexts/${succeeded}`);
  t.deepEqual(at<unknown[]>(whole.json, '_embedded', 'contexts')[1], single.json);
  t.is(at<number>(whole.json, 'count'), 5);

  const page = await tenant.request('GET', '/contexts?state=open');
  const etag = page.headers.get('etag') ?? '';
  t.is((await tenant.request('GET', '/contexts?state=open', { headers: { 'if-none-match': etag } })).status, 304);
  t.is(at(page.json, '_links', 'self', 'href'), '/contexts?state=open&limit=20');

  for (const query of ['state=done', 'limit=0', 'limit=101', 'limit=1.5', 'cursor=!!', 'state=open&state=failed']) {
    t.is((await tenant.request('GET', `/contexts?${query}`)).status, 400, query);
  }
});

test('another tenant\'s contexts never appear in a list', async (t) => {
  const a = await server.newTenant('a');
  const b = await server.newTenant('b');
  await a.createContext();
  const list = await b.request('GET', '/contexts');
  t.deepEqual(at<unknown[]>(list.json, '_embedded', 'contexts'), []);
});
