// Rows on refusals: 412 with the current ETag, 428, 404 before 412, 410 after a cancel.
import { randomUUID } from 'node:crypto';
import { check, expectProblem, expectStatus } from './expect.ts';
import { actionBody, createContext, executedContext, otherBody } from './steps.ts';
import type { Row } from './types.ts';

const WEAK = ' (weak: no --other-action)';

export const staleRow: Row = {
  id: 'stale-if-match',
  name: (kit) => `PUT, stale If-Match, a different action → 412 problem+json with the current ETag${kit.weak ? WEAK : ''}`,
  async run(kit) {
    const { created, reply: executed } = await executedContext(kit);
    const reply = await kit.client.request('PUT', created.path, { headers: { 'If-Match': created.etag }, body: otherBody(kit) });
    expectProblem(reply, 412, 'PUT with a stale If-Match and a different body');
    const tag = reply.headers.get('etag');
    check(tag !== null, 'the 412: expected an ETag header naming the current tag, got none');
    if (tag === executed.headers.get('etag')) return;
    // An asynchronous action's tag may have moved on since: compare with a fresh read.
    const read = await kit.client.request('GET', created.path);
    expectStatus(read, [200], 'GET after the 412');
    const current = read.headers.get('etag');
    check(tag === current, `the 412: expected ETag ${current ?? '(none)'} (the current one), got ${tag}`);
  },
};

export const preconditionRequiredRow: Row = {
  id: 'precondition-required',
  name: () => 'PUT with neither If-Match nor If-None-Match → 428 problem+json, no effect',
  async run(kit) {
    const created = await createContext(kit);
    const reply = await kit.client.request('PUT', created.path, { body: actionBody(kit) });
    expectProblem(reply, 428, 'PUT without a precondition');
    const read = await kit.client.request('GET', created.path);
    expectStatus(read, [200], 'GET after the 428');
    check(read.headers.get('etag') === created.etag, `GET after the 428: expected the ETag unchanged (${created.etag}), got ${read.headers.get('etag') ?? '(none)'}`);
  },
};

export const notFoundRow: Row = {
  id: 'not-found',
  name: () => 'unknown context: PUT with If-Match: "1" → 404 (not 412), GET → 404, problem+json',
  async run(kit) {
    const path = kit.client.contextPath(randomUUID());
    const put = await kit.client.request('PUT', path, { headers: { 'If-Match': '"1"' }, body: actionBody(kit) });
    expectProblem(put, 404, 'PUT with If-Match on an unknown id');
    const read = await kit.client.request('GET', path);
    expectProblem(read, 404, 'GET of an unknown id');
  },
};

export const cancelRow: Row = {
  id: 'cancel-gone',
  name: () => 'DELETE with the current If-Match → 204; then GET and PUT → 410 Gone, problem+json',
  async run(kit) {
    const created = await createContext(kit);
    const cancel = await kit.client.request('DELETE', created.path, { headers: { 'If-Match': created.etag } });
    expectStatus(cancel, [204], 'DELETE with If-Match');
    const read = await kit.client.request('GET', created.path);
    expectProblem(read, 410, 'GET of a cancelled context');
    const put = await kit.client.request('PUT', created.path, { headers: { 'If-Match': created.etag }, body: actionBody(kit) });
    expectProblem(put, 410, 'PUT on a cancelled context');
  },
};
