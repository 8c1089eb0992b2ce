// The README walk-through (README.md, between `walkthrough:start` and `walkthrough:end`), spoken
// through the fetch client that @hey-api/openapi-ts generates from openapi.yaml instead of curl.
// generators.test.ts copies this file next to a freshly generated client (`#generated/…`, see
// generated-client.d.ts), compiles both under strict settings, runs the JavaScript against a
// live server and checks the answers it reports. Nothing here knows the service beyond what the
// generated code offers: paths, conditional headers and problem bodies all go through it.
import { createClient, createConfig } from '#generated/client/index.js';
import { createAccount, createContext, executeContext, getAccount, getContext } from '#generated/index.js';

// The generated types, reached through the generated functions (in the repository they are
// untyped, see generated-client.d.ts): what a call answers when it does not throw.
type Answered<F extends (...args: never[]) => unknown> = Extract<Awaited<ReturnType<F>>, { error: unknown }>;
type ContextBody = NonNullable<Answered<typeof getContext>['data']>;
type ExecuteProblem = NonNullable<Answered<typeof executeContext>['error']>;

// Compile-time checks of the generated types: a problem's `type` takes any URI, such as a host's
// own problem type (not only those of this service, and never `never`), and a context's recorded
// `error` can be such a problem.
const hostsOwnType: ExecuteProblem['type'] = 'https://shop.example/problems/out-of-stock';
export const hostsOwnProblem: ContextBody['error'] = { type: hostsOwnType, title: 'Out of stock', status: 422, detail: 'None left.' };

/** What one answer said, as far as the walk-through looks at it. */
export interface Answer {
  status: number;
  etag: string | null;
  location: string | null;
  replayed: boolean;
  /** `state` and `version` of a context in the body (`version` of an account too). */
  state: string | null;
  version: number | null;
  /** `type` and `currentETag` of a problem in the body. */
  problemType: string | null;
  currentETag: string | null;
}

export interface WalkthroughReport {
  answers: Record<string, Answer>;
  balances: Record<string, { balance: number; version: number }>;
  /** Whether each replay carried the body of the answer it replays (as parsed by the client). */
  sameBody: Record<string, boolean>;
}

export type Walkthrough = (baseUrl: string, apiKey: string, options: { withPayment: boolean }) => Promise<WalkthroughReport>;

const REQUEST_TIMEOUT_MS = 15_000;

function observe(
  result: { response: Response },
  body: { state?: string; version?: number } | undefined,
  problem: { type: string; currentETag?: unknown } | undefined,
): Answer {
  const currentETag = problem?.['currentETag'];
  return {
    status: result.response.status,
    etag: result.response.headers.get('etag'),
    location: result.response.headers.get('location'),
    replayed: result.response.headers.get('idempotent-replayed') === 'true',
    state: body?.state ?? null,
    version: body?.version ?? null,
    problemType: problem?.type ?? null,
    currentETag: typeof currentETag === 'string' ? currentETag : null,
  };
}

