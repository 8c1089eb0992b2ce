// Row: reads carry a strong validator and honour If-None-Match.
import { check, describe, expectStatus, strongETag } from './expect.ts';
import { createContext } from './steps.ts';
import type { Row } from './types.ts';

export const readRow: Row = {
  id: 'read',
  name: () => 'GET → 200 with a strong ETag; GET with If-None-Match: <that ETag> → 304, no body, the same ETag',
  async run(kit) {
    const created = await createContext(kit);
    const read = await kit.client.request('GET', created.path);
    expectStatus(read, [200], 'GET');
    const tag = strongETag(read, 'GET');
    const again = await kit.client.request('GET', created.path, { headers: { 'If-None-Match': tag } });
    expectStatus(again, [304], `GET with If-None-Match: ${tag}`);
    check(again.bytes.length === 0, `the 304: expected no body, got ${describe(again)}`);
    const same = again.headers.get('etag');
    check(same === tag, `the 304: expected ETag ${tag}, got ${same ?? 'no ETag header'}`);
  },
};
