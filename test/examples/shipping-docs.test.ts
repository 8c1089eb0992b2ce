// docs/async-actions.md's walk-through, run as written against the shipping example with a
// worker running; its `# →` comments are the expected output, line for line.
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import test from 'ava';
import { API_KEY, startShippingRig, type ShippingRig } from './shipping-rig.ts';

const run = promisify(execFile);
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
  const doc = await readFile('docs/async-actions.md', 'utf8');
  const script = /<!-- walkthrough:start[^>]*-->\s*```sh\n([\s\S]*?)```\s*<!-- walkthrough:end -->/.exec(doc)?.[1];
  if (!script) throw new Error('docs/async-actions.md has no walkthrough block');
  const expected = script.split('\n').filter((line) => line.startsWith('# → ')).map((line) => line.slice('# → '.length));
  t.true(expected.length >= 5);
  const { stdout } = await run('bash', ['-euo', 'pipefail', '-c', script], { env: { ...process.env, BASE: rig.base, KEY: API_KEY }, timeout: 30_000 });
  t.deepEqual(stdout.split('\n').map((line) => line.replace(/\r$/, '')).filter((line) => line !== ''), expected);
});
