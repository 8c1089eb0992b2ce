// The README's walk-through, run as written against a live server; its `# →` comments are the
// expected output, line for line.
import test from 'ava';
import { withPaymentRig } from './helpers/payments.ts';
import { runWalkthrough } from './helpers/walkthrough.ts';

// The walk-through includes a card payment, so a processor and a worker run beside the API.
const useRig = withPaymentRig(test);

test('the README walk-through works as written and prints what it says', async (t) => {
  const { expected, actual } = await runWalkthrough('README.md', { BASE: useRig().server.base, KEY: useRig().server.tenant.apiKey });
  t.true(expected.length >= 5);
  t.deepEqual(actual, expected);
});
