// Rows on the happy path: create, execute with If-Match, replay, create-and-execute by PUT.
import { randomUUID } from 'node:crypto';
import { check, describe, expectReplayed, expectStatus, member, strongETag } from './expect.ts';
import { actionBody, createContext, executedContext } from './steps.ts';
import type { Row } from './types.ts';

export const createRow: Row = {
  id: 'create',
  name: () => 'POST /contexts → 201, Location, strong ETag, state "open"',
  async run(kit) {
    const reply = await kit.client.request('POST', kit.client.contextPath());
    expectStatus(reply, [201], 'POST /contexts');
    check(reply.headers.get('location') !== null, `POST /contexts: expected a Location header, got none (${describe(reply)})`);
    strongETag(reply, 'POST /contexts');
    const state = member(reply.json, 'state');
    check(state === 'open', `POST /contexts: expected a JSON body with "state": "open", got ${reply.json === undefined ? describe(reply) : `"state": ${JSON.stringify(state) ?? 'absent'}`}`);
  },
};

export const executeRow: Row = {
  id: 'execute',
  name: () => 'PUT with If-Match: <current ETag> and the action → 200 (202 if asynchronous), a new strong ETag',
  async run(kit) {
    const created = await createContext(kit);
    const reply = await kit.client.request('PUT', created.path, { headers: { 'If-Match': created.etag }, body: actionBody(kit) });
    expectStatus(reply, [200, 202], 'PUT with If-Match');
    const tag = strongETag(reply, 'PUT with If-Match');
    check(tag !== created.etag, `PUT with If-Match: expected a new ETag, got the created one again (${tag})`);
  },
};

export const replayRow: Row = {
  id: 'replay',
  name: () => 'PUT repeated with the same action → 200 replay, Idempotent-Replayed: true, identical body',
  async run(kit) {
    const { created, reply: first, body } = await executedContext(kit);
    const again = await kit.client.request('PUT', created.path, { headers: { 'If-Match': created.etag }, body });
    // An asynchronous action replays its 202 while processing, then its final 200.
    expectStatus(again, first.status === 202 ? [202, 200] : [200], 'the repeated PUT');
    expectReplayed(again, 'the repeated PUT');
    if (first.status === 200) {
      check(again.bytes.equals(first.bytes), `the repeated PUT: expected the first answer's body byte for byte, got ${describe(again)} after ${describe(first)}`);
    }
  },
};

export const createByPutRow: Row = {
  id: 'create-by-put',
  name: () => 'PUT /contexts/{new id} with If-None-Match: * → 201 (or 202) + Location; repeated → replay, Idempotent-Replayed: true',
  async run(kit) {
    const path = kit.client.contextPath(randomUUID());
    const body = actionBody(kit);
    const first = await kit.client.request('PUT', path, { headers: { 'If-None-Match': '*' }, body });
    expectStatus(first, [201, 202], 'PUT with If-None-Match: *');
    check(first.headers.get('location') !== null, `PUT with If-None-Match: *: expected a Location header, got none (${describe(first)})`);
    const again = await kit.client.request('PUT', path, { headers: { 'If-None-Match': '*' }, body });
    expectStatus(again, first.status === 202 ? [202, 200] : [200], 'the repeated PUT with If-None-Match: *');
    expectReplayed(again, 'the repeated PUT with If-None-Match: *');
  },
};
