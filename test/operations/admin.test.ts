// The admin API behind the operator console, end to end on a payment rig: a payment parked
// after its attempts is found by id and by tenant, its timeline shows the requests and phases,
// a retry on a stale entity tag is refused (412) and logged, a retry on the tag the operator saw
// runs it again, and the payment ends succeeded.
import test from 'ava';
import { startPaymentRig, type PaymentRig } from '../helpers/payments.ts';
import { ADMIN_TOKEN, at } from '../helpers/server.ts';
import { parkPayment } from '../helpers/parked-payment.ts';

let rig: PaymentRig;
test.before(async () => {
  rig = await startPaymentRig();
});
test.after.always(async () => rig?.close());

const admin = (method: string, path: string, options: { headers?: Record<string, string>; body?: unknown } = {}) =>
  rig.server.request(method, path, { key: ADMIN_TOKEN, ...options });

async function until<T>(what: string, read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 5_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const parkedPayment = () => parkPayment(rig);

test.serial('a parked payment: found, its timeline, a stale retry refused, a retry that finishes it, all in the audit log', async (t) => {
  const { id, path } = await parkedPayment();
  const tenantId = rig.server.tenant.id;

  const byId = await admin('GET', `/admin/contexts?id=${id}`);
  t.is(byId.status, 200);
  t.is(at(byId.json, 'items', 0, 'state'), 'parked');
  t.is(at(byId.json, 'items', 0, 'tenantId'), tenantId);
  const byTenant = await admin('GET', `/admin/contexts?tenant=${tenantId}&state=parked`);
  t.deepEqual((at<{ id: string }[]>(byTenant.json, 'items') ?? []).map((item) => item.id), [id]);

  const attention = await admin('GET', '/admin/attention');
  t.true((at<{ id: string }[]>(attention.json, 'parked') ?? []).some((item) => item.id === id));

  const timeline = await until(
    'the journal',
    () => admin('GET', `${path}/timeline`),
    (reply) => (at<unknown[]>(reply.json, 'entries') ?? []).length >= 5,
  );
  const entries = at<{ kind: string; outcome: string; detail: Record<string, unknown> }[]>(timeline.json, 'entries');
  const outcomes = entries.map((entry) => `${entry.kind}:${entry.outcome}`);
  t.deepEqual(outcomes.slice(0, 2), ['request:created', 'created:created']);
  t.true(outcomes.includes('request:accepted'), outcomes.join(' '));
  t.true(outcomes.includes('request:replayed'), outcomes.join(' '));
  t.true(outcomes.includes('request:precondition-failed'), outcomes.join(' '));
  const parked = entries.find((entry) => entry.kind === 'phase' && entry.outcome === 'parked');
  t.truthy(parked, outcomes.join(' '));
  t.is(parked?.detail['phase'], 'charge');
  t.is(parked?.detail['recoveryPoint'], 'accepted');

  const seen = await admin('GET', path);
  const tag = seen.headers.get('etag') ?? '';
  t.regex(tag, /^"r\d+"$/);
  t.is(at(seen.json, 'entityTag'), tag);
  t.truthy(at(seen.json, '_links', 'retry', 'href'));

  t.is((await admin('POST', `${path}/retry`)).status, 428);
  const stale = await admin('POST', `${path}/retry`, { headers: { 'if-match': '"r1"' }, body: { operator: 'ana', reason: 'processor is back' } });
  t.is(stale.status, 412);
  t.is(stale.headers.get('etag'), tag);
  const retried = await admin('POST', `${path}/retry`, { headers: { 'if-match': tag }, body: { operator: 'ana', reason: 'processor is back' } });
  t.is(retried.status, 200, retried.text);
  t.is(at<number>(retried.json, 'attemptsBefore'), 1);
  t.is(at(retried.json, 'context', 'state'), 'processing');
  // The same retry again: the row changed (due now, attempts 0), so the old tag no longer matches.
  t.is((await admin('POST', `${path}/retry`, { headers: { 'if-match': tag } })).status, 412);

  await rig.drain([rig.worker()]);
  const finished = await admin('GET', path);
  t.is(at(finished.json, 'state'), 'succeeded');
  t.is(at((await rig.server.tenant.request('GET', `/contexts/${id}`)).json, 'state'), 'succeeded');

  const log = await admin('GET', '/admin/audit-log');
  const actions = at<{ action: string; outcome: string; actor: string; target: string; detail: Record<string, unknown> }[]>(log.json, 'items')
    .filter((entry) => entry.target === `context ${id}`)
    .map((entry) => `${entry.action}:${entry.outcome}:${entry.actor}`);
  t.deepEqual(actions, ['retry:stale:operator', 'retry:done:ana', 'retry:stale:ana']);

  const after = await until('the finished timeline', () => admin('GET', `${path}/timeline`), (reply) =>
    at<{ kind: string; outcome: string }[]>(reply.json, 'entries').some((entry) => entry.kind === 'phase' && entry.outcome === 'done'),
  );
  const kinds = at<{ kind: string; outcome: string }[]>(after.json, 'entries').map((entry) => `${entry.kind}:${entry.outcome}`);
  t.true(kinds.includes('operator:retry: done'), kinds.join(' '));
  t.true(kinds.includes('finished:succeeded'), kinds.join(' '));
});

test.serial('the admin API needs the admin token, not a tenant key; bad input is a 4xx', async (t) => {
  t.is((await rig.server.request('GET', '/admin/attention', { key: null })).status, 401);
  t.is((await rig.server.request('GET', '/admin/attention', { key: rig.server.tenant.apiKey })).status, 401);
  t.is((await admin('GET', '/admin/contexts')).status, 400);
  t.is((await admin('GET', '/admin/contexts?id=nope')).status, 400);
  t.is((await admin('GET', '/admin/contexts?tenant=00000000-0000-4000-8000-000000000000&state=weird')).status, 400);
  t.is((await admin('GET', '/admin/tenants/nope/contexts/nope')).status, 404);
  t.is((await admin('POST', '/admin/webhook-deliveries/12/redeliver', { headers: { 'if-match': '*' } })).status, 404);
  t.is((await admin('GET', '/admin/stats/requests?minutes=0')).status, 400);
  t.is((await admin('POST', '/admin/audits', { body: { operator: 'x', extra: 1 } })).status, 422);
});

test.serial('reconcile: a parked payment whose charge never happened is resumed; one held by nobody but finished is 409', async (t) => {
  const { path } = await parkedPayment();
  const seen = await admin('GET', path);
  const reconciled = await admin('POST', `${path}/reconcile`, { headers: { 'if-match': seen.headers.get('etag') ?? '' } });
  t.is(reconciled.status, 200, reconciled.text);
  t.is(at(reconciled.json, 'outcome'), 'resumed');
  await rig.drain([rig.worker()]);
  const done = await admin('GET', path);
  t.is(at(done.json, 'state'), 'succeeded');
  const again = await admin('POST', `${path}/reconcile`, { headers: { 'if-match': done.headers.get('etag') ?? '' } });
  t.is(again.status, 409, again.text);
  t.is(at(again.json, 'type'), 'https://idempotence.dev/problems/operator-action-not-applicable');
});

test.serial('the charts: requests per minute by outcome and contexts by state', async (t) => {
  await parkedPayment();
  const requests = await until('counts', () => admin('GET', '/admin/stats/requests?minutes=5'), (reply) => (at<number[]>(reply.json, 'series', 'replayed') ?? []).some((n) => n > 0));
  t.is(at<string[]>(requests.json, 'minutes').length, 5);
  t.true(at<number[]>(requests.json, 'series', 'precondition-failed').reduce((a, b) => a + b, 0) >= 1);
  const { sampleContextStates } = await import('../../src/operations/sampler.ts');
  await sampleContextStates(rig.server.database.db);
  const states = await admin('GET', `/admin/stats/contexts?minutes=3&tenant=${rig.server.tenant.id}`);
  t.true((at<number[]>(states.json, 'series', 'parked').at(-1) ?? 0) >= 1, states.text);
  t.true(at<boolean[]>(states.json, 'sampled').at(-1) === true);
});

test.serial('a failing webhook endpoint is listed; a delivery is re-delivered on its tag, refused on a stale one', async (t) => {
  const { deliverDueWebhooks } = await import('../../src/webhooks/deliverer.ts');
  const other = await rig.server.newTenant('hooks');
  await other.request('POST', '/webhooks', { body: { url: 'http://127.0.0.1:59999/down' } });
  const account = await other.createAccount('EUR');
  const deposit = await other.deposit(account, 100);
  t.is(deposit.status, 200, deposit.text);
  await deliverDueWebhooks(rig.server.database.db, { timeoutMs: 500 });
  const attention = await admin('GET', '/admin/attention');
  const endpoint = at<{ url: string; failing: number }[]>(attention.json, 'failingEndpoints').find((e) => e.url === 'http://127.0.0.1:59999/down');
  t.is(endpoint?.failing, 1);
  const delivery = at<{ id: number; attempts: number; entityTag: string; contextId: string; _links: { redeliver: { href: string } } }[]>(attention.json, 'failingDeliveries').find(
    (d) => d.contextId === at(deposit.json, 'id'),
  );
  if (!delivery) throw new Error('the failing delivery is not listed');
  t.is(delivery.attempts, 1);
  const seen = await admin('GET', `/admin/webhook-deliveries/${delivery.id}`);
  t.is(seen.headers.get('etag'), delivery.entityTag);
  t.is((await admin('POST', delivery._links.redeliver.href, { headers: { 'if-match': '"r2"' } })).status, 412);
  const again = await admin('POST', delivery._links.redeliver.href, { headers: { 'if-match': delivery.entityTag }, body: { reason: 'endpoint fixed' } });
  t.is(again.status, 200, again.text);
  t.is(at<number>(again.json, 'attemptsBefore'), 1);
  t.is(at<number>(again.json, 'delivery', 'attempts'), 0);
  const timeline = await admin('GET', `/admin/tenants/${other.id}/contexts/${delivery.contextId}/timeline`);
  const kinds = at<{ kind: string; outcome: string }[]>(timeline.json, 'entries').map((e) => `${e.kind}:${e.outcome}`);
  t.true(kinds.includes('operator:redeliver: done'), kinds.join(' '));
  t.true(kinds.includes('webhook:queued'), kinds.join(' '));
});
