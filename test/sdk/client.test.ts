// The SDK against a live server, processor and worker: typed calls, executeAction on both
// idempotent paths, the long-poll of a payment, and its retries under injected faults (a lost
// response, a slow one, a 503), which must replay rather than execute twice.
import { randomUUID } from 'node:crypto';
import test from 'ava';
import {
  createIdempotenceClient,
  executeAction,
  ProblemError,
  type IdempotenceClient,
  type IdempotenceClientOptions,
} from '../../sdk/index.ts';
import { withPaymentRig } from '../helpers/payments.ts';

const useRig = withPaymentRig(test);

interface Sent {
  method: string;
  url: string;
  headers: Headers;
  body: string;
}

/**
 * A client whose fetch records every request; `intercept` may answer a request itself or
 * misbehave around the real fetch (`pass`), which performs it against the server.
 */
function sdk(intercept?: (request: Request, pass: () => Promise<Response>, index: number) => Promise<Response>) {
  const sent: Sent[] = [];
  const fetch: NonNullable<IdempotenceClientOptions['fetch']> = async (request) => {
    sent.push({ method: request.method, url: request.url, headers: new Headers(request.headers), body: await request.clone().text() });
    const pass = () => globalThis.fetch(request);
    return intercept ? intercept(request, pass, sent.length - 1) : pass();
  };
  const client = createIdempotenceClient({ baseUrl: useRig().server.base, apiKey: useRig().server.tenant.apiKey, fetch });
  return { client, sent };
}

async function openAccount(client: IdempotenceClient, name: string): Promise<string> {
  const { data, error } = await client.POST('/accounts', { body: { name, currency: 'EUR' } });
  if (!data) throw new Error(`POST /accounts: ${JSON.stringify(error)}`);
  return data.id;
}

async function balance(client: IdempotenceClient, id: string): Promise<number> {
  const { data } = await client.GET('/accounts/{id}', { params: { path: { id } } });
  if (!data) throw new Error(`GET /accounts/${id} failed`);
  return data.balance;
}

/** The executing request of executeAction: PUT /contexts/{id} or the one-shot POST /contexts. */
const isExecute = (request: Request) =>
  (request.method === 'PUT' || request.method === 'POST') && new URL(request.url).pathname.startsWith('/contexts');

test('accounts are created and read through the typed client, with the bearer key added', async (t) => {
  const { client, sent } = sdk();
  const { data, response } = await client.POST('/accounts', { body: { name: 'Alice', currency: 'EUR' } });
  t.is(response.status, 201);
  if (!data) return t.fail('no account');
  t.is(data.currency, 'EUR');
  t.is(data.balance, 0);
  const read = await client.GET('/accounts/{id}', { params: { path: { id: data.id } } });
  t.is(read.data?.name, 'Alice');
  t.is(sent[0]?.headers.get('authorization'), `Bearer ${useRig().server.tenant.apiKey}`);
});

test('a deposit by PUT with If-None-Match: * executes once; the same call again replays it', async (t) => {
  const { client, sent } = sdk();
  const alice = await openAccount(client, 'Alice');
  const contextId = randomUUID();
  const first = await executeAction(client, { contextId, action: { type: 'deposit', account: alice, amount: 10_000 } });
  t.is(first.context.id, contextId);
  t.is(first.context.state, 'succeeded');
  t.false(first.replayed);
  t.is(first.attempts, 1);
  const put = sent.find((request) => request.method === 'PUT');
  t.is(put?.url, `${useRig().server.base}/contexts/${contextId}`);
  t.is(put?.headers.get('if-none-match'), '*');

  const again = await executeAction(client, { contextId, action: { type: 'deposit', account: alice, amount: 10_000 } });
  t.true(again.replayed);
  t.deepEqual(again.context, first.context);
  t.is(await balance(client, alice), 10_000);
});

