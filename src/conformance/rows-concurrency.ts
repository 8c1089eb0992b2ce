// Row: N identical PUTs at once on one open context have exactly one effect.
import { check, describe, expectStatus, isReplayed, isSuccess } from './expect.ts';
import type { Reply } from './http.ts';
import { actionBody, createContext, versionOf } from './steps.ts';
import type { Row } from './types.ts';

function tally(values: readonly string[]): string {
  const counts = new Map<string, number>();
  for (const value of values) counts.set(value, (counts.get(value) ?? 0) + 1);
  return [...counts].map(([value, count]) => `${count} × ${value}`).join(', ');
}

/** Answers of one status must carry one body: the recorded one. */
function sameBodies(replies: readonly Reply[]): string | undefined {
  const byStatus = new Map<number, Reply>();
  for (const reply of replies) {
    const first = byStatus.get(reply.status);
    if (first === undefined) byStatus.set(reply.status, reply);
    else if (!first.bytes.equals(reply.bytes)) return `two different ${reply.status} bodies: ${describe(first)} and ${describe(reply)}`;
  }
  return undefined;
}

export const concurrencyRow: Row = {
  id: 'concurrency',
  name: (kit) => `${kit.concurrency} identical PUTs at once → one effect: all 2xx, exactly one not replayed, equal bodies, version +1`,
  async run(kit) {
    const created = await createContext(kit);
    check(created.version !== undefined, `POST /contexts: expected a numeric "version" in the body, got ${describe(created.reply)}`);
    const body = actionBody(kit);
    const settled = await Promise.allSettled(
      Array.from({ length: kit.concurrency }, () => kit.client.request('PUT', created.path, { headers: { 'If-Match': created.etag }, body })),
    );
    const errors = settled.flatMap((outcome) => (outcome.status === 'rejected' ? [outcome.reason instanceof Error ? outcome.reason.message : String(outcome.reason)] : []));
    check(errors.length === 0, `${errors.length} of ${kit.concurrency} PUTs got no answer: ${errors[0] ?? ''}`);
    const replies = settled.flatMap((outcome) => (outcome.status === 'fulfilled' ? [outcome.value] : []));
    const statuses = replies.map((reply) => String(reply.status));
    check(replies.every((reply) => isSuccess(reply.status)), `expected ${kit.concurrency} × 2xx, got ${tally(statuses)}`);
    const originals = replies.filter((reply) => !isReplayed(reply));
    check(originals.length === 1, `expected exactly one answer without Idempotent-Replayed: true, got ${originals.length} (${tally(statuses)})`);
    const differing = sameBodies(replies);
    check(differing === undefined, `expected equal bodies, got ${differing ?? ''}`);
    const original = originals[0];
    check(original !== undefined, 'no original answer');
    const expected = created.version + 1;
    check(versionOf(original) === expected, `the executing answer: expected "version" ${expected}, got ${JSON.stringify(versionOf(original)) ?? 'none'}`);
    const read = await kit.client.request('GET', created.path);
    expectStatus(read, [200], 'GET afterwards');
    const version = versionOf(read);
    // An asynchronous action (202) may have been moved on by its worker since; a synchronous one may not.
    const allowed = original.status === 202 ? version !== undefined && version >= expected : version === expected;
    check(allowed, `GET afterwards: expected "version" ${expected}${original.status === 202 ? ' or more' : ''} (created ${created.version}, one change), got ${JSON.stringify(version) ?? 'none'}`);
  },
};
