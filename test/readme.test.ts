// The README's walk-through, run as written against a live server; its `# →` comments are the
// expected output, line for line.
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import test from 'ava';
import { withPaymentRig } from './helpers/payments.ts';

const run = promisify(execFile);

// The walk-through includes a card payment, so a processor and a worker run beside the API.
const useRig = withPaymentRig(test);

async function walkthrough(): Promise<string> {
  const readme = await readFile('README.md', 'utf8');
  const match = /<!-- walkthrough:start[^>]*-->\s*```sh\n([\s\S]*?)```\s*<!-- walkthrough:end -->/.exec(readme);
  if (!match?.[1]) throw new Error('README.md has no walkthrough block');
  return match[1];
}

test('the README walk-through works as written and prints what it says', async (t) => {
  const script = await walkthrough();
  const expected = script
    .split('\n')
    .filter((line) => line.startsWith('# → '))
    .map((line) => line.slice('# → '.length));
  t.true(expected.length >= 5);
  const { stdout } = await run('bash', ['-euo', 'pipefail', '-c', script], {
    env: { ...process.env, BASE: useRig().server.base, KEY: useRig().server.tenant.apiKey },
    timeout: 30_000,
  });
  const actual = stdout.split('\n').map((line) => line.replace(/\r$/, '')).filter((line) => line !== '');
  t.deepEqual(actual, expected);
});
