// Every row of the status table (docs/protocol.md), as a decision of the pure protocol function.
import test from 'ava';
import { parseTagCondition } from '../../src/protocol/entity-tag.ts';
import {
  contextEntityTag,
  decideDelete,
  decideGet,
  decidePut,
  type BodyReading,
  type Conditions,
  type ContextView,
} from '../../src/protocol/preconditions.ts';

const ACTION_A = 'fingerprint-a';
const ACTION_B = 'fingerprint-b';
const body = (fingerprint: string): BodyReading => ({ kind: 'json', value: { action: {} }, fingerprint });
const ifMatch = (value: string): Conditions => ({ ifMatch: parseTagCondition(value) });
const ifNoneMatch = (value: string): Conditions => ({ ifNoneMatch: parseTagCondition(value) });

const open: ContextView = { state: 'open', version: 1, fingerprint: null };
const executedA: ContextView = { state: 'succeeded', version: 2, fingerprint: ACTION_A };
const failedA: ContextView = { state: 'failed', version: 2, fingerprint: ACTION_A };
const cancelled: ContextView = { state: 'cancelled', version: 2, fingerprint: null };
const expired: ContextView = { state: 'expired', version: 1, fingerprint: null };

test('PUT/DELETE with neither If-Match nor If-None-Match → 428', (t) => {
  t.deepEqual(decidePut(open, {}, body(ACTION_A), true), { kind: 'reject', reason: 'precondition-required' });
  t.deepEqual(decideDelete(open, {}), { kind: 'reject', reason: 'precondition-required' });
});

test('unknown or malformed id → 404 before any precondition or body check', (t) => {
  t.deepEqual(decidePut(undefined, ifMatch('"1"'), body(ACTION_A), true), { kind: 'reject', reason: 'not-found' });
  t.deepEqual(decidePut(undefined, {}, { kind: 'malformed', detail: 'x' }, true), { kind: 'reject', reason: 'not-found' });
  t.deepEqual(decidePut(undefined, ifNoneMatch('*'), body(ACTION_A), false), { kind: 'reject', reason: 'not-found' });
  t.deepEqual(decideDelete(undefined, {}), { kind: 'reject', reason: 'not-found' });
  t.deepEqual(decideGet(undefined, {}), { kind: 'reject', reason: 'not-found' });
});

test('PUT, current If-Match, valid action, open → execute', (t) => {
  t.like(decidePut(open, ifMatch('"1"'), body(ACTION_A), true), { kind: 'execute', fingerprint: ACTION_A });
  t.like(decidePut(open, ifMatch('*'), body(ACTION_A), true), { kind: 'execute' });
});

test('PUT repeated with the same action → replay, whatever validator it carries', (t) => {
  for (const conditions of [ifMatch('"1"'), ifMatch('"2"'), ifMatch('"99"'), ifMatch('garbage'), ifNoneMatch('*')]) {
    t.deepEqual(decidePut(executedA, conditions, body(ACTION_A), true), { kind: 'replay' });
    t.deepEqual(decidePut(failedA, conditions, body(ACTION_A), true), { kind: 'replay' }, 'a failed outcome replays too');
  }
});

test('PUT, stale If-Match, a different action → 412', (t) => {
  t.deepEqual(decidePut(executedA, ifMatch('"1"'), body(ACTION_B), true), { kind: 'reject', reason: 'precondition-failed' });
  t.deepEqual(decidePut(open, ifMatch('"7"'), body(ACTION_B), true), { kind: 'reject', reason: 'precondition-failed' });
  t.deepEqual(decidePut(open, ifMatch('W/"1"'), body(ACTION_B), true), { kind: 'reject', reason: 'precondition-failed' }, 'weak tags never match If-Match');
});

test('PUT, current If-Match, a different action, already executed → 409', (t) => {
  t.deepEqual(decidePut(executedA, ifMatch('"2"'), body(ACTION_B), true), { kind: 'reject', reason: 'context-already-executed' });
});

test('PUT If-None-Match: * on an unknown UUID → create and execute', (t) => {
  t.like(decidePut(undefined, ifNoneMatch('*'), body(ACTION_A), true), { kind: 'create', fingerprint: ACTION_A });
});

