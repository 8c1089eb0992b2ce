// The admin API (/admin/…), live against openapi.yaml (serially: the
// tests share the jobs and the audit log): every answer —
// success and refusal — has a documented status and matches its schema, and the operator
// actions keep the If-Match contract (428 without, 412 when stale with the current ETag, 200
// with the entity tag the GET showed, 409 when the row is as seen but the action does not apply).
import { randomUUID } from 'node:crypto';
import test from 'ava';
import { pino } from 'pino';
import { defaultActions } from '../../src/app.ts';
import { problemType } from '../../src/http/problems.ts';
import { OperationsJournal } from '../../src/operations/journal.ts';
import { journalPhases } from '../../src/operations/phase-events.ts';
import type { PaymentProcessor } from '../../src/payments/action.ts';
import { drainJobs, testWorker } from '../helpers/payments.ts';
import { specCaller as caller } from '../helpers/spec-caller.ts';
import { at, type Reply, withTestServer } from '../helpers/server.ts';

/** A processor that never answers conclusively: every charge's outcome is unknown, so a job with one attempt is parked. */
const unanswering: PaymentProcessor = {
  async createCharge() {
    return { kind: 'unknown', reason: 'the processor did not answer in time' };
  },
  async getCharge() {
    return { kind: 'not-found' };
  },
  async listCharges() {
    return { charges: [] };
  },
};

const server = withTestServer(test, { actions: defaultActions({ processor: unanswering }) });

type Json = Record<string, unknown>;

/** A payment accepted for `tenant` and run once by a worker whose processor never answers: parked. */
async function parkedPayment(): Promise<{ tenantId: string; id: string }> {
  const tenant = await server.newTenant('parking');
  const account = await tenant.createAccount();
  const context = await tenant.createContext();
  const accepted = await tenant.request('PUT', `/contexts/${context.id}`, {
    headers: { 'if-match': context.etag },
    body: { action: { type: 'payment', account, amount: 500, source: 'tok_ok' } },
  });
  if (accepted.status !== 202) throw new Error(`payment: ${accepted.status} ${accepted.text}`);
  const journal = new OperationsJournal({ db: server.database.db, logger: pino({ level: 'silent' }) });
  const worker = testWorker(server.database.db, { processor: unanswering, maxAttempts: 1, observePhase: journalPhases(journal) });
  await drainJobs(server.database.db, [worker]);
  await journal.close();
  return { tenantId: tenant.id, id: context.id };
}

/** Reads until `ready` holds for the reply (the API's journal writes its batch a moment after the request). */
async function eventually(read: () => Promise<Reply>, ready: (reply: Reply) => boolean, timeoutMs = 5_000): Promise<Reply> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const reply = await read();
    if (ready(reply) || Date.now() > deadline) return reply;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

