// Rows on Idempotency-Key: the keyed one-shot POST and a malformed key.
import { randomUUID } from 'node:crypto';
import { check, describe, expectProblem, expectReplayed, expectStatus } from './expect.ts';
import { actionBody, otherBody } from './steps.ts';
import type { Row } from './types.ts';

export const keyedRow: Row = {
  id: 'idempotency-key',
  name: (kit) =>
    'POST /contexts with Idempotency-Key and the action → 201 (or 202); repeated → the same answer, Idempotent-Replayed: true; ' +
    `the same key with another body → 422 problem+json${kit.weak ? ' (weak: no --other-action)' : ''}`,
  async run(kit) {
    const headers = { 'Idempotency-Key': randomUUID() };
    const path = kit.client.contextPath();
    const body = actionBody(kit);
    const first = await kit.client.request('POST', path, { headers, body });
    expectStatus(first, [201, 202], 'the keyed POST');
    const again = await kit.client.request('POST', path, { headers, body });
    // A one-shot asynchronous action replays its 202 while processing, then the final 200.
    expectStatus(again, first.status === 202 ? [202, 200] : [first.status], 'the repeated keyed POST');
    expectReplayed(again, 'the repeated keyed POST');
    if (first.status === 201) {
      check(again.bytes.equals(first.bytes), `the repeated keyed POST: expected the first answer's body byte for byte, got ${describe(again)} after ${describe(first)}`);
    }
    const reused = await kit.client.request('POST', path, { headers, body: otherBody(kit) });
    expectProblem(reused, 422, 'the same key with another body');
  },
};

export const malformedKeyRow: Row = {
  id: 'malformed-key',
  name: () => 'POST /contexts with a malformed Idempotency-Key (300 characters) → 400 problem+json',
  async run(kit) {
    const reply = await kit.client.request('POST', kit.client.contextPath(), { headers: { 'Idempotency-Key': 'x'.repeat(300) } });
    expectProblem(reply, 400, 'POST with a 300-character key');
  },
};
