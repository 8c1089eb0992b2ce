// docs/async-actions.md's walk-through, run as written against the shipping example with a
// worker running; its `# →` comments are the expected output, line for line.
import test from 'ava';
import { runConformance } from '../../src/conformance/index.ts';
import { runWalkthrough } from '../helpers/walkthrough.ts';
import { API_KEY, startShippingRig, type ShippingRig } from './shipping-rig.ts';

let rig: ShippingRig;
const stop = new AbortController();
let worker: Promise<void> | undefined;
test.before(async () => {
  rig = await startShippingRig();
  worker = rig.worker().run(stop.signal);
});
test.after.always(async () => {
  stop.abort();
  await worker;
  await rig?.close();
});

test('the walk-through of docs/async-actions.md works as written and prints what it says', async (t) => {
  const { expected, actual } = await runWalkthrough('docs/async-actions.md', { BASE: rig.base, KEY: API_KEY });
  t.true(expected.length >= 5);
  t.deepEqual(actual, expected);
});

test('idempotence-conformance passes against the shipping example, an asynchronous action with its own tables', async (t) => {
  t.timeout(60_000);
  const report = await runConformance({
    base: rig.base,
    headers: { Authorization: `Bearer ${API_KEY}` },
    action: { type: 'ship-order', orderId: 'conformance-1', address: '1 Test Street' },
    otherAction: { type: 'ship-order', orderId: 'conformance-2', address: '2 Test Street' },
    log: (line) => t.log(line),
  });
  t.is(report.failed, 0);
});