test.serial('a parked job is found, read with its entity tag, and retried only with the current tag', async (t) => {
  const { call, done } = caller(t, () => server);
  const { tenantId, id } = await parkedPayment();
  const self = `/admin/tenants/${tenantId}/contexts/${id}`;

  const found = await call('GET', '/admin/contexts', `/admin/contexts?id=${id}`);
  t.is(found.status, 200);
  t.is(found.headers.get('cache-control'), 'no-store');
  const [listed] = at<Json[]>(found.json, 'items');
  t.like(listed, { tenantId, id, state: 'parked', type: 'payment', attempts: 1, runAfter: null });
  t.truthy(at(listed, '_links', 'retry', 'href'));
  t.false(listed !== undefined && 'action' in listed, 'lists leave the detail out');
  const inTenant = await call('GET', '/admin/contexts', `/admin/contexts?tenant=${tenantId}&state=parked&limit=1`);
  t.deepEqual(at<Json[]>(inTenant.json, 'items').map((item) => item['id']), [id]);
  t.is((await call('GET', '/admin/contexts', `/admin/contexts?tenant=${tenantId}&state=processing`)).status, 200);

  const read = await call('GET', '/admin/tenants/{tenantId}/contexts/{id}', self);
  t.is(read.status, 200);
  const tag = at(read.json, 'entityTag');
  t.regex(tag, /^"r\d+"$/);
  t.is(read.headers.get('etag'), tag);
  t.is(read.headers.get('content-location'), self);
  t.like(read.json as Json, { state: 'parked', responseStatus: 202, recoveryPoint: 'accepted' });
  t.is((await call('GET', '/admin/tenants/{tenantId}/contexts/{id}', self, { headers: { 'if-none-match': tag } })).status, 304);
  t.is((await call('GET', '/admin/tenants/{tenantId}/contexts/{id}', self, { headers: { 'if-match': '"r1"' } })).status, 412);
  t.is((await call('HEAD', '/admin/tenants/{tenantId}/contexts/{id}', self)).headers.get('etag'), tag);

  const timeline = await eventually(
    () => call('GET', '/admin/tenants/{tenantId}/contexts/{id}/timeline', `${self}/timeline`),
    (reply) => at<Json[]>(reply.json, 'entries')?.some((entry) => entry['kind'] === 'request') ?? false,
  );
  t.is(timeline.status, 200);
  const kinds = at<Json[]>(timeline.json, 'entries').map((entry) => `${String(entry['kind'])} ${String(entry['outcome'])}`);
  // The request that created it comes first (stamped when it arrived), then the creation itself.
  t.deepEqual(kinds.slice(0, 2), ['request created', 'created created']);
  t.true(kinds.includes('request accepted'), kinds.join(', '));
  t.true(kinds.includes('phase parked'), kinds.join(', '));

  // The action: 428 without If-Match, 412 with a stale tag (the current one in ETag), 200 with the tag read.
  const unconditional = await call('POST', '/admin/tenants/{tenantId}/contexts/{id}/retry', `${self}/retry`);
  t.is(unconditional.status, 428);
  // On a context that does not exist, no If-Match is a 404, as on /contexts/{id}.
  t.is((await call('POST', '/admin/tenants/{tenantId}/contexts/{id}/retry', `/admin/tenants/${tenantId}/contexts/${randomUUID()}/retry`)).status, 404);
  t.is(at(unconditional.json, 'type'), problemType('precondition-required'));
  const stale = await call('POST', '/admin/tenants/{tenantId}/contexts/{id}/retry', `${self}/retry`, { headers: { 'if-match': '"r1"' } });
  t.is(stale.status, 412);
  t.is(stale.headers.get('etag'), tag);
  t.is((await call('POST', '/admin/tenants/{tenantId}/contexts/{id}/retry', `${self}/retry`, { headers: { 'if-match': tag }, body: { operator: '' } })).status, 422);
  const retried = await call('POST', '/admin/tenants/{tenantId}/contexts/{id}/retry', `${self}/retry`, {
    headers: { 'if-match': tag },
    body: { operator: 'alice', reason: 'the processor answers again' },
  });
  t.is(retried.status, 200);
  t.like(retried.json as Json, { outcome: 'due-now', attemptsBefore: 1 });
  t.like(at<Json>(retried.json, 'context'), { state: 'processing', attempts: 0 });
  const after = at(retried.json, 'context', 'entityTag');
  t.not(after, tag, 'the retry wrote the row: a new entity tag');
  // The tag read before is stale now; the new one is current, but the job is no longer parked.
  t.is((await call('POST', '/admin/tenants/{tenantId}/contexts/{id}/retry', `${self}/retry`, { headers: { 'if-match': tag } })).status, 412);
  const notParked = await call('POST', '/admin/tenants/{tenantId}/contexts/{id}/retry', `${self}/retry`, { headers: { 'if-match': after } });
  t.is(notParked.status, 409);
  t.is(at(notParked.json, 'type'), problemType('operator-action-not-applicable'));
  t.is((await call('POST', '/admin/tenants/{tenantId}/contexts/{id}/retry', `${self}/retry`, { headers: { 'if-match': '*' } })).status, 409);

  // Reconcile: the processor has no such charge, so the job is resumed (due now, attempts from zero).
  const reconciled = await call('POST', '/admin/tenants/{tenantId}/contexts/{id}/reconcile', `${self}/reconcile`, { headers: { 'if-match': after } });
  t.is(reconciled.status, 200);
  t.like(reconciled.json as Json, { outcome: 'resumed' });
  t.is((await call('POST', '/admin/tenants/{tenantId}/contexts/{id}/reconcile', `${self}/reconcile`, { headers: { 'if-match': after } })).status, 412);

  // Ids that name nothing.
  t.is((await call('POST', '/admin/tenants/{tenantId}/contexts/{id}/retry', `/admin/tenants/${tenantId}/contexts/${randomUUID()}/retry`, { headers: { 'if-match': '*' } })).status, 404);
  t.is((await call('POST', '/admin/tenants/{tenantId}/contexts/{id}/reconcile', `/admin/tenants/${tenantId}/contexts/nope/reconcile`, { headers: { 'if-match': '*' } })).status, 404);
  t.is((await call('GET', '/admin/tenants/{tenantId}/contexts/{id}', `/admin/tenants/${randomUUID()}/contexts/${id}`)).status, 404);
  t.is((await call('GET', '/admin/tenants/{tenantId}/contexts/{id}/timeline', `/admin/tenants/${tenantId}/contexts/x/timeline`)).status, 404);

  // Every action, allowed or refused, is in the audit log (428 is not: nothing was asked of the row).
  const log = await call('GET', '/admin/audit-log', '/admin/audit-log?limit=100');
  t.is(log.status, 200);
  const mine = at<Json[]>(log.json, 'items').filter((entry) => entry['target'] === `context ${id}`);
  t.deepEqual(mine.map((entry) => `${String(entry['action'])} ${String(entry['outcome'])}`).reverse(), [
    'retry stale',
    'retry done',
    'retry stale',
    'retry not-applicable',
    'retry not-applicable',
    'reconcile done',
    'reconcile stale',
  ]);
  t.like(mine.at(-2), { actor: 'alice', ifMatch: tag, tenantId });
  const withOperator = await call('GET', '/admin/tenants/{tenantId}/contexts/{id}/timeline', `${self}/timeline`);
  t.true(at<Json[]>(withOperator.json, 'entries').some((entry) => entry['kind'] === 'operator' && entry['outcome'] === 'retry: done'));
  done();
});

