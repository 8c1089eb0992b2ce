// The shipping example (examples/shipping/): an asynchronous action of a host's own, on the
// phase API, against a provider that fails in every way the contract allows. Each order is
// shipped exactly once and every context ends with the provider's shipment id.
import test, { type ExecutionContext } from 'ava';
import { pino } from 'pino';
import { SHIPMENT_REFUSED } from '../../examples/shipping/action.ts';
import { shippingActions } from '../../examples/shipping/app.ts';
import { failpointNames } from '../../src/phases/failpoints.ts';
import { at } from '../helpers/server.ts';
import { Receiver } from '../webhooks/receiver.ts';
import { runWebhookDeliverer } from '../../src/index.ts';
import { startShippingRig, type ShippingRig } from './shipping-rig.ts';

let rig: ShippingRig;
test.before(async () => {
  rig = await startShippingRig();
});
test.after.always(async () => {
  await rig?.close();
});

const NO_FAULTS = { failAfterCreateRate: 0, hangAfterCreateRate: 0, refuseBeforeCreateRate: 0 };

/** Every context ended succeeded with the provider's shipment of its key; each order shipped once, recorded once. */
async function checkShipped(t: ExecutionContext, ids: string[], orders: string[]): Promise<void> {
  for (const id of ids) {
    const reply = await rig.request('GET', `/contexts/${id}`);
    t.is(at(reply.json, 'state'), 'succeeded', `${id}: ${reply.text}`);
    const shipment = rig.shipmentOf(id);
    t.truthy(shipment, `the provider has a shipment under ${id}'s key`);
    t.is(at(reply.json, 'result', 'shipmentId'), shipment?.id ?? '', 'the result names the provider\'s shipment');
  }
  const perOrder = rig.provider.shipmentsPerOrder();
  for (const order of orders) t.is(perOrder.get(order), 1, `order ${order} shipped exactly once`);
  const { rows } = await rig.database.pool.query('SELECT count(*)::int AS n, count(DISTINCT context_id)::int AS contexts FROM shipments WHERE context_id = ANY($1::uuid[])', [ids]);
  t.deepEqual(rows[0], { n: ids.length, contexts: ids.length }, 'one row of the host\'s own table per context');
}