test('without a contextId, executeAction picks a fresh UUID of its own', async (t) => {
  const { client } = sdk();
  const alice = await openAccount(client, 'Alice');
  const one = await executeAction(client, { action: { type: 'deposit', account: alice, amount: 1 } });
  const two = await executeAction(client, { action: { type: 'deposit', account: alice, amount: 1 } });
  t.regex(one.context.id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  t.not(one.context.id, two.context.id);
  t.is(await balance(client, alice), 2);
});

test('a transfer with an Idempotency-Key goes through the one-shot POST /contexts; the same key replays', async (t) => {
  const { client, sent } = sdk();
  const [alice, bob] = [await openAccount(client, 'Alice'), await openAccount(client, 'Bob')];
  await executeAction(client, { action: { type: 'deposit', account: alice, amount: 5_000 } });
  const idempotencyKey = `transfer-${randomUUID()}`;
  const action = { type: 'transfer', from: alice, to: bob, amount: 2_500 } as const;

  const first = await executeAction(client, { idempotencyKey, action });
  t.is(first.context.state, 'succeeded');
  t.is(first.context.idempotencyKey, idempotencyKey);
  t.false(first.replayed);
  const post = sent.find((request) => request.method === 'POST' && request.url.endsWith('/contexts'));
  t.is(post?.headers.get('idempotency-key'), idempotencyKey);

  const again = await executeAction(client, { idempotencyKey, action });
  t.true(again.replayed);
  t.is(again.context.id, first.context.id);
  t.deepEqual([await balance(client, alice), await balance(client, bob)], [2_500, 2_500]);
});

test('a payment answers 202, and executeAction long-polls it to the final succeeded context', async (t) => {
  const { client, sent } = sdk();
  const bob = await openAccount(client, 'Bob');
  const result = await executeAction(client, { action: { type: 'payment', account: bob, amount: 1_999, source: 'tok_ok' }, waitSeconds: 10 });
  t.is(result.context.state, 'succeeded');
  t.is(result.context.version, 3);
  t.false(result.replayed);
  t.is(result.attempts, 1);
  const paid = result.context.result;
  t.true(paid !== null && 'charge' in paid && typeof paid.charge === 'string');

  // The 202 was followed by long-polls of that context, conditional on the tag the 202 carried.
  const polls = sent.filter((request) => request.method === 'GET' && request.url.endsWith(`/contexts/${result.context.id}`));
  t.true(polls.length >= 1);
  t.is(polls[0]?.headers.get('prefer'), 'wait=10');
  t.is(polls[0]?.headers.get('if-none-match'), '"2"');
  t.is(await balance(client, bob), 1_999);
});

test('a one-shot payment with an Idempotency-Key is followed to its end too; a declined card is an outcome, not an exception', async (t) => {
  const { client } = sdk();
  const bob = await openAccount(client, 'Bob');
  const result = await executeAction(client, {
    idempotencyKey: `pay-${randomUUID()}`,
    action: { type: 'payment', account: bob, amount: 500, source: 'tok_declined' },
  });
  t.is(result.context.state, 'failed');
  t.is(result.context.error?.type, 'https://idempotence.dev/problems/payment-declined');
  t.is(await balance(client, bob), 0);
});

for (const path of ['PUT If-None-Match', 'Idempotency-Key'] as const) {
  test(`a lost response is retried with the identical request and replayed, with one effect (${path})`, async (t) => {
    let executes = 0;
    const { client, sent } = sdk(async (request, pass) => {
      const response = await pass();
      if (!isExecute(request) || ++executes > 1) return response;
      // The server executed and answered; the answer never arrives.
      await response.arrayBuffer();
      throw new TypeError('fetch failed: connection reset');
    });
    const alice = await openAccount(client, 'Alice');
    const result = await executeAction(client, {
      action: { type: 'deposit', account: alice, amount: 700 },
      retry: { attempts: 3, baseDelayMs: 5 },
      ...(path === 'Idempotency-Key' ? { idempotencyKey: `lost-${randomUUID()}` } : {}),
    });
    t.true(result.replayed);
    t.is(result.attempts, 2);
    t.is(result.context.state, 'succeeded');
    const tries = sent.filter((recorded) => recorded.method === (path === 'Idempotency-Key' ? 'POST' : 'PUT') && recorded.url.includes('/contexts'));
    t.is(tries.length, 2);
    t.is(tries[1]?.url, tries[0]?.url);
    t.is(tries[1]?.body, tries[0]?.body);
    for (const name of ['if-none-match', 'idempotency-key']) t.is(tries[1]?.headers.get(name), tries[0]?.headers.get(name));
    t.is(await balance(client, alice), 700);
  });
}

test('an answer slower than timeoutMs counts as lost: the retry replays it', async (t) => {
  let executes = 0;
  const { client } = sdk(async (request, pass) => {
    const response = await pass();
    if (!isExecute(request) || ++executes > 1) return response;
    // Executed, but the answer is held until the client gives up waiting for it.
    return new Promise<Response>((_resolve, reject) => {
      if (request.signal.aborted) return reject(request.signal.reason);
      request.signal.addEventListener('abort', () => reject(request.signal.reason), { once: true });
    });
  });
  const alice = await openAccount(client, 'Alice');
  const result = await executeAction(client, {
    action: { type: 'deposit', account: alice, amount: 300 },
    retry: { attempts: 3, baseDelayMs: 5 },
    timeoutMs: 2_000, // generous: only the held first answer may run into it, not a slow machine
  });
  t.is(result.attempts, 2);
  t.true(result.replayed);
  t.is(await balance(client, alice), 300);
});

test('a 422 is thrown as a ProblemError at once, never retried', async (t) => {
  const { client, sent } = sdk();
  const error = await t.throwsAsync(
    executeAction(client, { action: { type: 'deposit', account: randomUUID(), amount: 1 }, retry: { attempts: 5, baseDelayMs: 5 } }),
    { instanceOf: ProblemError },
  );
  t.is(error?.status, 422);
  t.is(error?.type, 'https://idempotence.dev/problems/unknown-account');
  t.is(error?.title, 'Unknown account');
  t.regex(error?.detail ?? '', /no account/);
  t.regex(error?.instance ?? '', /^\/contexts\/[0-9a-f-]{36}$/);
  t.is(sent.length, 1);
});

test('a 503 with Retry-After: 0 is retried, and the retry executes (nothing had happened)', async (t) => {
  let refused = 0;
  const { client, sent } = sdk(async (request, pass) => {
    if (isExecute(request) && request.url.includes('/contexts') && refused === 0) {
      refused++;
      const problem = { type: 'https://idempotence.dev/problems/service-unavailable', title: 'Service temporarily unavailable', status: 503, instance: new URL(request.url).pathname };
      return new Response(JSON.stringify(problem), { status: 503, headers: { 'content-type': 'application/problem+json', 'retry-after': '0' } });
    }
    return pass();
  });
  const alice = await openAccount(client, 'Alice');
  const started = Date.now();
  // A long backoff proves Retry-After, not the backoff, set the pause.
  const result = await executeAction(client, { action: { type: 'deposit', account: alice, amount: 42 }, retry: { attempts: 3, baseDelayMs: 20_000 } });
  t.true(Date.now() - started < 5_000);
  t.is(result.attempts, 2);
  t.false(result.replayed);
  t.is(result.context.state, 'succeeded');
  t.is(sent.filter((request) => request.method === 'PUT').length, 2);
  t.is(await balance(client, alice), 42);
});

test('when every try answers 5xx, the last problem is thrown after retry.attempts tries', async (t) => {
  const { client, sent } = sdk(async () =>
    new Response(JSON.stringify({ type: 'https://idempotence.dev/problems/internal-error', title: 'Internal server error', status: 500, instance: '/contexts' }), {
      status: 500,
      headers: { 'content-type': 'application/problem+json' },
    }),
  );
  const error = await t.throwsAsync(
    executeAction(client, { action: { type: 'deposit', account: randomUUID(), amount: 1 }, retry: { attempts: 3, baseDelayMs: 1 } }),
    { instanceOf: ProblemError },
  );
  t.is(error?.status, 500);
  t.is(sent.length, 3);
});

test('a 429 is retried after its Retry-After, like a 503: the refused request had done nothing', async (t) => {
  let refused = 0;
  const { client, sent } = sdk(async (request, pass) => {
    if (isExecute(request) && request.url.includes('/contexts') && refused === 0) {
      refused++;
      const problem = { type: 'https://idempotence.dev/problems/too-many-requests', title: 'Too many requests', status: 429, instance: new URL(request.url).pathname };
      return new Response(JSON.stringify(problem), {
        status: 429,
        headers: { 'content-type': 'application/problem+json', 'retry-after': '0', ratelimit: '"tenant";r=0;t=0' },
      });
    }
    return pass();
  });
  const alice = await openAccount(client, 'Alice');
  const started = Date.now();
  const result = await executeAction(client, { action: { type: 'deposit', account: alice, amount: 17 }, retry: { attempts: 3, baseDelayMs: 20_000 } });
  t.true(Date.now() - started < 5_000, 'Retry-After, not the backoff, set the pause');
  t.is(result.attempts, 2);
  t.false(result.replayed);
  t.is(sent.filter((request) => request.method === 'PUT').length, 2);
  t.is(await balance(client, alice), 17);
});
