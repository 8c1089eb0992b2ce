import test from 'ava';
import { readIdempotencyKey } from '../../src/idempotency/header.ts';

test('the draft\'s structured-field string and the bare form name the same key', (t) => {
  t.deepEqual(readIdempotencyKey('"8e03978e-40d5-43e8-bc93-6894a57f9324"'), { kind: 'key', key: '8e03978e-40d5-43e8-bc93-6894a57f9324' });
  t.deepEqual(readIdempotencyKey('8e03978e-40d5-43e8-bc93-6894a57f9324'), { kind: 'key', key: '8e03978e-40d5-43e8-bc93-6894a57f9324' });
  t.deepEqual(readIdempotencyKey(' "a b" '), { kind: 'key', key: 'a b' });
  t.deepEqual(readIdempotencyKey('"say \\"hi\\" \\\\ ok"'), { kind: 'key', key: 'say "hi" \\ ok' });
  t.deepEqual(readIdempotencyKey(undefined), { kind: 'absent' });
});

test('malformed keys are refused', (t) => {
  for (const header of ['', '   ', '""', '"unterminated', '"bad \\x escape"', '"inner " quote"', '"a\\"', '"\\"', 'x'.repeat(256), '"' + 'x'.repeat(256) + '"', 'caf\u00e9', 'tab\there', ['a', 'b']]) {
    t.is(readIdempotencyKey(header).kind, 'invalid', JSON.stringify(header));
  }
  t.is(readIdempotencyKey('x'.repeat(255)).kind, 'key');
});
