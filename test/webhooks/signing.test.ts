import test from 'ava';
import { generateWebhookSecret, signWebhook, verifyWebhook, type WebhookHeaders } from '../../src/webhooks/signing.ts';

// The published vector of the Standard Webhooks reference libraries: the "sign function works"
// test of libraries/javascript/src/webhook.test.ts in github.com/standard-webhooks/standard-webhooks
// (the other languages' test suites use the same key, id, timestamp, payload and signature).
const VECTOR = {
  secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
  id: 'msg_p5jXN8AQM9LWM0D4loKWxJek',
  timestamp: 1614265330,
  body: '{"test": 2432232314}',
  signature: 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
};

function headersFor(secret: string, id: string, timestamp: number, body: string): WebhookHeaders {
  return { 'webhook-id': id, 'webhook-timestamp': String(timestamp), 'webhook-signature': signWebhook(secret, id, timestamp, body) };
}

test('the published Standard Webhooks vector signs and verifies', (t) => {
  t.is(signWebhook(VECTOR.secret, VECTOR.id, VECTOR.timestamp, VECTOR.body), VECTOR.signature);
  t.is(signWebhook(VECTOR.secret, VECTOR.id, VECTOR.timestamp, Buffer.from(VECTOR.body)), VECTOR.signature, 'bytes or text');
  const headers = { 'webhook-id': VECTOR.id, 'webhook-timestamp': String(VECTOR.timestamp), 'webhook-signature': VECTOR.signature };
  t.true(verifyWebhook(VECTOR.secret, headers, VECTOR.body, { now: new Date(VECTOR.timestamp * 1000 + 10_000) }));
  t.false(verifyWebhook(VECTOR.secret, headers, VECTOR.body), 'years later the timestamp is out of tolerance');
});

test('generated secrets are whsec_ + base64 of 32 random bytes, each different', (t) => {
  const a = generateWebhookSecret();
  const b = generateWebhookSecret();
  t.regex(a, /^whsec_[A-Za-z0-9+/]{43}=$/);
  t.is(Buffer.from(a.slice('whsec_'.length), 'base64').length, 32);
  t.not(a, b);
});

test('round trip; any change to id, timestamp, body, secret or signature fails', (t) => {
  const secret = generateWebhookSecret();
  const now = new Date();
  const ts = Math.floor(now.getTime() / 1000);
  const body = JSON.stringify({ type: 'context.succeeded', timestamp: now.toISOString(), data: { amount: 1, name: 'Zoë 🙂' } });
  const headers = headersFor(secret, 'msg_1', ts, body);
  t.true(verifyWebhook(secret, headers, body, { now }));
  t.true(verifyWebhook(secret, headers, Buffer.from(body, 'utf8'), { now }), 'raw bytes verify too');

  t.false(verifyWebhook(secret, headers, body.replace('1', '2'), { now }), 'body');
  t.false(verifyWebhook(secret, headers, ` ${body}`, { now }), 'whitespace');
  t.false(verifyWebhook(secret, headers, JSON.stringify(JSON.parse(body), null, 1), { now }), 're-serialized JSON');
  t.false(verifyWebhook(secret, { ...headers, 'webhook-id': 'msg_2' }, body, { now }), 'id');
  t.false(verifyWebhook(secret, { ...headers, 'webhook-timestamp': String(ts - 1) }, body, { now }), 'timestamp');
  t.false(verifyWebhook(generateWebhookSecret(), headers, body, { now }), 'secret');
  const mac = headers['webhook-signature'].slice(3);
  const flipped = (mac[0] === 'A' ? 'B' : 'A') + mac.slice(1);
  for (const signature of [`v1,${flipped}`, `v1a,${mac}`, `v2,${mac}`, mac, 'v1,', '', `v1,${mac.slice(0, 20)}`, `v1,${mac}x`]) {
    t.false(verifyWebhook(secret, { ...headers, 'webhook-signature': signature }, body, { now }), signature);
  }
  for (const timestamp of ['', 'abc', '1e9', `${ts}.5`, `-${ts}`, ` ${ts}`]) {
    t.false(verifyWebhook(secret, { ...headers, 'webhook-timestamp': timestamp }, body, { now }), timestamp);
  }
  t.false(verifyWebhook(secret, { ...headers, 'webhook-id': '' }, body, { now }), 'empty id');
});

test('several space-separated signatures: one valid v1 is enough (secret rotation)', (t) => {
  const current = generateWebhookSecret();
  const previous = generateWebhookSecret();
  const now = new Date();
  const ts = Math.floor(now.getTime() / 1000);
  const body = '{"a":1}';
  const both = `${signWebhook(previous, 'msg_x', ts, body)} v1a,bm90IGEgc2lnbmF0dXJl ${signWebhook(current, 'msg_x', ts, body)}`;
  const headers = { 'webhook-id': 'msg_x', 'webhook-timestamp': String(ts), 'webhook-signature': both };
  t.true(verifyWebhook(current, headers, body, { now }));
  t.true(verifyWebhook(previous, headers, body, { now }));
  t.false(verifyWebhook(generateWebhookSecret(), headers, body, { now }));
});

test('timestamps within the tolerance verify, outside it they do not, either way', (t) => {
  const secret = generateWebhookSecret();
  const ts = 1_800_000_000;
  const body = '{}';
  const headers = headersFor(secret, 'msg_t', ts, body);
  const at = (offsetSeconds: number) => new Date((ts + offsetSeconds) * 1000);
  t.true(verifyWebhook(secret, headers, body, { now: at(300) }));
  t.true(verifyWebhook(secret, headers, body, { now: at(-300) }));
  t.false(verifyWebhook(secret, headers, body, { now: at(301) }), 'too old');
  t.false(verifyWebhook(secret, headers, body, { now: at(-301) }), 'from the future');
  t.true(verifyWebhook(secret, headers, body, { now: at(3000), toleranceSeconds: 3600 }));
  t.false(verifyWebhook(secret, headers, body, { now: at(2), toleranceSeconds: 1 }));
});

test('a secret may be given without its whsec_ prefix; an empty one is refused', (t) => {
  t.is(signWebhook(VECTOR.secret.slice('whsec_'.length), VECTOR.id, VECTOR.timestamp, VECTOR.body), VECTOR.signature);
  t.throws(() => signWebhook('whsec_', 'msg', 1, '{}'));
  t.throws(() => signWebhook(VECTOR.secret, 'msg', 1.5, '{}'));
});
