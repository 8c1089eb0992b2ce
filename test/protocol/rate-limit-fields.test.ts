// The draft's RateLimit fields as Structured Field Lists, and the per-key slots behind the concurrency limit.
import test from 'ava';
import { ConcurrencySlots } from '../../src/http/concurrency-slots.ts';
import { delaySeconds, rateLimitField, rateLimitPolicyField } from '../../src/protocol/rate-limit-fields.ts';

test('RateLimit-Policy and RateLimit are sf-lists of named items with integer parameters (draft-ietf-httpapi-ratelimit-headers-11 §3, §4)', (t) => {
  t.is(
    rateLimitPolicyField([{ name: 'tenant', quota: 100, windowSeconds: 1 }, { name: 'tenant-concurrency', quota: 8, unit: 'concurrent-requests' }]),
    '"tenant";q=100;w=1, "tenant-concurrency";q=8;qu="concurrent-requests"',
  );
  t.is(rateLimitField([{ policy: 'tenant', remaining: 0, resetSeconds: 1 }]), '"tenant";r=0;t=1');
  t.is(rateLimitField([{ policy: 'tenant-concurrency', remaining: 0 }]), '"tenant-concurrency";r=0', 'no t without a window');
  t.is(rateLimitPolicyField([{ name: 'a"b\\c', quota: 1, windowSeconds: 0 }]), '"a\\"b\\\\c";q=1;w=1', 'escapes; w is never 0 (§3.1.3)');
  t.throws(() => rateLimitField([{ policy: 'x', remaining: -1 }]), { instanceOf: TypeError });
  t.throws(() => rateLimitPolicyField([{ name: 'caf\u00e9', quota: 1 }]), { instanceOf: TypeError });
});

test('delay-seconds round up and are at least 1, so a client waiting that long finds the window over', (t) => {
  t.deepEqual([0, 1, 999, 1000, 1001, 59_999].map(delaySeconds), [1, 1, 1, 1, 2, 60]);
});

test('slots: at most the limit per key, keys independent, a freed slot goes to the first in line, a wait can run out', async (t) => {
  const slots = new ConcurrencySlots(2);
  t.true(slots.acquire('a', 0));
  t.true(slots.acquire('a', 0));
  t.false(slots.acquire('a', 0), 'the third of a is refused at once without a wait');
  t.true(slots.acquire('b', 0), 'b has slots of its own');
  const first = slots.acquire('a', 1_000);
  const second = slots.acquire('a', 1_000);
  t.false(slots.acquire('a', 0) === true, 'a newcomer does not overtake the line');
  slots.release('a');
  t.true(await first);
  t.is(slots.inUse('a'), 2, 'the slot passed on');
  const timedOut = slots.acquire('a', 20);
  slots.release('a');
  t.true(await second);
  t.false(await timedOut);
  slots.release('a');
  slots.release('a');
  slots.release('b');
  t.is(slots.inUse('a'), 0);
  t.is(slots.inUse('b'), 0);
  t.throws(() => new ConcurrencySlots(0), { instanceOf: TypeError });
});
