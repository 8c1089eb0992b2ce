// Card payments end to end: the API accepts, workers charge through the unreliable processor
// simulator and credit the ledger. Invariants are checked against both sides.
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import test, { type ExecutionContext } from 'ava';
import { pino } from 'pino';
import { defaultActions } from '../../src/app.ts';
import { failpointNames } from '../../src/phases/failpoints.ts';
import { phaseKey } from '../../src/phases/keys.ts';
import { reconcileJobs } from '../../src/phases/reconcile.ts';
import { runWebhookDeliverer } from '../../src/webhooks/deliverer.ts';
import { Receiver } from '../webhooks/receiver.ts';
import { at, type TenantClient } from '../helpers/server.ts';
import { startPaymentRig, type PaymentRig } from '../helpers/payments.ts';

let rig: PaymentRig;
const reconcile = () => reconcileJobs(rig.server.database.db, defaultActions({ processor: rig.client }), { repair: true, logger: pino({ level: 'silent' }) });
const chargeKey = (tenantId: string, contextId: string) => phaseKey({ tenantId, contextId }, 'charge');
// Every boundary of the payment's phases: before-charge, after-charge, committed-charge, before-credit, …
const FAILPOINTS = failpointNames(defaultActions().asynchronous().get('payment')?.phases ?? []);
test.before(async () => {
  rig = await startPaymentRig();
});
test.after.always(async () => {
  await rig?.close();
});

async function pay(tenant: TenantClient, account: string, amount: number, source = 'tok_ok'): Promise<string> {
  const id = randomUUID();
  const reply = await tenant.request('PUT', `/contexts/${id}`, {
    headers: { 'if-none-match': '*' },
    body: { action: { type: 'payment', account, amount, source } },
  });
  if (reply.status !== 202) throw new Error(`payment not accepted: ${reply.status} ${reply.text}`);
  return id;
}

/** Both sides of every payment of the tenant: our context and ledger, and the processor's charges. */
async function audit(tenant: TenantClient) {
  const pool = rig.server.database.pool;
  const { rows } = await pool.query(
    `SELECT c.id, c.state, c.error->>'detail' AS detail, p.processor_key, p.charge_id, p.amount,
            (SELECT count(*)::int FROM entries e WHERE e.tenant_id = c.tenant_id AND e.context_id = c.id) AS credits,
            (SELECT count(*)::int FROM processor.charges ch WHERE ch.idempotency_key = p.processor_key) AS charges,
            (SELECT ch.status FROM processor.charges ch WHERE ch.idempotency_key = p.processor_key) AS charge_status
       FROM payments p JOIN contexts c ON c.tenant_id = p.tenant_id AND c.id = p.context_id
      WHERE p.tenant_id = $1`,
    [tenant.id],
  );
  const balances = await pool.query(
    `SELECT coalesce(sum(balance), 0)::bigint AS total FROM accounts WHERE tenant_id = $1`,
    [tenant.id],
  );
  return { payments: rows as { id: string; state: string; charge_id: string | null; amount: number; credits: number; charges: number; charge_status: string | null }[], total: Number(balances.rows[0].total) };
}

function checkInvariants(t: ExecutionContext, report: Awaited<ReturnType<typeof audit>>): void {
  for (const payment of report.payments) {
    t.true(payment.state === 'succeeded' || payment.state === 'failed', `${payment.id} ended (${payment.state})`);
    t.true(payment.charges <= 1, 'at most one charge per context');
    if (payment.state === 'succeeded') {
      t.is(payment.charges, 1);
      t.is(payment.charge_status, 'succeeded');
      t.is(payment.credits, 1, 'credited once');
    } else {
      t.is(payment.credits, 0);
      t.not(payment.charge_status, 'succeeded', `a failed payment was not charged: ${JSON.stringify(payment)}`);
    }
  }
  const charged = report.payments.filter((p) => p.state === 'succeeded').reduce((sum, p) => sum + p.amount, 0);
  t.is(report.total, charged, 'balances = sum of successful charges');
}