export const walkthrough: Walkthrough = async (baseUrl, apiKey, { withPayment }) => {
  // A client of its own (not the generated module's shared one): the base URL of the live server
  // instead of the spec's development default, and the tenant key for the bearer scheme.
  const client = createClient(createConfig({ baseUrl, auth: apiKey }));
  const answers: Record<string, Answer> = {};
  const balances: Record<string, { balance: number; version: number }> = {};
  const sameBody: Record<string, boolean> = {};
  const bounded = () => ({ client, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });

  // Two accounts. Amounts are integers in minor units (cents).
  const accounts: Record<string, string> = {};
  for (const name of ['Alice', 'Bob']) {
    const opened = await createAccount({ ...bounded(), body: { name, currency: 'EUR' } });
    answers[`open ${name}`] = observe(opened, opened.data, opened.error);
    if (!opened.data) throw new Error(`opening ${name}: ${opened.response.status}`);
    accounts[name] = opened.data.id;
  }
  const alice = accounts['Alice'] ?? '';
  const bob = accounts['Bob'] ?? '';

  // A deposit in two steps: create a context (201, ETag "1"), then PUT the action with If-Match.
  const created = await createContext({ ...bounded() });
  answers['create context'] = observe(created, created.data, created.error);
  if (!created.data) throw new Error(`creating a context: ${created.response.status}`);
  const context = created.data.id;
  const deposit = await executeContext({
    ...bounded(),
    path: { id: context },
    headers: { 'If-Match': created.response.headers.get('etag') ?? '' },
    body: { action: { type: 'deposit', account: alice, amount: 10_000 } },
  });
  answers['deposit'] = observe(deposit, deposit.data, deposit.error);

  // A transfer in one request: pick the context id yourself; If-None-Match: * means "create it".
  const transferId = crypto.randomUUID();
  const transfer = () =>
    executeContext({
      ...bounded(),
      path: { id: transferId },
      headers: { 'If-None-Match': '*' },
      body: { action: { type: 'transfer', from: alice, to: bob, amount: 2500 } },
    });
  const transferred = await transfer();
  answers['transfer'] = observe(transferred, transferred.data, transferred.error);
  // The response was lost? Send exactly the same request again: the recorded outcome, no second transfer.
  const transferReplay = await transfer();
  answers['transfer replay'] = observe(transferReplay, transferReplay.data, transferReplay.error);
  sameBody['transfer replay'] = JSON.stringify(transferReplay.data) === JSON.stringify(transferred.data);

  // A different action against a validator that is no longer current: refused, as a problem.
  const stale = await executeContext({
    ...bounded(),
    path: { id: context },
    headers: { 'If-Match': '"1"' },
    body: { action: { type: 'deposit', account: alice, amount: 1 } },
  });
  answers['stale If-Match'] = observe(stale, stale.data, stale.error);

  const readBalances = async (label: string) => {
    for (const [name, id] of Object.entries(accounts)) {
      const read = await getAccount({ ...bounded(), path: { id } });
      answers[`read ${name} ${label}`] = observe(read, read.data, read.error);
      if (read.data) balances[`${name} ${label}`] = { balance: read.data.balance, version: read.data.version };
    }
  };
  await readBalances('after the transfer');

  // Clients that only know Idempotency-Key: one POST creates the context and executes; a retry replays.
  const oneShot = () =>
    createContext({
      ...bounded(),
      headers: { 'Idempotency-Key': `top-up-${alice}` },
      body: { action: { type: 'deposit', account: alice, amount: 500 } },
    });
  const topUp = await oneShot();
  answers['one-shot'] = observe(topUp, topUp.data, topUp.error);
  const topUpReplay = await oneShot();
  answers['one-shot replay'] = observe(topUpReplay, topUpReplay.data, topUpReplay.error);
  sameBody['one-shot replay'] = JSON.stringify(topUpReplay.data) === JSON.stringify(topUp.data);
  await readBalances('after the one-shot');

  if (withPayment) {
    // A card payment is asynchronous: 202 at once, then a worker charges the card and credits Bob.
    const paymentId = crypto.randomUUID();
    const accepted = await executeContext({
      ...bounded(),
      path: { id: paymentId },
      headers: { 'If-None-Match': '*' },
      body: { action: { type: 'payment', account: bob, amount: 1999, source: 'tok_ok' } },
    });
    answers['payment'] = observe(accepted, accepted.data, accepted.error);
    // Long-poll (Prefer: wait=N, RFC 7240) instead of polling: answered as soon as the payment ends.
    const final = await getContext({
      ...bounded(),
      path: { id: paymentId },
      headers: { Prefer: 'wait=10', 'If-None-Match': accepted.response.headers.get('etag') ?? '"2"' },
    });
    answers['long-poll'] = observe(final, final.data, final.error);
    await readBalances('after the payment');
  }
  return { answers, balances, sameBody };
};