test.serial('webhook deliveries are read with their entity tag and sent again only with the current one', async (t) => {
  const { call, done } = caller(t, () => server);
  const tenant = await server.newTenant('hooks');
  t.is((await tenant.request('POST', '/webhooks', { body: { url: 'https://example.com/admin-spec' } })).status, 201);
  const account = await tenant.createAccount();
  const deposited = await tenant.deposit(account, 7);
  const contextId = at(deposited.json, 'id');
  const timeline = await call('GET', '/admin/tenants/{tenantId}/contexts/{id}/timeline', `/admin/tenants/${tenant.id}/contexts/${contextId}/timeline`);
  const [delivery] = at<Json[]>(timeline.json, 'deliveries');
  t.like(delivery, { contextId, eventType: 'context.succeeded', attempts: 0, deliveredAt: null });
  t.true(at<Json[]>(timeline.json, 'entries').some((entry) => entry['kind'] === 'finished' && entry['outcome'] === 'succeeded'));
  t.true(at<Json[]>(timeline.json, 'entries').some((entry) => entry['kind'] === 'webhook' && entry['outcome'] === 'queued'));
  const path = `/admin/webhook-deliveries/${String(delivery?.['id'])}`;

  const read = await call('GET', '/admin/webhook-deliveries/{id}', path);
  t.is(read.status, 200);
  const tag = at(read.json, 'entityTag');
  t.is(read.headers.get('etag'), tag);
  t.is((await call('GET', '/admin/webhook-deliveries/{id}', path, { headers: { 'if-none-match': tag } })).status, 304);
  t.is((await call('GET', '/admin/webhook-deliveries/{id}', '/admin/webhook-deliveries/abc')).status, 404);
  t.is((await call('GET', '/admin/webhook-deliveries/{id}', '/admin/webhook-deliveries/999999999999')).status, 404);

  t.is((await call('POST', '/admin/webhook-deliveries/{id}/redeliver', `${path}/redeliver`)).status, 428);
  const stale = await call('POST', '/admin/webhook-deliveries/{id}/redeliver', `${path}/redeliver`, { headers: { 'if-match': '"r1", W/"r2"' } });
  t.is(stale.status, 412);
  t.is(stale.headers.get('etag'), tag);
  const again = await call('POST', '/admin/webhook-deliveries/{id}/redeliver', `${path}/redeliver`, { headers: { 'if-match': tag }, body: { reason: 'lost by the receiver' } });
  t.is(again.status, 200);
  t.like(again.json as Json, { outcome: 'due-now', attemptsBefore: 0, wasDelivered: false });
  t.not(at(again.json, 'delivery', 'entityTag'), tag);
  t.is((await call('POST', '/admin/webhook-deliveries/{id}/redeliver', '/admin/webhook-deliveries/999999999999/redeliver', { headers: { 'if-match': '*' } })).status, 404);
  t.is((await call('POST', '/admin/webhook-deliveries/{id}/redeliver', '/admin/webhook-deliveries/x/redeliver', { headers: { 'if-match': '*' } })).status, 404);
  t.is((await call('POST', '/admin/webhook-deliveries/{id}/redeliver', `${path}/redeliver`, { headers: { 'if-match': '*', 'content-type': 'text/plain' }, body: 'x' })).status, 415);
  t.is((await call('POST', '/admin/webhook-deliveries/{id}/redeliver', `${path}/redeliver`, { headers: { 'if-match': '*', 'content-type': 'application/json' }, body: '{' })).status, 400);
  done();
});