test.serial('tok_ok: 202, then succeeded with the charge id; duplicates replay the final 200; a webhook event is queued', async (t) => {
  const tenant = await rig.server.newTenant('happy');
  await rig.server.database.pool.query(
    "INSERT INTO webhook_endpoints (tenant_id, url, secret) VALUES ($1, 'http://127.0.0.1:9/hook', 'whsec_dGVzdA==')",
    [tenant.id],
  );
  const account = await tenant.createAccount('EUR');
  const id = await pay(tenant, account, 1_250);
  await rig.drain([rig.worker()]);
  const done = await tenant.request('GET', `/contexts/${id}`);
  t.like(done.json as object, { state: 'succeeded', version: 3 });
  t.regex(at(done.json, 'result', 'charge'), /^ch_/);
  t.is(await tenant.balance(account), 1_250);
  const replay = await tenant.request('PUT', `/contexts/${id}`, {
    headers: { 'if-none-match': '*' },
    body: { action: { type: 'payment', account, amount: 1_250, source: 'tok_ok' } },
  });
  t.is(replay.status, 200);
  t.is(replay.headers.get('idempotent-replayed'), 'true');
  t.is(replay.text, done.text);
  const lookup = await rig.client.getCharge(chargeKey(tenant.id, id));
  t.is(lookup.kind, 'found');
  const events = await rig.server.database.pool.query('SELECT event_type FROM webhook_deliveries WHERE tenant_id = $1', [tenant.id]);
  t.deepEqual(events.rows, [{ event_type: 'context.succeeded' }]);
});

