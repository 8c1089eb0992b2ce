// A generic hypermedia client (ketting) drives the API from `GET /` by following links only: it
// never builds a URL. Two things ketting does not do by itself are shown here: the API key, sent by
// a fetch middleware, and the ETag preconditions — passed as a header to resource.put() for
// `execute`, and added by a second fetch middleware for `cancel` (resource.delete() takes no
// options).
import test from 'ava';
import { Ketting, Problem, type FetchMiddleware, type Resource, type State } from 'ketting';
import { withTestServer } from '../helpers/server.ts';

const server = withTestServer(test);

interface Account {
  id: string;
  name: string;
  balance: number;
}

interface Context {
  id: string;
  state: string;
  version: number;
  result: { entries?: { amount: number }[] } | null;
}

/** `Authorization: Bearer <key>` on every request of the client. */
const bearer = (apiKey: string): FetchMiddleware => (request, next) => {
  request.headers.set('Authorization', `Bearer ${apiKey}`);
  return next(request);
};

/**
 * Optimistic concurrency for methods ketting gives no header option: remembers the ETag of each
 * GET and sends it as If-Match on a DELETE or PUT of the same URL that carries no precondition.
 */
function ifMatchLastSeen(): FetchMiddleware {
  const seen = new Map<string, string>();
  return async (request, next) => {
    const unsafe = request.method === 'DELETE' || request.method === 'PUT';
    const tag = seen.get(request.url);
    if (unsafe && tag && !request.headers.has('If-Match') && !request.headers.has('If-None-Match')) request.headers.set('If-Match', tag);
    const response = await next(request);
    const etag = response.headers.get('ETag');
    if (request.method === 'GET' && etag) seen.set(request.url, etag);
    return response;
  };
}

function client(apiKey: string): Ketting {
  const ketting = new Ketting(`${server.base}/`);
  ketting.use(bearer(apiKey));
  ketting.use(ifMatchLastSeen());
  return ketting;
}

/** POSTs to the `contexts` link, follows Location to the new context, reads it. */
async function newContext(api: Ketting): Promise<{ context: Resource<Context>; state: State<Context> }> {
  const contexts = await api.follow('contexts');
  const context: Resource<Context> = await contexts.postFollow({ data: {} });
  return { context, state: await context.get() };
}

/** Follows the context's `execute` link and PUTs the action with the context's ETag as If-Match. */
async function execute(api: Ketting, action: Record<string, unknown>): Promise<{ state: State<Context>; sentETag: string }> {
  const { context, state } = await newContext(api);
  const etag = state.headers.get('etag');
  if (!etag) throw new Error('a context is served with an ETag');
  await state.follow('execute').put({ headers: { 'If-Match': etag }, data: { action } });
  return { state: await context.refresh(), sentETag: etag };
}

async function status(promise: Promise<unknown>): Promise<number | undefined> {
  try {
    await promise;
    return undefined;
  } catch (error) {
    return error instanceof Problem ? error.status : -1;
  }
}

test('a HAL client opens accounts, deposits, transfers and cancels by following links only', async (t) => {
  const api = client(server.tenant.apiKey);

  const accounts = await api.follow<Account>('accounts');
  const alice: Resource<Account> = await accounts.postFollow({ data: { name: 'Alice', currency: 'EUR' } });
  const bob: Resource<Account> = await accounts.postFollow({ data: { name: 'Bob', currency: 'EUR' } });
  const aliceId = (await alice.get()).data.id;
  const bobId = (await bob.get()).data.id;

  const { state: deposit } = await execute(api, { type: 'deposit', account: aliceId, amount: 10_000 });
  t.is(deposit.data.state, 'succeeded');
  t.is(deposit.data.version, 2);
  t.false(deposit.links.has('execute'), 'an executed context offers no execute link');
  t.false(deposit.links.has('cancel'));

  const move = { type: 'transfer', from: aliceId, to: bobId, amount: 2_500 };
  const { state: transfer, sentETag } = await execute(api, move);
  t.is(transfer.data.state, 'succeeded');
  t.deepEqual(transfer.data.result?.entries?.map((entry) => entry.amount), [-2_500, 2_500]);

  // The same PUT again (its response lost, say) replays; another action on that ETag is refused.
  const self = transfer.follow('self');
  await self.put({ headers: { 'If-Match': sentETag }, data: { action: move } });
  t.is(await status(self.put({ headers: { 'If-Match': sentETag }, data: { action: { ...move, amount: 1 } } })), 412);

  // Cancel: follow `cancel`; the If-Match comes from the middleware, which saw the context's ETag.
  const { context: doomed, state: open } = await newContext(api);
  t.true(open.links.has('cancel'));
  const cancel = open.follow('cancel');
  await cancel.delete();
  t.is(await status(doomed.refresh()), 410);

  // Balances, by links: root → accounts → each embedded account → its entries.
  const list = await (await api.follow('accounts')).refresh();
  const balances = new Map<string, number>();
  for (const account of list.followAll<Account>('accounts')) {
    const state = await account.refresh();
    balances.set(state.data.name, state.data.balance);
  }
  t.deepEqual(Object.fromEntries(balances), { Alice: 7_500, Bob: 2_500 });

  // Entries carry no `self` link, so ketting does not surface them as embedded resources: read
  // the page behind the `entries` link as it is.
  const entries = await alice.follow('entries');
  const page = (await (await entries.fetchOrThrow()).json()) as { count: number; _embedded: { entries: { amount: number }[] } };
  t.is(page.count, 2);
  t.deepEqual(page._embedded.entries.map((entry) => entry.amount), [-2_500, 10_000]);
});

test('without the key the client gets the 401 problem', async (t) => {
  const anonymous = new Ketting(`${server.base}/`);
  t.is(await status(anonymous.go().get()), 401);
});