test.serial('what needs attention, the charts, the audits, the audit log and the tenants', async (t) => {
  const { call, done } = caller(t, () => server);
  const parked = await parkedPayment();
  const attention = await call('GET', '/admin/attention', '/admin/attention');
  t.is(attention.status, 200);
  t.true(at<Json[]>(attention.json, 'parked').some((context) => context['id'] === parked.id));
  t.is((await call('GET', '/admin/attention', '/admin/attention?stuckAfterSeconds=1&limit=500')).status, 200);
  t.is((await call('GET', '/admin/attention', '/admin/attention?limit=501')).status, 400);
  t.is((await call('GET', '/admin/attention', '/admin/attention?stuckAfterSeconds=0')).status, 400);

  const audit = await call('POST', '/admin/audits', '/admin/audits', { body: { operator: 'bob' } });
  t.is(audit.status, 200);
  t.true(Array.isArray(at(audit.json, 'findings')));
  t.is((await call('POST', '/admin/audits', '/admin/audits')).status, 200);
  t.is((await call('POST', '/admin/audits', '/admin/audits', { body: { force: true } })).status, 422);
  t.not(at((await call('GET', '/admin/attention', '/admin/attention')).json, 'lastAudit'), null);

  const requests = await eventually(
    () => call('GET', '/admin/stats/requests', `/admin/stats/requests?minutes=5&tenant=${parked.tenantId}`),
    (reply) => Object.keys(at<Json>(reply.json, 'series') ?? {}).length > 0,
  );
  t.is(requests.status, 200);
  t.is(at<string[]>(requests.json, 'minutes').length, 5);
  t.true('accepted' in at<Json>(requests.json, 'series'));
  t.is((await call('GET', '/admin/stats/requests', '/admin/stats/requests')).status, 200);
  t.is((await call('GET', '/admin/stats/requests', '/admin/stats/requests?minutes=10081')).status, 400);
  t.is((await call('GET', '/admin/stats/requests', '/admin/stats/requests?tenant=acme')).status, 400);
  await server.database.pool.query(
    `INSERT INTO context_state_counts (minute, tenant_id, state, count) VALUES (date_trunc('minute', now()), $1, 'parked', 1) ON CONFLICT DO NOTHING`,
    [parked.tenantId],
  );
  const states = await call('GET', '/admin/stats/contexts', `/admin/stats/contexts?minutes=3&tenant=${parked.tenantId}`);
  t.is(states.status, 200);
  // One sampled minute: the current one (or the one before, when a minute began meanwhile).
  t.is(at<boolean[]>(states.json, 'sampled').filter(Boolean).length, 1);
  t.is(at<number[]>(states.json, 'series', 'parked').reduce((sum, count) => sum + count, 0), 1);
  t.is((await call('GET', '/admin/stats/contexts', '/admin/stats/contexts?minutes=x')).status, 400);

  const log = await call('GET', '/admin/audit-log', '/admin/audit-log?limit=1');
  t.is(log.status, 200);
  t.like(at<Json[]>(log.json, 'items')[0], { action: 'audit', outcome: 'done', actor: 'operator' });
  const next = at(log.json, '_links', 'next', 'href');
  t.truthy(next);
  t.like(at<Json[]>((await call('GET', '/admin/audit-log', next)).json, 'items')[0], { action: 'audit', actor: 'bob' });
  t.is((await call('GET', '/admin/audit-log', '/admin/audit-log?cursor=nope')).status, 400);

  const tenants = await call('GET', '/admin/tenants', '/admin/tenants');
  t.is(tenants.status, 200);
  t.true(at<Json[]>(tenants.json, 'items').some((tenant) => tenant['id'] === parked.tenantId));
  t.deepEqual(at(tenants.json, 'asynchronousActions'), ['payment']);

  const page = await call('GET', '/admin/contexts', `/admin/contexts?tenant=${server.tenant.id}&limit=1`);
  t.is(page.status, 200);
  t.is((await call('GET', '/admin/contexts', '/admin/contexts')).status, 400);
  t.is((await call('GET', '/admin/contexts', '/admin/contexts?id=nope')).status, 400);
  t.is((await call('GET', '/admin/contexts', `/admin/contexts?tenant=${parked.tenantId}&state=stuck`)).status, 400);
  t.is((await call('GET', '/admin/contexts', `/admin/contexts?idempotencyKey=${randomUUID()}`)).status, 200);
  done();
});