test.serial('a long-poll wakes with the final state and the webhook delivered carries it, for a success and a decline', async (t) => {
  const tenant = await rig.server.newTenant('observed');
  const receiver = new Receiver();
  await receiver.start();
  await rig.server.database.pool.query("INSERT INTO webhook_endpoints (tenant_id, url, secret) VALUES ($1, $2, 'whsec_dGVzdA==')", [tenant.id, receiver.url('/pay')]);
  const account = await tenant.createAccount();
  const stop = new AbortController();
  const running = Promise.all([rig.worker().run(stop.signal), runWebhookDeliverer(rig.server.database.db, { signal: stop.signal, pollMs: 20 })]);
  try {
    for (const [source, state] of [['tok_ok', 'succeeded'], ['tok_declined', 'failed']] as const) {
      const id = await pay(tenant, account, 40, source);
      const polled = await tenant.request('GET', `/contexts/${id}`, { headers: { prefer: 'wait=10', 'if-none-match': '"2"' } });
      t.is(polled.status, 200);
      t.is(at(polled.json, 'state'), state);
      const deadline = Date.now() + 5_000;
      const event = () => receiver.received.map((request) => JSON.parse(request.body) as { type: string; data: { id: string } }).find((body) => body.data.id === id);
      while (!event() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
      t.like(event(), { type: `context.${state}`, data: { id, state, version: 3 } });
    }
  } finally {
    stop.abort();
    await running;
    await receiver.stop();
  }
});

test.serial('tok_declined: failed with a payment-declined problem, nothing credited', async (t) => {
  const tenant = await rig.server.newTenant('declined');
  const account = await tenant.createAccount();
  const id = await pay(tenant, account, 500, 'tok_declined');
  await rig.drain([rig.worker()]);
  const done = await tenant.request('GET', `/contexts/${id}`);
  t.is(at(done.json, 'state'), 'failed');
  t.is(at(done.json, 'error', 'type'), 'https://idempotence.dev/problems/payment-declined');
  t.is(await tenant.balance(account), 0);
});

for (const [name, faults] of [
  ['500 after charging', { failAfterChargeRate: 0.6 }],
  ['timeouts after charging', { timeoutAfterChargeRate: 0.5 }],
  ['refusals before charging', { refuseBeforeChargeRate: 0.7 }],
  ['slow answers past the client timeout', { slowMs: 2 * 300 }],
  ['declines for certain tokens', { declineSources: ['tok_ok'] }],
  ['everything at once', { failAfterChargeRate: 0.3, timeoutAfterChargeRate: 0.2, refuseBeforeChargeRate: 0.3 }],
] as const) {
  test.serial(`processor faults — ${name}: every payment ends once, at most one charge each, balances add up`, async (t) => {
    const tenant = await rig.server.newTenant(name);
    const account = await tenant.createAccount();
    Object.assign(rig.processor.faults, faults);
    try {
      const ids = await Promise.all(Array.from({ length: 12 }, (_, i) => pay(tenant, account, 100 + i)));
      if ('slowMs' in faults) {
        // Slow answers never arrive in time; the charge is still made. Let them land, then heal.
        await rig.drain([rig.worker({ maxAttempts: 2 })], 10_000).catch(() => undefined);
        rig.processor.faults.slowMs = 0;
        await rig.server.database.pool.query("UPDATE contexts SET run_after = now(), attempts = 0 WHERE state = 'processing'");
      }
      await rig.drain([rig.worker(), rig.worker()], 30_000);
      t.is(ids.length, 12);
    } finally {
      Object.assign(rig.processor.faults, { failAfterChargeRate: 0, timeoutAfterChargeRate: 0, refuseBeforeChargeRate: 0, slowMs: 0, declineSources: [] });
    }
    const report = await audit(tenant);
    checkInvariants(t, report);
    if ('declineSources' in faults) t.true(report.payments.every((p) => p.state === 'failed'), 'the listed token was declined');
    else t.true(report.payments.every((p) => p.state === 'succeeded'), 'every fault here is transient');
  });
}

test.serial('after the attempts run out the payment stays processing with its attempts visible; reconciliation resumes it', async (t) => {
  const tenant = await rig.server.newTenant('parked');
  const account = await tenant.createAccount();
  rig.processor.faults.refuseBeforeChargeRate = 1;
  const id = await pay(tenant, account, 300);
  const worker = rig.worker({ maxAttempts: 2 });
  await rig.drain([worker], 5_000);
  const parked = await tenant.request('GET', `/contexts/${id}`);
  t.like(parked.json as object, { state: 'processing', attempts: 2 });
  t.regex(at(parked.json, 'lastError'), /503|unknown|refus/i);
  rig.processor.faults.refuseBeforeChargeRate = 0;
  const report = await reconcile();
  t.true(report.jobs.some((job) => job.outcome === 'resumed' && job.contextId === id), 'no charge at the processor: resumed with the same key');
  await rig.drain([worker]);
  t.is(at((await tenant.request('GET', `/contexts/${id}`)).json, 'state'), 'succeeded');
  checkInvariants(t, await audit(tenant));
});

test.serial('reconciliation credits a charge the worker never recorded, exactly once', async (t) => {
  const tenant = await rig.server.newTenant('reconcile');
  const account = await tenant.createAccount();
  const id = await pay(tenant, account, 700);
  // The charge happened, but the worker "died" before recording anything: park the job.
  await rig.server.database.pool.query("UPDATE contexts SET run_after = NULL WHERE id = $1", [id]);
  const charged = await rig.client.createCharge(chargeKey(tenant.id, id), { amount: 700, currency: 'EUR', source: 'tok_ok' });
  t.is(charged.kind, 'charged');
  const first = await reconcile();
  t.true(first.jobs.some((job) => job.outcome === 'finished' && job.contextId === id), 'the charge was found and credited');
  t.is(await tenant.balance(account), 700);
  const second = await reconcile();
  t.false(second.jobs.some((job) => job.contextId === id), 'nothing left to repair');
  t.false(second.findings.some((finding) => finding.contextId === id));
  t.is(await tenant.balance(account), 700);
  checkInvariants(t, await audit(tenant));
});

test.serial('a charge whose credit no longer fits the balance limit ends failed with the charge named, not stuck', async (t) => {
  const tenant = await rig.server.newTenant('cap');
  const account = await tenant.createAccount();
  const id = await pay(tenant, account, 50);
  await tenant.deposit(account, Number.MAX_SAFE_INTEGER - 10); // lands while the payment waits
  await rig.drain([rig.worker()]);
  const done = await tenant.request('GET', `/contexts/${id}`);
  t.is(at(done.json, 'state'), 'failed');
  t.is(at(done.json, 'error', 'type'), 'https://idempotence.dev/problems/balance-limit-exceeded');
  t.regex(at(done.json, 'error', 'charge'), /^ch_/);
  t.is(await tenant.balance(account), Number.MAX_SAFE_INTEGER - 10);
  const report = await reconcile();
  t.true(report.findings.some((finding) => finding.kind === 'charge-on-failed-context' && finding.contextId === id));
});

test.serial('a processing context changes its ETag with the worker\'s progress; the replayed 202 keeps the one it was sent with', async (t) => {
  const tenant = await rig.server.newTenant('progress');
  const account = await tenant.createAccount();
  rig.processor.faults.refuseBeforeChargeRate = 1;
  try {
    const id = await pay(tenant, account, 10);
    const before = await tenant.request('GET', `/contexts/${id}`);
    t.is(before.headers.get('etag'), '"2"');
    await rig.worker({ maxAttempts: 1 }).runOnce();
    const after = await tenant.request('GET', `/contexts/${id}`);
    t.like(after.json as object, { state: 'processing', attempts: 1 });
    t.regex(after.headers.get('etag') ?? '', /^"2\.1\.[A-Za-z0-9_-]{8}"$/);
    t.is((await tenant.request('GET', `/contexts/${id}`, { headers: { 'if-none-match': '"2"' } })).status, 200, 'the old tag no longer matches');
    const replay = await tenant.request('PUT', `/contexts/${id}`, {
      headers: { 'if-none-match': '*' },
      body: { action: { type: 'payment', account, amount: 10, source: 'tok_ok' } },
    });
    t.is(replay.status, 202);
    t.is(replay.headers.get('etag'), '"2"');
  } finally {
    rig.processor.faults.refuseBeforeChargeRate = 0;
  }
  await rig.server.database.pool.query("UPDATE contexts SET run_after = now() WHERE state = 'processing' AND run_after IS NULL");
  await rig.drain([rig.worker()]);
});

test.serial('a one-shot keyed POST of a payment: 202, replayed as 202 while processing, then as the final 200', async (t) => {
  const tenant = await rig.server.newTenant('keyed payment');
  const account = await tenant.createAccount();
  const request = { headers: { 'idempotency-key': `pay-${randomUUID()}` }, body: { action: { type: 'payment', account, amount: 321, source: 'tok_ok' } } };
  const accepted = await tenant.request('POST', '/contexts', request);
  t.is(accepted.status, 202);
  t.is(accepted.headers.get('retry-after'), '1');
  const early = await tenant.request('POST', '/contexts', request);
  t.is(early.status, 202);
  t.is(early.headers.get('idempotent-replayed'), 'true');
  t.is(early.text, accepted.text);
  await rig.drain([rig.worker()]);
  const late = await tenant.request('POST', '/contexts', request);
  t.is(late.status, 200);
  t.is(late.headers.get('idempotent-replayed'), 'true');
  t.like(late.json as object, { state: 'succeeded', version: 3 });
  t.is(await tenant.balance(account), 321);
});

test.serial('two workers racing on one backlog: no payment is handled twice', async (t) => {
  const tenant = await rig.server.newTenant('race');
  const account = await tenant.createAccount();
  await Promise.all(Array.from({ length: 40 }, (_, i) => pay(tenant, account, 10 + i)));
  const finishedBy = new Map<string, string[]>();
  const abort = new AbortController();
  const workers = [rig.worker(), rig.worker()];
  const runs = workers.map((worker) =>
    worker.run(abort.signal, ({ contextId, result }) => {
      if (result === 'finished') finishedBy.set(contextId, [...(finishedBy.get(contextId) ?? []), worker.id]);
    }),
  );
  const deadline = Date.now() + 20_000;
  while (finishedBy.size < 40 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  abort.abort();
  await Promise.all(runs);
  t.is(finishedBy.size, 40);
  t.true([...finishedBy.values()].every((by) => by.length === 1), 'each finished by exactly one worker');
  const perWorker = workers.map((worker) => [...finishedBy.values()].filter((by) => by[0] === worker.id).length);
  t.log(`jobs per worker: ${perWorker.join(' / ')}`);
  checkInvariants(t, await audit(tenant));
});

for (const point of FAILPOINTS) {
  test.serial(`a worker killed with SIGKILL at ${point}: another worker finishes, one charge, one credit`, async (t) => {
    const tenant = await rig.server.newTenant(`crash ${point}`);
    const account = await tenant.createAccount();
    const id = await pay(tenant, account, 900);
    const child = spawn(process.execPath, ['--import=tsx', 'test/helpers/worker-child.ts'], {
      env: { ...process.env, DATABASE_URL: rig.server.database.url, PROCESSOR_URL: rig.processor.url, FAILPOINT: point },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const signal = await new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, sig) => resolve(sig)));
    t.is(signal, 'SIGKILL', `the child died at ${point}: ${output}`);
    // Past the last phase's commit the payment has ended; at every other point it waits for a takeover.
    t.is(at((await tenant.request('GET', `/contexts/${id}`)).json, 'state'), point === 'committed-credit' ? 'succeeded' : 'processing');
    await new Promise((resolve) => setTimeout(resolve, 1_100)); // the child's 1 s lease runs out
    await rig.drain([rig.worker()]);
    t.is(at((await tenant.request('GET', `/contexts/${id}`)).json, 'state'), 'succeeded');
    t.is(await tenant.balance(account), 900);
    checkInvariants(t, await audit(tenant));
  });
}