test.serial('202 at once; succeeded with the shipment id; the replay is the final 200; a long-poll and a webhook see the final state', async (t) => {
  const receiver = new Receiver();
  await receiver.start();
  await rig.database.pool.query("INSERT INTO webhook_endpoints (tenant_id, url, secret) VALUES ($1, $2, 'whsec_dGVzdHNlY3JldA==')", [rig.tenantId, receiver.url('/shipping')]);
  const stop = new AbortController();
  const running = Promise.all([rig.worker().run(stop.signal), runWebhookDeliverer(rig.engine.db, { signal: stop.signal, pollMs: 20 })]);
  try {
    const id = crypto.randomUUID();
    const body = { action: { type: 'ship-order', orderId: 'order-happy', address: '5 Quay Street' } };
    const accepted = await rig.request('PUT', `/contexts/${id}`, { headers: { 'if-none-match': '*' }, body });
    t.is(accepted.status, 202);
    t.is(accepted.headers.get('location'), `/contexts/${id}`);
    t.truthy(accepted.headers.get('retry-after'));
    t.is(at(accepted.json, 'state'), 'processing');
    const polled = await rig.request('GET', `/contexts/${id}`, { headers: { prefer: 'wait=10', 'if-none-match': '"2"' } });
    t.is(polled.status, 200);
    t.is(at(polled.json, 'state'), 'succeeded');
    const replay = await rig.request('PUT', `/contexts/${id}`, { headers: { 'if-none-match': '*' }, body });
    t.is(replay.status, 200);
    t.is(replay.headers.get('idempotent-replayed'), 'true');
    t.is(replay.text, polled.text);
    await checkShipped(t, [id], ['order-happy']);
    const deadline = Date.now() + 5_000;
    while (receiver.received.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    t.like(JSON.parse(receiver.received[0]?.body ?? '{}') as object, { type: 'context.succeeded', data: { id, state: 'succeeded' } });
  } finally {
    stop.abort();
    await running;
    await rig.database.pool.query('DELETE FROM webhook_deliveries');
    await rig.database.pool.query('DELETE FROM webhook_endpoints');
    await receiver.stop();
  }
});

for (const [name, faults] of [
  ['500 after creating', { failAfterCreateRate: 0.6 }],
  ['hang and drop after creating', { hangAfterCreateRate: 0.5 }],
  ['503 before creating', { refuseBeforeCreateRate: 0.7 }],
  ['all of them at once', { failAfterCreateRate: 0.3, hangAfterCreateRate: 0.2, refuseBeforeCreateRate: 0.3 }],
] as const) {
  test.serial(`provider faults — ${name}: every order shipped once, every context succeeded with its shipment`, async (t) => {
    Object.assign(rig.provider.faults, faults);
    const orders = Array.from({ length: 12 }, (_, i) => `order-${name.replace(/\W+/g, '-')}-${i}`);
    const before = structuredClone(rig.provider.stats);
    try {
      const ids = await Promise.all(orders.map((order) => rig.ship(order)));
      await rig.drain([rig.worker(), rig.worker()], 30_000);
      Object.assign(rig.provider.faults, NO_FAULTS);
      await checkShipped(t, ids, orders);
      const { stats } = rig.provider;
      const injected = Object.entries(stats.faults).map(([kind, count]) => `${kind} ${count - before.faults[kind as keyof typeof before.faults]}`);
      t.log(`${orders.length} orders, ${stats.requests - before.requests} provider requests, faults: ${injected.join(', ')}`);
    } finally {
      Object.assign(rig.provider.faults, NO_FAULTS);
    }
  });
}

test.serial('a 422 from the provider ends the context failed with a problem, without retrying', async (t) => {
  const refusedBefore = rig.provider.stats.faults.refusedOrders;
  const id = await rig.ship('refuse-this-one');
  await rig.drain([rig.worker()]);
  const reply = await rig.request('GET', `/contexts/${id}`);
  t.is(at(reply.json, 'state'), 'failed');
  t.is(at(reply.json, 'error', 'type'), SHIPMENT_REFUSED);
  t.regex(at(reply.json, 'error', 'detail'), /refuse-this-one/);
  t.is(rig.provider.stats.faults.refusedOrders - refusedBefore, 1, 'asked once: a refusal is final');
  t.is(rig.shipmentOf(id), undefined);
});

/** Ships an order whose first attempt meets `first` and every later one `then`, until it is parked after 2 attempts. */
async function parkWith(t: ExecutionContext, order: string, first: Partial<typeof NO_FAULTS>, then: Partial<typeof NO_FAULTS>, lastError: RegExp): Promise<string> {
  try {
    const id = await rig.ship(order);
    Object.assign(rig.provider.faults, first);
    const worker = rig.worker({ maxAttempts: 2 });
    t.is((await worker.runOnce())?.contextId, id);
    Object.assign(rig.provider.faults, NO_FAULTS, then);
    await rig.drain([worker], 10_000); // a parked job is not due: the drain ends
    const parked = await rig.request('GET', `/contexts/${id}`);
    t.like(parked.json as object, { state: 'processing', attempts: 2 });
    t.regex(at(parked.json, 'lastError'), lastError);
    return id;
  } finally {
    Object.assign(rig.provider.faults, NO_FAULTS);
  }
}

const reconcile = () => rig.engine.reconcile({ logger: pino({ level: 'silent' }) });

test.serial('parked after the maximum attempts with attempts and lastError visible; reconciliation resumes it', async (t) => {
  const id = await parkWith(t, 'order-parked', { refuseBeforeCreateRate: 1 }, { refuseBeforeCreateRate: 1 }, /provider answered 503/);
  const report = await reconcile();
  t.is(report.jobs.find((job) => job.contextId === id)?.outcome, 'resumed', 'no shipment under the key: due again, same key');
  await rig.drain([rig.worker()]);
  await checkShipped(t, [id], ['order-parked']);
});

test.serial('parked after the shipment was made but every answer lost: reconciliation finds it and finishes without calling again', async (t) => {
  const id = await parkWith(t, 'order-lost-answers', { failAfterCreateRate: 1 }, { refuseBeforeCreateRate: 1 }, /provider answered 503/);
  t.truthy(rig.shipmentOf(id), 'the first attempt created the shipment');
  const created = rig.provider.stats.created;
  const report = await reconcile();
  t.is(report.jobs.find((job) => job.contextId === id)?.outcome, 'finished');
  t.is(rig.provider.stats.created, created, 'nothing created again');
  await checkShipped(t, [id], ['order-lost-answers']);
  t.false((await reconcile()).jobs.some((job) => job.contextId === id), 'nothing left to reconcile');
});

test.serial('two workers racing on one backlog: each order shipped once, each job finished by one worker', async (t) => {
  const orders = Array.from({ length: 40 }, (_, i) => `order-race-${i}`);
  const ids = await Promise.all(orders.map((order) => rig.ship(order)));
  const finishedBy = new Map<string, string[]>();
  const stop = new AbortController();
  const workers = [rig.worker({ concurrency: 4 }), rig.worker({ concurrency: 4 })];
  const runs = workers.map((worker) =>
    worker.run(stop.signal, ({ contextId, result }) => {
      if (result === 'finished') finishedBy.set(contextId, [...(finishedBy.get(contextId) ?? []), worker.id]);
    }),
  );
  const deadline = Date.now() + 20_000;
  while (finishedBy.size < ids.length && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  stop.abort();
  await Promise.all(runs);
  t.is(finishedBy.size, ids.length);
  t.true([...finishedBy.values()].every((by) => by.length === 1));
  await checkShipped(t, ids, orders);
});

const boundaries = failpointNames(shippingActions('http://unused').asynchronous().get('ship-order')?.phases ?? []);
test('the crash points are every boundary of both phases', (t) => {
  t.deepEqual(boundaries, ['before-create-shipment', 'after-create-shipment', 'committed-create-shipment', 'before-record', 'inside-record', 'committed-record']);
});

for (const point of boundaries) {
  test.serial(`a worker process killed with SIGKILL at ${point} is taken over: one shipment, succeeded`, async (t) => {
    const order = `order-crash-${point}`;
    const id = await rig.ship(order);
    t.is(await rig.crashWorker(point), 'SIGKILL', `the worker died at ${point}`);
    const after = await rig.request('GET', `/contexts/${id}`);
    t.is(at(after.json, 'state'), point === 'committed-record' ? 'succeeded' : 'processing');
    await new Promise((resolve) => setTimeout(resolve, 1_100)); // its 1 s lease runs out
    await rig.drain([rig.worker()]);
    await checkShipped(t, [id], [order]);
  });
}