test('PUT If-None-Match: * repeated with the same action → replay; a different action → 412', (t) => {
  t.deepEqual(decidePut(executedA, ifNoneMatch('*'), body(ACTION_A), true), { kind: 'replay' });
  t.deepEqual(decidePut(executedA, ifNoneMatch('*'), body(ACTION_B), true), { kind: 'reject', reason: 'precondition-failed' });
  t.deepEqual(decidePut(open, ifNoneMatch('*'), body(ACTION_B), true), { kind: 'reject', reason: 'precondition-failed' });
});

test('GET with a matching If-None-Match → 304; otherwise 200', (t) => {
  t.deepEqual(decideGet(open, ifNoneMatch('"1"')), { kind: 'not-modified' });
  t.deepEqual(decideGet(open, ifNoneMatch('W/"1"')), { kind: 'not-modified' }, 'weak comparison');
  t.deepEqual(decideGet(open, ifNoneMatch('*')), { kind: 'not-modified' });
  t.deepEqual(decideGet(open, ifNoneMatch('"2"')), { kind: 'ok' });
  t.deepEqual(decideGet(executedA, {}), { kind: 'ok' });
  t.deepEqual(decideGet(open, ifMatch('"2"')), { kind: 'reject', reason: 'precondition-failed' });
});

test('DELETE, current If-Match, open → cancel; stale → 412; executed → 409', (t) => {
  t.deepEqual(decideDelete(open, ifMatch('"1"')), { kind: 'cancel' });
  t.deepEqual(decideDelete(open, ifMatch('"0"')), { kind: 'reject', reason: 'precondition-failed' });
  t.deepEqual(decideDelete(executedA, ifMatch('"2"')), { kind: 'reject', reason: 'context-already-executed' });
  t.deepEqual(decideDelete(executedA, ifMatch('"1"')), { kind: 'reject', reason: 'precondition-failed' }, '412 is decided before 409');
});

test('after cancel, GET/PUT/DELETE → 410', (t) => {
  t.deepEqual(decideGet(cancelled, {}), { kind: 'reject', reason: 'context-cancelled' });
  t.deepEqual(decidePut(cancelled, ifMatch('"2"'), body(ACTION_A), true), { kind: 'reject', reason: 'context-cancelled' });
  t.deepEqual(decidePut(cancelled, {}, body(ACTION_A), true), { kind: 'reject', reason: 'context-cancelled' }, '410 before 428');
  t.deepEqual(decideDelete(cancelled, ifMatch('"2"')), { kind: 'reject', reason: 'context-cancelled' });
});

test('open but past expiresAt: PUT/DELETE → 410 context-expired; GET reads it', (t) => {
  t.deepEqual(decidePut(expired, ifMatch('"1"'), body(ACTION_A), true), { kind: 'reject', reason: 'context-expired' });
  t.deepEqual(decideDelete(expired, ifMatch('"1"')), { kind: 'reject', reason: 'context-expired' });
  t.deepEqual(decideGet(expired, {}), { kind: 'ok' });
  t.deepEqual(decideGet(expired, ifNoneMatch('"1"')), { kind: 'ok' }, 'expiry changes the representation, so the old tag no longer matches');
});

test('body problems come after 428 and before replay and 412', (t) => {
  t.deepEqual(decidePut(open, {}, { kind: 'unsupported-media-type', mediaType: 'text/plain' }, true), {
    kind: 'reject',
    reason: 'precondition-required',
  });
  t.like(decidePut(open, ifMatch('"9"'), { kind: 'malformed', detail: 'bad' }, true), { reason: 'malformed-body', detail: 'bad' });
  t.like(decidePut(open, ifMatch('"9"'), { kind: 'missing' }, true), { reason: 'malformed-body' });
  t.like(decidePut(executedA, ifMatch('"9"'), { kind: 'unsupported-media-type', mediaType: 'text/plain' }, true), {
    reason: 'unsupported-media-type',
  });
  t.like(decidePut(open, ifMatch('"1"'), { kind: 'too-large', limit: 10 }, true), { reason: 'payload-too-large' });
  t.like(decidePut(undefined, ifNoneMatch('*'), { kind: 'malformed', detail: 'bad' }, true), { reason: 'malformed-body' });
});

test('the strong validator changes when a context expires', (t) => {
  t.deepEqual(contextEntityTag(open), { weak: false, opaque: '1' });
  t.deepEqual(contextEntityTag(expired), { weak: false, opaque: '1-expired' });
});
