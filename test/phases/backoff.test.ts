import test from 'ava';
import { retryDelaySeconds } from '../../src/phases/backoff.ts';

test('retry delays double per attempt from the base, stay within [d/2, d], and stop at the cap', (t) => {
  t.is(retryDelaySeconds(1, 500, 60_000, () => 1), 0.5);
  t.is(retryDelaySeconds(1, 500, 60_000, () => 0), 0.25);
  t.is(retryDelaySeconds(3, 500, 60_000, () => 1), 2);
  t.is(retryDelaySeconds(30, 500, 60_000, () => 1), 60);
  t.is(retryDelaySeconds(30, 500, 60_000, () => 0), 30);
});
